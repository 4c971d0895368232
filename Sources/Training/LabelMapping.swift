import Anatomy
import ImagingCore
import NeuralEngine
import Segmentation

/// How one case's label-map values become the network's targets, and what the case annotates,
/// in the output channels of a model plan (conventions of docs/losses.md):
///
/// - value 0 → channel 0 (background: "none of the annotated classes");
/// - a value naming one class → that class's channel; a class the plan does not output → 0
///   (for the model, every class it does not output is background);
/// - a value naming several classes (a super label) → target `C + j`, where `superLabels[j]` is
///   the set of their channels (members the plan does not output contribute channel 0); a set
///   that collapses to one channel becomes that channel;
/// - presence `k[c]` (c ≥ 1) is true when the class is in the sidecar's `present` list, **or when
///   it is not a class of the case's region**: a calf muscle cannot occur in a thigh scan, so its
///   absence there is known. Background's presence follows `ImageLabelInfo.partial` (true only
///   when every foreground channel is annotated), so a fully labelled thigh case is a fully
///   labelled image for a union model;
/// - `scoredChannels`: the channels validation Dice is computed for: present classes of the
///   case's region that the plan allows for that region and that are not inside a super label
///   (a super label says only "one of these", so its members cannot be scored one by one).
public struct LabelMapping: Sendable, Equatable {
    /// Number of output channels C.
    public let channels: Int
    /// Label-map value → target value (channel, or C + j for super label j).
    public let targets: [Int: Int32]
    /// Presence and super-label table for the losses.
    public let info: ImageLabelInfo
    /// Channels scored by validation Dice for this case.
    public let scoredChannels: [Int]

    /// Resolves `sidecar` (already validated against `catalog`) for `plan`.
    public init(sidecar: CaseLabels, plan: ModelPlan, catalog: LabelCatalog) {
        let c = plan.outputs.count
        channels = c
        func channel(of name: String) -> Int {
            guard let cls = catalog.class(named: name) else { return 0 }
            return plan.channel(ofID: cls.id) ?? 0
        }
        var targets: [Int: Int32] = [0: 0]
        var superSets: [[Int]] = []
        var insideSuper = Set<Int>()
        for (value, target) in sidecar.labels.sorted(by: { $0.key < $1.key }) {
            switch target {
            case .single(let name):
                targets[value] = Int32(channel(of: name))
            case .superLabel(let names):
                let set = Array(Set(names.map(channel(of:)))).sorted()
                insideSuper.formUnion(set)
                if set.count == 1 {
                    targets[value] = Int32(set[0])
                } else if let j = superSets.firstIndex(of: set) {
                    targets[value] = Int32(c + j)
                } else {
                    superSets.append(set)
                    targets[value] = Int32(c + superSets.count - 1)
                }
            }
        }
        self.targets = targets
        let present = Set(sidecar.present)
        var annotated: [Int] = []
        var scored: [Int] = []
        let allowed = Set(plan.regions[sidecar.region.rawValue]?.classIDs ?? [])
        for (ch, out) in plan.outputs.enumerated() where ch > 0 {
            guard let cls = catalog.class(id: out.id) else { continue }
            let inRegion = cls.regions.contains(sidecar.region)
            if present.contains(cls.name) || !inRegion { annotated.append(ch) }
            if present.contains(cls.name), inRegion, allowed.contains(out.id), !insideSuper.contains(ch) { scored.append(ch) }
        }
        info = ImageLabelInfo.partial(channels: c, annotatedForeground: annotated, superLabels: superSets)
        scoredChannels = scored
    }

    /// Maps a label map's values to targets. Throws `training_data_invalid` naming the first
    /// value the sidecar does not list.
    public func apply(_ labels: LabelVolume, source: String) throws(ImagingError) -> LabelVolume {
        let maxValue = Int(labels.data.max() ?? 0)
        let minValue = Int(labels.data.min() ?? 0)
        guard minValue >= 0 else {
            throw ImagingError(.trainingDataInvalid, input: source, reason: "the label map holds the negative value \(minValue)",
                               remedy: "label values are 0 (background) and the values case.json lists")
        }
        var lut = [Int32](repeating: -1, count: maxValue + 1)
        for (v, t) in targets where v <= maxValue { lut[v] = t }
        var out = labels.map { _ in Int32(0) }
        var missing: Int?
        lut.withUnsafeBufferPointer { lut in
            labels.data.withUnsafeBufferPointer { src in
                out.data.withUnsafeMutableBufferPointer { dst in
                    for i in 0..<src.count {
                        let t = lut[Int(src[i])]
                        if t < 0 { missing = Int(src[i]); return }
                        dst[i] = t
                    }
                }
            }
        }
        if let missing {
            throw ImagingError(.trainingDataInvalid, input: source, reason: "the label map holds the value \(missing), which case.json does not list",
                               remedy: "add the value to case.json's \"labels\" (or set those voxels to 0)")
        }
        return out
    }
}
