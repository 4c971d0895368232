import Anatomy
import Foundation
import ImagingCore
import NeuralEngine
import Resampling
import Segmentation

/// Which cases of a frozen split an evaluation scores.
public enum EvaluationSide: String, CaseIterable, Codable, Sendable {
    case validation, train, all
}

/// How the ground truth comes back to the native grid in a resolution-ceiling evaluation.
public enum GroundTruthReturn: String, CaseIterable, Codable, Sendable {
    /// Nearest neighbour: the path `Validator` takes with the network's argmax.
    case nearest
    /// One-hot labels interpolated trilinearly, then the argmax: `Segmenter`'s path
    /// (`NativeArgmax.labels` on certain probabilities).
    case trilinear
}

/// Scores a model, or the ground truth itself, on the cases of a data folder with its frozen
/// split, without training (`segvol validate`, docs/training.md "Evaluating a model").
///
/// The network is scored exactly as a training run's validation scores it (`Validator`), so the
/// numbers compare with metrics.json. The ground truth "prediction" is the case's training
/// target: the native label map brought to the profile grid (nearest, what the network learns),
/// cut to the input window (background outside), and brought back to the native grid. Its Dice
/// and volume errors are the resolution ceiling of the plan's profiles and input size: no
/// network trained on those targets scores better on average.
public enum Evaluation {
    /// The cases on `side` of the split at `splitPath`, prepared for `plan` (through the slice
    /// cache when `cacheDirectory` is given), with their native targets and truth. The split
    /// is read, never written: subjects it does not know are left out and listed in `skipped`,
    /// as are cases of regions the plan does not cover. Throws `split_invalid` when the file is
    /// missing or unreadable.
    public static func loadCases(_ cases: [TrainingCase], plan: ModelPlan, catalog: LabelCatalog, splitPath: String,
                                 cacheDirectory: String?, side: EvaluationSide) throws(ImagingError)
        -> (cases: [ValidationCase], skipped: [String])
    {
        guard let split = try DataSplit.read(path: splitPath) else {
            throw ImagingError(.splitInvalid, input: splitPath, reason: "there is no split file",
                               remedy: "name the data's frozen split.json with --split (a training run writes DATA/split.json)")
        }
        var out: [ValidationCase] = []
        var skipped: [String] = []
        for c in cases {
            guard plan.regions[c.labels.region.rawValue] != nil else {
                skipped.append("\(c.name): region \(c.labels.region.rawValue) is not in the plan")
                continue
            }
            guard let s = split.side(of: c.labels.subject) else {
                skipped.append("\(c.name): subject \(c.labels.subject) is not in the split")
                continue
            }
            switch (side, s) {
            case (.validation, .train), (.train, .validation): continue
            default: break
            }
            // Whole profile slices, as inference and the training loop's validation see them: a
            // plan-size centre crop would score the outer parts of a wide (bilateral) slice as
            // background.
            let (prepared, _) = try CaseLoader.prepare(c, plan: plan, catalog: catalog, cacheDirectory: cacheDirectory,
                                                       window: .covering(maxPixels: WindowPolicy.defaultMaxPixels))
            let native = try CaseLoader.readNativeTargets(c, plan: plan, catalog: catalog, imageGrid: prepared.transform.sourceGrid)
            out.append(ValidationCase(prepared: prepared, nativeTargets: native, truth: c.truthPath.flatMap(CaseTruth.read)))
        }
        return (out, skipped)
    }

    /// The network's scores: `Validator.evaluate`, the numbers a training run reports.
    public static func evaluate(net: UNet, cases: [ValidationCase], plan: ModelPlan, batch: Int = 8) -> ValidationResult {
        Validator.evaluate(net: net, cases: cases, plan: plan, batch: batch)
    }

    /// The ground truth's scores (the resolution ceiling). Volume errors are kept for the
    /// classes the case annotates (its scored channels) only: a partially labelled case's
    /// targets hold nothing of the others, which would read as −100 %.
    public static func evaluateGroundTruth(cases: [ValidationCase], plan: ModelPlan, back: GroundTruthReturn) -> ValidationResult {
        var scores: [CaseScore] = []
        for v in cases {
            var s = Validator.score(predicted: groundTruthNative(v.prepared, plan: plan, back: back), case: v, plan: plan)
            let annotated = Set(v.prepared.scoredChannels.map { plan.outputs[$0].name })
            s.volumes = s.volumes.filter { annotated.contains($0.key) }
            scores.append(s)
        }
        return Validator.summarize(scores)
    }

    /// A case's training targets placed on the profile grid (output channels; background outside
    /// the input window; super labels, which name no single channel, as background).
    public static func groundTruthProfile(_ p: PreparedCase, plan: ModelPlan) -> LabelVolume {
        let grid = p.transform.targetGrid
        var out = LabelVolume(grid: grid, repeating: 0)
        let hw = p.window.height * p.window.width, c = Int32(plan.outputs.count)
        for k in 0..<p.sliceCount {
            p.window.forEachPlacedPixel(on: grid, slice: k) { px, voxel in
                let t = p.targets[k * hw + px]
                out.data[voxel] = t < c ? t : 0
            }
        }
        return out
    }

    /// The ground truth on the native grid after the way through the profile (output channels).
    public static func groundTruthNative(_ p: PreparedCase, plan: ModelPlan, back: GroundTruthReturn) -> LabelVolume {
        let profile = groundTruthProfile(p, plan: plan)
        switch back {
        case .nearest:
            return p.transform.toNative(profile)
        case .trilinear:
            // Certain (one-hot) probabilities over background and the region's classes, window
            // layout, through the Segmenter's fused trilinear argmax.
            let allowed = Validator.allowedChannels(plan, region: p.region)
            var slot = [Int](repeating: 0, count: plan.outputs.count)
            for (a, ch) in allowed.enumerated() { slot[ch] = a }
            let h = p.window.height, w = p.window.width, ca = allowed.count, grid = profile.grid
            var data = [Float](repeating: 0, count: p.sliceCount * h * w * ca)
            for k in 0..<p.sliceCount {
                for y in 0..<h {
                    for x in 0..<w {
                        let i = x + p.window.offsetX, j = y + p.window.offsetY
                        let inside = i >= 0 && i < grid.shape[0] && j >= 0 && j < grid.shape[1]
                        let ch = inside ? Int(profile.data[grid.offset(i, j, k)]) : 0
                        data[((k * h + y) * w + x) * ca + slot[ch]] = 1
                    }
                }
            }
            let ids = allowed.map { Int32(plan.outputs[$0].id) }
            let probs = WindowProbabilities(slices: p.sliceCount, height: h, width: w, channelIDs: ids, data: data)
            var native = NativeArgmax.labels(probs, window: p.window, transform: p.transform)
            var channelOfID: [Int32: Int32] = [:]
            for ch in allowed { channelOfID[Int32(plan.outputs[ch].id)] = Int32(ch) }
            for n in native.data.indices { native.data[n] = channelOfID[native.data[n]] ?? 0 }
            return native
        }
    }
}
