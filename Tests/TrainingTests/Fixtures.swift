import Anatomy
import Foundation
import ImagingCore
import NIfTIIO
import Phantoms
import Resampling
import Segmentation
@testable import Training

/// Small phantom cases written in-test, and plans to train them with.
enum Fixtures {
    static let catalog: LabelCatalog = try! LabelCatalog.load()

    /// (seed, dataset) of the fixture cases: two fully labelled thigh subjects and one with the
    /// adductors + IMAF super label.
    static let specs: [(UInt64, String)] = [(1, "thigh-full"), (2, "thigh-full"), (3, "thigh-adductors-imaf")]

    /// The generated phantoms (once per test process; 48×48×4, few rays: fast, exactness not needed).
    static let phantoms: [Phantom] = specs.map { seed, _ in
        try! PhantomGenerator.generate(PhantomRequest(region: .thigh, seed: seed, matrix: [48, 48], slices: 4, rays: 64), catalog: catalog)
    }

    /// A fresh temporary folder.
    static func temporaryDirectory(_ tag: String) -> String {
        let path = NSTemporaryDirectory() + "segvol-training-\(tag)-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Removes a folder made by `temporaryDirectory` / `writeCases` (tests must leave no trace in /tmp).
    static func remove(_ paths: String...) {
        for p in paths { try? FileManager.default.removeItem(atPath: p) }
    }

    /// Writes the fixture cases as `segvol phantom` does; returns the data folder.
    static func writeCases(_ tag: String) throws -> String {
        let dir = temporaryDirectory(tag)
        for (phantom, spec) in zip(phantoms, specs) {
            let dataset = PhantomDataset.named(spec.1)!
            let folder = "\(dir)/\(phantom.request.subject)-v1"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try NIfTIWriter.writeImage(phantom.image, to: folder + "/image.nii.gz")
            let (labels, sidecar) = dataset.apply(to: phantom.labels, catalog: catalog, subject: phantom.request.subject, visit: 1)
            try NIfTIWriter.writeLabels(labels, table: nil, to: folder + "/labels.nii.gz")
            try Data(sidecar.jsonBytes()).write(to: URL(fileURLWithPath: folder + "/case.json"))
            try JSONEncoder().encode(phantom.truth).write(to: URL(fileURLWithPath: folder + "/truth.json"))
        }
        return dir
    }

    /// A thigh plan: every thigh class, coarse 4.5 mm profile so a 48-matrix phantom fits 48².
    static func thighPlan(width: Int = 4, depth: Int = 2, size: Int = 48, classIDs: [Int]? = nil) -> ModelPlan {
        let classes = catalog.classes(in: .thigh).filter { classIDs?.contains($0.id) ?? true }
        return ModelPlan(architecture: .init(baseWidth: width, depth: depth), inputSize: [size, size],
                         outputs: [.init(id: 0, name: "background")] + classes.map { .init(id: $0.id, name: $0.name) },
                         regions: ["thigh": .init(profile: ResampleProfile(inPlaneSpacing: 4.5), normalization: .mr,
                                                  classIDs: classes.map(\.id))],
                         loss: "xent")
    }
}
