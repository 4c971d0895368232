import Foundation
import ImagingCore
import NIfTIIO
import Testing
@testable import Spool

let corpus = packageRoot + "/../shared/corpus"
let corpusAvailable: Bool = {
    let ok = FileManager.default.fileExists(atPath: corpus + "/dicom/F10_mr_two_orientations_one_folder")
    if !ok { print("CorpusDropTests: \(corpus) not found; real-DICOM drop test skipped") }
    return ok
}()

extension DaemonSuite {
@Suite struct CorpusDropTests {
    /// Real DICOM drops through the daemon: a two-series folder becomes two scans (the documented
    /// policy), a non-volume fails with its reason, and the images match dcm2niix's geometry.
    @Test(.enabled(if: segvolBinary != nil && corpusAvailable), .timeLimit(.minutes(2)))
    func realDICOMDropsFollowTheMultiSeriesPolicy() throws {
        let site = DaemonSite()
        try FileManager.default.createDirectory(atPath: site.inbox("calf"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: site.inbox("thigh"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: corpus + "/dicom/F10_mr_two_orientations_one_folder", toPath: site.inbox("calf") + "/two")
        try FileManager.default.copyItem(atPath: corpus + "/dicom/F08_ct_not_a_volume", toPath: site.inbox("thigh") + "/flat")
        let serve = try site.serve(["--exit-when-idle"])
        #expect(waitExit(serve, 90) == 0)
        let store = site.store
        let failed = try #require(store.jobIDs(in: site.paths.failed).first)
        #expect(store.failureReason(failed)?.code == "not_a_volume")
        #expect(store.failureReason(failed)?.stage == "convert")
        let done = try #require(store.jobIDs(in: site.paths.outbox).first)
        let manifestData = try Data(contentsOf: URL(fileURLWithPath: site.paths.outbox + "/" + done + "/manifest.json"))
        let manifest = try #require(try JSONSerialization.jsonObject(with: manifestData) as? [String: Any])
        let scans = try #require(manifest["scans"] as? [[String: Any]])
        #expect(Set(scans.compactMap { $0["dir"] as? String }) == ["series202", "series501"])
        #expect(Set(scans.compactMap { $0["seriesNumber"] as? Int }) == [202, 501])
        #expect((manifest["inputs"] as? [[String: Any]])?.count == 4)
        for series in ["202", "501"] {
            let ours = try NIfTIReader.readImage(path: site.paths.outbox + "/" + done + "/series\(series)/image.nii.gz")
            let reference = try NIfTIReader.readImage(path: corpus + "/reference/F10_mr_two_orientations_one_folder/\(series)_.nii.gz")
            #expect(ours.image.grid.shape.reduce(1, *) == reference.image.grid.shape.reduce(1, *))
            // Same voxel volume (dcm2niix may store the other handedness: compare magnitudes).
            let a = abs(ours.image.grid.affine.determinant), b = abs(reference.image.grid.affine.determinant)
            #expect(abs(a - b) < 1e-3 * b)
        }
    }
}
}
