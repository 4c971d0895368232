import Anatomy
import Foundation
import ImagingCore
import NIfTIIO
import Phantoms
@testable import Annotations

/// Small phantoms and annotation folders written in-test.
enum IntakeFixtures {
    static let catalog: LabelCatalog = try! LabelCatalog.load()

    /// 48×48×4 thigh phantoms (few rays: fast; exact volumes are not needed here).
    static func phantom(seed: UInt64) -> Phantom {
        try! PhantomGenerator.generate(PhantomRequest(region: .thigh, seed: seed, matrix: [48, 48], slices: 4, rays: 64), catalog: catalog)
    }
    static let first = phantom(seed: 1)

    /// A site with `annotations/` and `state/dataset/`; removed by `remove`.
    final class Site {
        let root = NSTemporaryDirectory() + "segvol-annotations-\(UUID().uuidString)"
        var annotations: String { root + "/annotations" }
        var outbox: String { root + "/outbox" }
        var store: DatasetStore { DatasetStore(root: root + "/state/dataset") }
        init() { try! FileManager.default.createDirectory(atPath: root + "/annotations/thigh", withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: root) }

        func intake(quiet: Duration = .zero) -> AnnotationIntake {
            AnnotationIntake(annotations: annotations, store: store, outbox: outbox, catalog: IntakeFixtures.catalog, quiet: quiet)
        }
    }

    /// Only the named classes of a catalog-id label map, as values 1, 2, … (the rest 0).
    static func family(_ labels: LabelVolume, _ names: [String]) -> (LabelVolume, [Int: LabelTarget]) {
        let ids = names.map { catalog.class(named: $0)!.id }
        let out = labels.map { v -> Int32 in ids.firstIndex(of: Int(v)).map { Int32($0 + 1) } ?? 0 }
        return (out, Dictionary(uniqueKeysWithValues: names.enumerated().map { ($0.offset + 1, LabelTarget.single($0.element)) }))
    }

    /// The sidecar an operator writes (region and dataset left to the folder).
    static func sidecar(subject: String, labels: [Int: LabelTarget], present: [String], job: String? = nil) -> [UInt8] {
        var object: [String: Any] = ["subject": subject, "present": present,
                                     "labels": Dictionary(uniqueKeysWithValues: labels.map { (String($0.key), $0.value.names.count == 1 ? $0.value.names[0] as Any : $0.value.names as Any) })]
        if let job { object["job"] = job }
        return Array(try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }

    /// Writes `annotations/thigh/<name>/` with the phantom's bone family annotated; `edit`
    /// changes the pieces before they are written.
    @discardableResult
    static func writeCase(_ site: Site, name: String, phantom: Phantom = first, subject: String = "site-001",
                          edit: (inout ImageVolume, inout LabelVolume, inout [Int: LabelTarget], inout [String]) -> Void = { _, _, _, _ in }) throws -> String {
        let folder = site.annotations + "/thigh/" + name
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var image = phantom.image
        var (labels, map) = family(phantom.labels, ["bone", "bone_marrow"])
        var present = ["bone", "bone_marrow"]
        edit(&image, &labels, &map, &present)
        try NIfTIWriter.writeImage(image, to: folder + "/image.nii.gz")
        try NIfTIWriter.writeLabels(labels, table: nil, to: folder + "/labels.nii.gz")
        try Data(sidecar(subject: subject, labels: map, present: present)).write(to: URL(fileURLWithPath: folder + "/case.json"))
        return folder
    }

    static func reason(_ folder: String) -> AnnotationFailureRecord? {
        FileManager.default.contents(atPath: folder + "/reason.json").flatMap { try? JSONDecoder().decode(AnnotationFailureRecord.self, from: $0) }
    }
}
