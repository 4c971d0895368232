import Anatomy
import ImagingCore

/// A partially labelled dataset as the papers' sources were: which classes its annotators drew,
/// and how its label map encodes them. Applied to a phantom's full label map it gives that
/// dataset's label map and the case sidecar.
public struct PhantomDataset: Sendable, Equatable {
    public enum Rule: Sendable, Equatable {
        /// Every class of the region, value = catalog id.
        case full
        /// Only these classes (value = catalog id); everything else 0.
        case only([String])
        /// These classes drawn and present; every other labelled voxel inside the body drawn
        /// as IMAF, which is *not* present (the IMAF workaround).
        case tissue([String])
        /// Every class, but the listed ones merged into one super label of value `value`.
        case merged([String], value: Int)
    }

    public let name: String
    public let region: Region
    public let rule: Rule
    public let summary: String

    public static let all: [PhantomDataset] = [
        .init(name: "thigh-full", region: .thigh, rule: .full, summary: "every thigh class"),
        .init(name: "calf-full", region: .calf, rule: .full, summary: "every calf class"),
        .init(name: "abdomen-full", region: .abdomen, rule: .full, summary: "every abdomen class"),
        .init(name: "calf-muscle", region: .calf,
              rule: .only(["tibialis_anterior", "tibialis_posterior", "soleus", "gastrocnemius", "flexor_digitorum_longus",
                           "peroneus_longus", "extensor_digitorum_longus"]),
              summary: "the calf muscles only; bone, vessels and fat are background"),
        .init(name: "calf-tissue", region: .calf, rule: .tissue(["bone", "bone_marrow", "vessel", "subcutaneous_fat"]),
              summary: "bone, marrow, vessels and subcutaneous fat; the rest inside the fat drawn as IMAF, marked not present"),
        .init(name: "thigh-adductors-imaf", region: .thigh,
              rule: .merged(["adductor_magnus", "adductor_longus", "adductor_brevis", "imaf"], value: 200),
              summary: "every thigh class, with the adductors and IMAF merged into one super label (200)"),
        .init(name: "abdomen-liver", region: .abdomen, rule: .only(["liver"]), summary: "the liver only"),
        .init(name: "abdomen-spleen", region: .abdomen, rule: .only(["spleen"]), summary: "the spleen only"),
        .init(name: "abdomen-pancreas", region: .abdomen, rule: .only(["pancreas"]), summary: "the pancreas only"),
    ]

    /// The dataset with this name.
    public static func named(_ name: String) -> PhantomDataset? { all.first { $0.name == name } }

    /// The full dataset of a region.
    public static func full(_ region: Region) -> PhantomDataset { named("\(region.rawValue)-full")! }

    /// This dataset's label map and sidecar for a phantom's full labels (catalog ids).
    public func apply(to labels: LabelVolume, catalog: LabelCatalog, subject: String, visit: Int?) -> (LabelVolume, CaseLabels) {
        let regionClasses = catalog.classes(in: region)
        var map = [Int32](repeating: 0, count: catalog.largestID + 1)
        var targets: [Int: LabelTarget] = [:]
        var present: [String] = []
        switch rule {
        case .full:
            for c in regionClasses { map[c.id] = Int32(c.id); targets[c.id] = .single(c.name); present.append(c.name) }
        case .only(let names):
            for name in names {
                let c = catalog.class(named: name)!
                map[c.id] = Int32(c.id); targets[c.id] = .single(name); present.append(name)
            }
        case .tissue(let names):
            let imaf = catalog.class(named: "imaf")!
            for c in regionClasses { map[c.id] = Int32(imaf.id) }
            for name in names {
                let c = catalog.class(named: name)!
                map[c.id] = Int32(c.id); targets[c.id] = .single(name); present.append(name)
            }
            targets[imaf.id] = .single(imaf.name)
        case .merged(let members, let value):
            for c in regionClasses where !members.contains(c.name) {
                map[c.id] = Int32(c.id); targets[c.id] = .single(c.name); present.append(c.name)
            }
            for name in members { map[catalog.class(named: name)!.id] = Int32(value) }
            targets[value] = .superLabel(members)
            present += members
        }
        let mapped = labels.map { $0 >= 0 && Int($0) < map.count ? map[Int($0)] : 0 }
        let sidecar = CaseLabels(subject: subject, visit: visit, dataset: name, region: region, labels: targets,
                                 present: present.sorted { catalog.class(named: $0)!.id < catalog.class(named: $1)!.id })
        return (mapped, sidecar)
    }
}
