import Anatomy
import Foundation
import ImagingCore
import Phantoms
import Resampling
@testable import Segmentation

/// The shipped catalog (from the package's Config/).
let testCatalog: LabelCatalog = try! LabelCatalog.load(path: ConfigDirectory.sourceTreeDirectory + "/" + LabelCatalog.fileName)

/// A small phantom, fast in debug builds.
func smallPhantom(_ region: Region, seed: UInt64 = 7, bilateral: Bool = false, matrix: [Int] = [64, 64],
                  slices: Int? = 6, oblique: Bool? = false) throws -> Phantom {
    try PhantomGenerator.generate(
        PhantomRequest(region: region, seed: seed, bilateral: bilateral, matrix: matrix, slices: slices, oblique: oblique, rays: 64),
        catalog: testCatalog)
}

/// A plan over the whole catalog (every class an output) whose regions use `profiles`.
func unionPlan(inputSize: [Int], profiles: [Region: ResampleProfile] = [:], baseWidth: Int = 4, depth: Int = 2) -> ModelPlan {
    var outputs = [ModelPlan.OutputClass(id: 0, name: "background")]
    outputs += testCatalog.classes.map { ModelPlan.OutputClass(id: $0.id, name: $0.name) }
    var regions: [String: ModelPlan.RegionPlan] = [:]
    for region in Region.allCases {
        let profile = profiles[region] ?? [.thigh: .thigh, .calf: .calf, .abdomen: .abdomen][region]!
        regions[region.rawValue] = .init(profile: profile, normalization: region == .abdomen ? .ct : .mr,
                                         classIDs: testCatalog.classes(in: region).map(\.id))
    }
    return ModelPlan(architecture: .init(baseWidth: baseWidth, depth: depth), inputSize: inputSize, outputs: outputs,
                     regions: regions, loss: "xent_plus")
}

/// The smallest input size (a multiple of 16) whose window covers every profile slice of
/// `image` for `profile`, so nothing is cropped.
func coveringInputSize(_ grid: Grid, profile: ResampleProfile) throws -> [Int] {
    let t = try ProfileTransform(source: grid, profile: profile)
    let up = { (n: Int) in (n + 15) / 16 * 16 }
    return [up(t.targetGrid.shape[1]), up(t.targetGrid.shape[0])]
}

/// A classifier that knows the answer: the truth labels brought to the profile grid (nearest),
/// as logits `high` for the true class and 0 elsewhere. `vote` adds an extra logit to one class
/// everywhere (to test region restriction).
final class OracleClassifier: SliceClassifier {
    let plan: ModelPlan
    let truth: LabelVolume  // on the profile grid
    var vote: (id: Int, logit: Float)?
    var high: Float = 20
    var calls: [Range<Int>] = []
    var windows: [SliceWindow] = []

    init(plan: ModelPlan, nativeTruth: LabelVolume, profile: ResampleProfile) throws {
        self.plan = plan
        truth = try ProfileTransform(source: nativeTruth.grid, profile: profile).toProfile(nativeTruth)
    }

    var channelCount: Int { plan.outputs.count }

    func classify(_ batch: SliceBatch, into logits: UnsafeMutableBufferPointer<Float>) {
        calls.append(batch.slices)
        windows.append(batch.window)
        let c = channelCount, h = batch.height, w = batch.width, hw = h * w
        logits.update(repeating: 0)
        let nx = truth.shape[0], ny = truth.shape[1]
        for (b, k) in batch.slices.enumerated() {
            for y in 0..<h {
                for x in 0..<w {
                    let i = x + batch.window.offsetX, j = y + batch.window.offsetY
                    let label = (i >= 0 && i < nx && j >= 0 && j < ny) ? Int(truth[i, j, k]) : 0
                    let ch = plan.channel(ofID: label)!
                    logits[(b * c + ch) * hw + y * w + x] = high
                    if let vote { logits[(b * c + plan.channel(ofID: vote.id)!) * hw + y * w + x] += vote.logit }
                }
            }
        }
    }
}

/// A classifier with seeded random logits (for the fused/unfused comparison).
final class RandomClassifier: SliceClassifier {
    let channelCount: Int
    var state: UInt64
    init(channels: Int, seed: UInt64) {
        channelCount = channels
        state = seed
    }
    func classify(_ batch: SliceBatch, into logits: UnsafeMutableBufferPointer<Float>) {
        for n in logits.indices {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            logits[n] = Float(state >> 40) / Float(1 << 24) * 6 - 3
        }
    }
}

/// A fresh temporary folder.
func temporaryFolder(_ tag: String) -> String {
    let path = NSTemporaryDirectory() + "segvol-\(tag)-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
