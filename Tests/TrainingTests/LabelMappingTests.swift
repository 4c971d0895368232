import Anatomy
import ImagingCore
import NeuralEngine
import Segmentation
import Testing
@testable import Training

@Suite struct LabelMappingTests {
    let catalog = Fixtures.catalog
    func id(_ name: String) -> Int { catalog.class(named: name)!.id }

    /// A union plan: a few thigh classes, IMAF, and one calf class; not vastus_lateralis.
    var plan: ModelPlan {
        var p = Fixtures.thighPlan(classIDs: [id("adductor_magnus"), id("adductor_longus"), id("gracilis"), id("bone"), id("imaf")])
        p.outputs.append(.init(id: id("soleus"), name: "soleus"))
        return p
    }

    @Test func superLabelsPresenceAndUnmodelledClasses() throws {
        let p = plan
        #expect(p.outputs.map(\.name) == ["background", "adductor_magnus", "adductor_longus", "gracilis", "imaf", "bone", "soleus"])
        let sidecar = CaseLabels(subject: "s", dataset: "d", region: .thigh,
                                 labels: [6: .single("gracilis"), 12: .single("vastus_lateralis"), 42: .single("bone"),
                                          200: .superLabel(["adductor_magnus", "adductor_longus", "imaf"]),
                                          201: .superLabel(["vastus_medialis", "vastus_intermedius"])],
                                 present: ["gracilis", "vastus_lateralis", "adductor_magnus", "adductor_longus", "imaf"])
        try sidecar.validate(against: catalog)
        let m = LabelMapping(sidecar: sidecar, plan: p, catalog: catalog)
        let c = 7
        #expect(m.targets[0] == 0)
        #expect(m.targets[6] == 3)           // gracilis → its channel
        #expect(m.targets[12] == 0)          // vastus_lateralis is not an output: background for this model
        #expect(m.targets[42] == 5)          // bone
        #expect(m.targets[200] == Int32(c))  // first super label: C + 0
        #expect(m.info.superLabels == [[1, 2, 4]])
        #expect(m.targets[201] == 0)         // both members unmodelled: collapses to background
        // presence: gracilis, adductors, imaf present; bone drawn but not present; soleus is a calf class: known absent
        #expect(m.info.annotated == [false, true, true, true, true, false, true])
        // Dice: present thigh classes allowed for the thigh and not inside a super label → gracilis only
        #expect(m.scoredChannels == [3])
        let grid = Grid(shape: [5, 1, 1], affine: .identity)
        let mapped = try m.apply(LabelVolume(grid: grid, data: [0, 6, 12, 200, 42]), source: "t")
        #expect(mapped.data == [0, 3, 0, Int32(c), 5])
    }

    @Test func fullyLabelledCaseHasBackgroundPresence() {
        let p = Fixtures.thighPlan()
        let names = catalog.classes(in: .thigh).map(\.name)
        let sidecar = CaseLabels(subject: "s", dataset: "full", region: .thigh,
                                 labels: Dictionary(uniqueKeysWithValues: catalog.classes(in: .thigh).map { ($0.id, LabelTarget.single($0.name)) }),
                                 present: names)
        let m = LabelMapping(sidecar: sidecar, plan: p, catalog: catalog)
        #expect(m.info.annotated == [Bool](repeating: true, count: p.outputs.count))
        #expect(m.scoredChannels == Array(1..<p.outputs.count))
    }

    @Test func partialCaseLeavesAbsentClassesUnannotated() {
        let p = Fixtures.thighPlan(classIDs: [id("gracilis"), id("bone"), id("sartorius")])
        let sidecar = CaseLabels(subject: "s", dataset: "bone-only", region: .thigh, labels: [42: .single("bone")], present: ["bone"])
        let m = LabelMapping(sidecar: sidecar, plan: p, catalog: catalog)
        // outputs: background, gracilis, sartorius, bone
        #expect(m.info.annotated == [false, false, false, true])  // background not annotated in a partial image
        #expect(m.scoredChannels == [3])
    }

    @Test func unlistedValueIsRefused() {
        let sidecar = CaseLabels(subject: "s", dataset: "d", region: .thigh, labels: [42: .single("bone")], present: ["bone"])
        let m = LabelMapping(sidecar: sidecar, plan: Fixtures.thighPlan(), catalog: catalog)
        let grid = Grid(shape: [3, 1, 1], affine: .identity)
        #expect(throws: ImagingError.self) { try m.apply(LabelVolume(grid: grid, data: [0, 42, 7]), source: "t") }
        do {
            _ = try m.apply(LabelVolume(grid: grid, data: [0, 42, 7]), source: "t")
        } catch {
            #expect(error.code == .trainingDataInvalid && error.reason.contains("7"))
        }
    }
}
