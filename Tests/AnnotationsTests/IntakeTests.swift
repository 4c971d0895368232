import Anatomy
import DICOMIO
import Foundation
import ImagingCore
import NIfTIIO
import Testing
@testable import Annotations

@Suite struct IntakeTests {
    typealias F = IntakeFixtures

    @Test func goodCaseEntersTheStoreInTheTrainingFormat() throws {
        let site = F.Site()
        try F.writeCase(site, name: "scan-a")
        let report = try site.intake().run(sleep: { _ in })
        #expect(report.failed.isEmpty && report.waiting.isEmpty)
        let entry = try #require(report.accepted.first)
        #expect(entry.subject == "site-001" && entry.region == .thigh && entry.dataset == "site-thigh" && entry.source == "annotation")
        #expect(entry.present == ["bone", "bone_marrow"] && entry.warnings.isEmpty && entry.caseName == "scan-a")
        let stored = site.store.casesDirectory + "/" + entry.hash
        for f in ["image.nii.gz", "labels.nii.gz", "case.json", "entry.json"] {
            #expect(FileManager.default.fileExists(atPath: stored + "/" + f), "\(f) missing")
        }
        let sidecar = try CaseLabels.read(path: stored + "/case.json")
        try sidecar.validate(against: F.catalog)
        #expect(sidecar.region == .thigh && sidecar.source == "annotation" && sidecar.labels[1] == .single("bone"))
        let labels = try NIfTIReader.readLabels(path: stored + "/labels.nii.gz").0
        #expect(labels.data == F.family(F.first.labels, ["bone", "bone_marrow"]).0.data)
        let index = try JSONDecoder().decode(DatasetIndex.self, from: Data(contentsOf: URL(fileURLWithPath: site.store.indexPath)))
        #expect(index.cases == [entry])
        #expect(!FileManager.default.fileExists(atPath: site.annotations + "/thigh/scan-a"))
        #expect(FileManager.default.fileExists(atPath: site.annotations + "/accepted/scan-a/labels.nii.gz"))
    }

    /// One refused case per failure code: moved untouched to failed/<case>/ with reason.json.
    @Test(arguments: [
        ("values", "annotation_label_values"), ("unknown", "annotation_unknown_class"), ("shape", "annotation_geometry"),
        ("affine", "annotation_geometry"), ("empty", "annotation_empty"), ("nolabels", "annotation_incomplete"),
        ("nosidecar", "annotation_sidecar_invalid"), ("wrongregion", "annotation_sidecar_invalid"), ("symlink", "annotation_unsafe"),
        ("fifo", "annotation_unsafe"), ("nojob", "annotation_incomplete"),
    ])
    func badCaseIsRefusedWithItsCode(kind: String, code: String) throws {
        let site = F.Site()
        let folder = try F.writeCase(site, name: "bad-\(kind)") { image, labels, map, present in
            switch kind {
            case "values": map[2] = nil; present = ["bone"]
            case "unknown": map[1] = .single("bonez")
            case "shape": labels = LabelVolume(grid: Grid(shape: [48, 48, 3], affine: labels.grid.affine), repeating: 1)
            case "affine":
                var a = labels.grid.affine
                a.origin.x += 2
                labels.grid = Grid(shape: labels.grid.shape, affine: a)
            case "empty": labels = LabelVolume(grid: labels.grid, repeating: 0)
            default: break
            }
        }
        let fm = FileManager.default
        switch kind {
        case "nolabels": try fm.removeItem(atPath: folder + "/labels.nii.gz")
        case "nosidecar": try fm.removeItem(atPath: folder + "/case.json")
        case "wrongregion":
            try Data(#"{"subject":"s","region":"calf","labels":{"1":"bone"},"present":["bone"]}"#.utf8).write(to: URL(fileURLWithPath: folder + "/case.json"))
        case "symlink": try fm.createSymbolicLink(atPath: folder + "/extra.nii.gz", withDestinationPath: folder + "/image.nii.gz")
        case "fifo": #expect(mkfifo(folder + "/pipe", 0o600) == 0)
        case "nojob":
            try fm.removeItem(atPath: folder + "/image.nii.gz")
            try Data(F.sidecar(subject: "s", labels: [1: .single("bone")], present: ["bone"], job: "20261123-000000-abcd")).write(to: URL(fileURLWithPath: folder + "/case.json"))
        default: break
        }
        let labelsBefore = fm.contents(atPath: folder + "/labels.nii.gz")
        let report = try site.intake().run(sleep: { _ in })
        #expect(report.accepted.isEmpty)
        let failure = try #require(report.failed.first)
        #expect(failure.error.code.rawValue == code, "\(failure.error)")
        let moved = site.annotations + "/failed/bad-\(kind)"
        #expect(failure.movedTo == moved && !fm.fileExists(atPath: folder))
        let record = try #require(F.reason(moved))
        #expect(record.code == code && !record.message.isEmpty && !record.remedy.isEmpty && record.region == "thigh")
        #expect(fm.contents(atPath: moved + "/labels.nii.gz") == labelsBefore)
        #expect(try site.store.index().cases.isEmpty)
    }

    @Test func classDeclaredPresentButAbsentIsAWarningAndAccepted() throws {
        let site = F.Site()
        try F.writeCase(site, name: "absent") { _, labels, _, _ in
            labels = labels.map { $0 == 2 ? 0 : $0 }
        }
        let report = try site.intake().run(sleep: { _ in })
        let entry = try #require(report.accepted.first)
        #expect(entry.warnings.count == 1 && entry.warnings[0].contains("annotation_class_absent") && entry.warnings[0].contains("bone_marrow"))
        #expect(try site.store.index().cases.first?.warnings == entry.warnings)
    }

    @Test func duplicateIsRefusedEvenAsAnotherFileType() throws {
        let site = F.Site()
        try F.writeCase(site, name: "first")
        let firstEntry = try #require(try site.intake().run(sleep: { _ in }).accepted.first)
        // Same voxels, saved uncompressed under another name and subject: still a duplicate.
        let again = try F.writeCase(site, name: "again", subject: "other")
        let fm = FileManager.default
        let image = try NIfTIReader.readImage(path: again + "/image.nii.gz").image
        try fm.removeItem(atPath: again + "/image.nii.gz")
        try NIfTIWriter.writeImage(image, to: again + "/image.nii")
        let report = try site.intake().run(sleep: { _ in })
        #expect(report.accepted.isEmpty && report.failed.first?.error.code == .annotationDuplicate)
        #expect(F.reason(site.annotations + "/failed/again")?.message.contains(String(firstEntry.hash.prefix(12))) == true)
        // A corrected label map of the same image is a new case.
        try F.writeCase(site, name: "corrected") { _, labels, _, _ in labels.data[labels.data.firstIndex(of: 1)!] = 0 }
        #expect(try site.intake().run(sleep: { _ in }).accepted.count == 1)
        #expect(try site.store.index().cases.count == 2)
    }

    @Test func unsettledAndTemporaryFilesWait() throws {
        let site = F.Site()
        let copying = try F.writeCase(site, name: "copying")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: copying + "/image.nii.gz.part"))
        let changing = try F.writeCase(site, name: "changing", phantom: F.phantom(seed: 2), subject: "site-002")
        try Data("x".utf8).write(to: URL(fileURLWithPath: changing + "/.hidden"))
        // The folder changes during the quiet time: not taken this pass.
        let report = try site.intake().run(sleep: { _ in
            try? Data("more".utf8).write(to: URL(fileURLWithPath: changing + "/notes.txt"))
        })
        #expect(report.accepted.isEmpty && report.failed.isEmpty)
        #expect(Set(report.waiting) == ["thigh/copying", "thigh/changing"])
        try FileManager.default.removeItem(atPath: copying + "/image.nii.gz.part")
        let next = try site.intake().run(sleep: { _ in })
        #expect(next.accepted.count == 2 && next.failed.isEmpty)
    }

    @Test func jobReferenceAndDICOMImagesAreRead() throws {
        let site = F.Site()
        let fm = FileManager.default
        // A correction of segvol's own output: the image is outbox/<job>/image.nii.gz.
        try fm.createDirectory(atPath: site.outbox + "/job-1", withIntermediateDirectories: true)
        try NIfTIWriter.writeImage(F.first.image, to: site.outbox + "/job-1/image.nii.gz")
        let corrected = site.annotations + "/thigh/corrected"
        try fm.createDirectory(atPath: corrected, withIntermediateDirectories: true)
        let (labels, map) = F.family(F.first.labels, ["bone"])
        try NIfTIWriter.writeLabels(labels, table: nil, to: corrected + "/labels.nii.gz")
        try Data(F.sidecar(subject: "site-009", labels: map, present: ["bone"], job: "job-1")).write(to: URL(fileURLWithPath: corrected + "/case.json"))
        // A DICOM series as image/.
        let p2 = F.phantom(seed: 2)
        let dicom = try F.writeCase(site, name: "dicom", phantom: p2, subject: "site-002")
        try fm.removeItem(atPath: dicom + "/image.nii.gz")
        _ = try DICOMSeriesWriter.write(p2.image, metadata: p2.metadata, to: dicom + "/image")
        // A dotfile beside the series (macOS resource fork) does not disturb the read.
        try Data("not dicom".utf8).write(to: URL(fileURLWithPath: dicom + "/image/._IM0001.dcm"))
        let report = try site.intake().run(sleep: { _ in })
        #expect(report.failed.isEmpty, "\(report.failed.map(\.error))")
        let byName = Dictionary(uniqueKeysWithValues: report.accepted.map { ($0.caseName, $0) })
        #expect(byName["corrected"]?.source == "correction" && byName["corrected"]?.job == "job-1")
        #expect(byName["dicom"]?.source == "annotation")
    }
}
