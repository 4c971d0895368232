import Anatomy
import Foundation
import ImagingCore
import Resampling
import Testing
@testable import Segmentation

@Suite struct ModelPlanTests {
    static let catalog = try! LabelCatalog.load()

    static func plan() -> ModelPlan {
        let calf = catalog.classes(in: .calf)
        var outputs = [ModelPlan.OutputClass(id: 0, name: "background")]
        outputs += calf.map { ModelPlan.OutputClass(id: $0.id, name: $0.name) }
        return ModelPlan(
            architecture: .init(baseWidth: 16, depth: 4), inputSize: [256, 256], outputs: outputs,
            regions: ["calf": .init(profile: .calf, normalization: .mr, classIDs: calf.map(\.id))],
            loss: "xent_plus + dice_log")
    }

    @Test func aConsistentPlanValidatesAndRoundTripsThroughJSON() throws {
        let plan = Self.plan()
        try plan.validate(against: Self.catalog)
        let data = try JSONEncoder().encode(plan)
        #expect(try JSONDecoder().decode(ModelPlan.self, from: data) == plan)
        #expect(plan.channel(ofID: 0) == 0)
        #expect(plan.channel(ofID: Self.catalog.classes(in: .calf)[2].id) == 3)
        #expect(plan.channel(ofID: 9999) == nil)
    }

    @Test func inconsistenciesAreNamed() {
        func reason(_ change: (inout ModelPlan) -> Void) -> String {
            var p = Self.plan()
            change(&p)
            do { try p.validate(against: Self.catalog); return "accepted" } catch { return error.reason }
        }
        #expect(reason { $0.outputs.swapAt(0, 1) }.contains("channel 0 must be background"))
        #expect(reason { $0.outputs[1].name = "biceps" }.contains("in the catalog"))
        #expect(reason { $0.outputs.append(.init(id: 198, name: "nothing")) }.contains("not in the label catalog"))
        #expect(reason { $0.inputSize = [250, 256] }.contains("divisible by 2^depth = 16"))
        #expect(reason { $0.regions["elbow"] = $0.regions["calf"] }.contains("unknown region 'elbow'"))
        #expect(reason { $0.regions["calf"]!.classIDs.append(Self.catalog.classes(in: .abdomen).first { !$0.regions.contains(.calf) }!.id) }.contains("does not output"))
        #expect(reason { $0.version = 2 }.contains("newer"))
    }
}
