import Anatomy
import Foundation
import ImagingCore
import NeuralEngine
import Resampling
import Segmentation

/// One column of the partial-label experiment (`segvol bench partial-labels`,
/// docs/partial-labels.md): which classifiers are trained, on which datasets, with which loss.
public struct BenchConfiguration: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// The union network as initialised (seeded), never trained: the floor of the table.
        case untrained
        /// One union-label-space classifier on every training dataset (Wong et al.'s generic).
        case generic
        /// One classifier per region, each on that region's fully labelled datasets only, each
        /// with its region's classes only (Wong et al.'s specific classifiers); the step budget
        /// is split between them, so the configuration sees as many slices as a generic one.
        case specific
        /// One thigh classifier on every thigh dataset (full + adductors/IMAF super label): the
        /// super-label comparison of Kemnitz et al., without partial-label background effects.
        case thigh
    }

    /// Column name and folder name (letters, digits, `-`, `_`, `.`).
    public var id: String
    public var kind: Kind
    /// Loss config string (losses.md); empty for `untrained`.
    public var loss: String

    public init(id: String, kind: Kind, loss: String) {
        self.id = id
        self.kind = kind
        self.loss = loss
    }

    /// The experiment's columns, in table order.
    public static let standard: [BenchConfiguration] = {
        var out = [BenchConfiguration(id: "untrained", kind: .untrained, loss: "")]
        for dice in ["", " + dice_log"] {
            for mode in ["base", "or", "plus"] {
                let suffix = dice.isEmpty ? "" : "-dlog"
                out.append(.init(id: "specific-\(mode)\(suffix)", kind: .specific, loss: "xent_\(mode)\(dice)"))
                out.append(.init(id: "generic-\(mode)\(suffix)", kind: .generic, loss: "xent_\(mode)\(dice)"))
            }
        }
        out.append(.init(id: "generic-marginal", kind: .generic, loss: "mce + mdice"))
        out.append(.init(id: "generic-marginal-excl", kind: .generic, loss: "mce + mdice + ece + edice"))
        out.append(.init(id: "thigh-super", kind: .thigh, loss: "xent_super"))
        out.append(.init(id: "thigh-naive", kind: .thigh, loss: "xent_super_naive"))
        return out
    }()

    /// A configuration named on the command line: a standard id, or `KIND:LOSS` (e.g.
    /// `generic:xent_plus + 0.1*dice_soft`), whose id is made from the loss.
    public static func parse(_ text: String) throws(ImagingError) -> BenchConfiguration {
        let t = text.trimmingCharacters(in: .whitespaces)
        if let c = standard.first(where: { $0.id == t }) { return c }
        let parts = t.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let kind = Kind(rawValue: parts[0].trimmingCharacters(in: .whitespaces)), kind != .untrained else {
            throw ImagingError(.benchConfigurationInvalid, input: t,
                               reason: "not a configuration id and not of the form generic:LOSS, specific:LOSS or thigh:LOSS",
                               remedy: "use one of \(standard.map(\.id).joined(separator: ", ")) or e.g. \"generic:xent_plus + dice_log\"")
        }
        let loss = parts[1].trimmingCharacters(in: .whitespaces)
        do { _ = try LossExpression.parse(loss) } catch {
            throw ImagingError(.benchConfigurationInvalid, input: t, reason: error.description,
                               remedy: "write the loss as in docs/losses.md")
        }
        let slug = loss.lowercased().map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." ? $0 : "-" }
        let id = "\(kind.rawValue)-" + String(slug).split(separator: "-").joined(separator: "-")
        return BenchConfiguration(id: id, kind: kind, loss: loss)
    }
}

/// The plans of the experiment: one union plan over the bench's regions and one plan per region
/// (the specific classifiers), all with the same architecture and region profiles.
public enum BenchPlans {
    /// Profile spacings that fit the phantoms' fields of view (thigh ~220 mm, calf ~190 mm,
    /// abdomen ~380 mm) into `size` pixels: Scripts/train_default_model.sh's 1.75 / 1.5 / 3.0 mm
    /// at 128, scaled by 128 / size.
    public static func regionPlan(_ region: Region, size: Int, classIDs: [Int]) -> ModelPlan.RegionPlan {
        let scale = 128 / Double(size)
        switch region {
        case .thigh: return .init(profile: ResampleProfile(inPlaneSpacing: 1.75 * scale), normalization: .mr, classIDs: classIDs)
        case .calf: return .init(profile: ResampleProfile(inPlaneSpacing: 1.5 * scale), normalization: .mr, classIDs: classIDs)
        case .abdomen:
            return .init(profile: ResampleProfile(inPlaneSpacing: 3.0 * scale, sliceSpacing: 3.5), normalization: .ct, classIDs: classIDs)
        }
    }

    /// Background plus every catalog class of `regions`, in id order.
    public static func plan(regions: [Region], catalog: LabelCatalog, width: Int, depth: Int, size: Int) -> ModelPlan {
        let classes = catalog.classes.filter { c in regions.contains { c.regions.contains($0) } }.sorted { $0.id < $1.id }
        var regionPlans: [String: ModelPlan.RegionPlan] = [:]
        for r in regions {
            regionPlans[r.rawValue] = regionPlan(r, size: size, classIDs: classes.filter { $0.regions.contains(r) }.map(\.id))
        }
        return ModelPlan(architecture: .init(baseWidth: width, depth: depth), inputSize: [size, size],
                         outputs: [.init(id: 0, name: "background")] + classes.map { .init(id: $0.id, name: $0.name) },
                         regions: regionPlans, loss: "")
    }
}
