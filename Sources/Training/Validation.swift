import Anatomy
import ImagingCore
import NeuralEngine
import Resampling
import Segmentation

/// A validation case: the prepared input plus what the scores are measured against.
public struct ValidationCase: Sendable {
    public var prepared: PreparedCase
    /// The case's targets on its native grid (`CaseLoader.readNativeTargets`).
    public var nativeTargets: LabelVolume
    /// Exact volumes (phantoms), when the case has `truth.json`.
    public var truth: CaseTruth?
}

/// Volume of one class in one case: predicted on the native grid against the exact truth.
public struct VolumeError: Codable, Sendable, Equatable {
    public var predictedML: Double
    public var exactML: Double
    /// predicted − exact (mL).
    public var errorML: Double
    /// (predicted − exact) / exact, in percent.
    public var errorPercent: Double

    public init(predictedML: Double, exactML: Double, errorML: Double, errorPercent: Double) {
        self.predictedML = predictedML
        self.exactML = exactML
        self.errorML = errorML
        self.errorPercent = errorPercent
    }

    enum CodingKeys: String, CodingKey { case predictedML, exactML, errorML, errorPercent }

    /// States and reports of earlier builds have no `errorML`: it is derived (predicted − exact).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        predictedML = try c.decode(Double.self, forKey: .predictedML)
        exactML = try c.decode(Double.self, forKey: .exactML)
        errorML = try c.decodeIfPresent(Double.self, forKey: .errorML) ?? predictedML - exactML
        errorPercent = try c.decode(Double.self, forKey: .errorPercent)
    }
}

/// The scores of one validation case.
public struct CaseScore: Codable, Sendable, Equatable {
    public var caseName: String
    public var subject: String
    public var dataset: String
    /// Class name → Dice, for the scored classes whose truth or prediction is non-empty.
    public var dice: [String: Double]
    /// Class name → volume error, for every class of the region that truth.json lists.
    public var volumes: [String: VolumeError]
}

/// Scores of one validation pass.
public struct ValidationResult: Codable, Sendable, Equatable {
    /// Class name → mean Dice over the cases that score it.
    public var classDice: [String: Double]
    /// Mean of `classDice` (each class weighs the same): the model-selection score.
    public var meanDice: Double
    /// Class name → median absolute volume error (%) over the cases with truth.
    public var classVolumeErrorPercent: [String: Double]
    /// Median absolute volume error (%) over every (case, class) pair with truth; nil without truth.
    public var medianAbsVolumeErrorPercent: Double?
    public var cases: [CaseScore]
}

/// Presence-aware validation on the native grid.
///
/// Per case: the network runs on every profile slice (eval mode), whole (validation cases are
/// prepared with a covering window, as inference is: `TrainingData.load`); the argmax over
/// background and the classes the plan allows for the case's region is placed on the profile
/// grid (outside the input window, which a plan-size case may have: background) and brought back to the native grid with
/// `ProfileTransform.toNative` (nearest). Argmax-then-nearest, not probabilities-then-argmax,
/// keeps validation memory at one label map per case (probabilities of ~20 channels on a native
/// 448² × 40 grid are ~1.3 GB); the two differ only in boundary voxels.
///
/// Dice of class c in a case is computed only when the case annotates c (`scoredChannels`, the
/// presence-aware rule): 2|P∩T| / (|P| + |T|) on the native grid; a class absent from both truth
/// and prediction is not scored (no evidence either way). Volume error: predicted voxel count ×
/// voxel volume against truth.json's exact volume, for every class of the region (truth.json
/// lists the full annotation, whatever the dataset annotates).
public enum Validator {
    /// Evaluates `net` on `cases`. Leaves the net in eval mode.
    public static func evaluate(net: UNet, cases: [ValidationCase], plan: ModelPlan, batch: Int) -> ValidationResult {
        var scores: [CaseScore] = []
        for c in cases { scores.append(score(net: net, case: c, plan: plan, batch: batch)) }
        return summarize(scores)
    }

    /// Channels the argmax may choose for a region: background plus the region plan's classes.
    static func allowedChannels(_ plan: ModelPlan, region: Region) -> [Int] {
        let ids = plan.regions[region.rawValue]?.classIDs ?? plan.outputs.map(\.id)
        return [0] + ids.compactMap { plan.channel(ofID: $0) }.filter { $0 > 0 }.sorted()
    }

    /// The label map (output channels) the network predicts for a prepared case, on the
    /// profile grid.
    public static func predictProfile(net: UNet, case p: PreparedCase, allowed: [Int], batch: Int) -> LabelVolume {
        net.mode = .eval
        let h = p.window.height, w = p.window.width, hw = h * w, classes = net.config.classes
        let grid = p.transform.targetGrid
        var out = LabelVolume(grid: grid, repeating: 0)
        var k0 = 0
        while k0 < p.sliceCount {
            let n = min(batch, p.sliceCount - k0)
            p.images.withUnsafeBufferPointer { img in
                net.forward(UnsafeBufferPointer(rebasing: img[(k0 * hw)..<((k0 + n) * hw)]), batch: n, height: h, width: w)
            }
            net.withLogits { logits in
                out.data.withUnsafeMutableBufferPointer { dst in
                    for b in 0..<n {
                        let base = b * classes * hw
                        p.window.forEachPlacedPixel(on: grid, slice: k0 + b) { px, voxel in
                            var best = allowed[0], bestValue = logits[base + best * hw + px]
                            for c in allowed.dropFirst() where logits[base + c * hw + px] > bestValue {
                                best = c
                                bestValue = logits[base + c * hw + px]
                            }
                            dst[voxel] = Int32(best)
                        }
                    }
                }
            }
            k0 += n
        }
        return out
    }

    static func score(net: UNet, case v: ValidationCase, plan: ModelPlan, batch: Int) -> CaseScore {
        let allowed = allowedChannels(plan, region: v.prepared.region)
        let native = v.prepared.transform.toNative(predictProfile(net: net, case: v.prepared, allowed: allowed, batch: batch))
        return score(predicted: native, case: v, plan: plan)
    }

    /// Scores a predicted label map (output channels, native grid) against the case.
    public static func score(predicted native: LabelVolume, case v: ValidationCase, plan: ModelPlan) -> CaseScore {
        let p = v.prepared
        let allowed = allowedChannels(plan, region: p.region)
        let c = plan.outputs.count
        // Confusion counts per channel: predicted, true, both (targets ≥ C are super labels).
        var predicted = [Int](repeating: 0, count: c), truth = predicted, both = predicted
        native.data.withUnsafeBufferPointer { pr in
            v.nativeTargets.data.withUnsafeBufferPointer { tr in
                for i in 0..<pr.count {
                    let a = Int(pr[i]), t = Int(tr[i])
                    predicted[a] += 1
                    if t >= 0 && t < c {
                        truth[t] += 1
                        if t == a { both[a] += 1 }
                    }
                }
            }
        }
        var dice: [String: Double] = [:]
        for ch in p.scoredChannels where predicted[ch] + truth[ch] > 0 {
            dice[plan.outputs[ch].name] = 2 * Double(both[ch]) / Double(predicted[ch] + truth[ch])
        }
        var volumes: [String: VolumeError] = [:]
        if let t = v.truth {
            let voxelML = v.nativeTargets.grid.voxelVolume / 1000
            for entry in t.classes where entry.exactML > 0 {
                guard let ch = plan.channel(ofID: entry.id), allowed.contains(ch) else { continue }
                let pred = Double(predicted[ch]) * voxelML
                volumes[entry.name] = VolumeError(predictedML: pred, exactML: entry.exactML, errorML: pred - entry.exactML,
                                                  errorPercent: 100 * (pred - entry.exactML) / entry.exactML)
            }
        }
        return CaseScore(caseName: p.caseName, subject: p.subject, dataset: p.dataset, dice: dice, volumes: volumes)
    }

    /// Aggregates case scores (means of Dice per class, medians of absolute volume errors).
    public static func summarize(_ scores: [CaseScore]) -> ValidationResult {
        var diceLists: [String: [Double]] = [:]
        var volumeLists: [String: [Double]] = [:]
        for s in scores {
            for (name, d) in s.dice.sorted(by: { $0.key < $1.key }) { diceLists[name, default: []].append(d) }
            for (name, e) in s.volumes { volumeLists[name, default: []].append(abs(e.errorPercent)) }
        }
        let classDice = diceLists.mapValues { $0.reduce(0, +) / Double($0.count) }
        // Summed in name order: dictionary order varies between processes, sums must not.
        let meanDice = classDice.isEmpty ? 0 : classDice.sorted { $0.key < $1.key }.map(\.value).reduce(0, +) / Double(classDice.count)
        let all = volumeLists.sorted { $0.key < $1.key }.flatMap(\.value)
        return ValidationResult(classDice: classDice, meanDice: meanDice, classVolumeErrorPercent: volumeLists.mapValues(median),
                                medianAbsVolumeErrorPercent: all.isEmpty ? nil : median(all), cases: scores)
    }
}

/// The median of a non-empty list (mean of the middle two for an even count).
func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
