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
        // A four-slice series with one damaged slice (RescaleSlope "1e400"): the slice is skipped
        // with bad_rescale, so the rest has a gap; the operator's message says both.
        let staging = site.root + "/staging-onebad"
        try FileManager.default.copyItem(atPath: corpus + "/dicom/F03_mr_philips_cor_oblique_4slice", toPath: staging)
        try? FileManager.default.removeItem(atPath: staging + "/expected")
        let damaged = staging + "/IM-0001-0002-0001.dcm"
        let edit = Process()
        edit.executableURL = URL(fileURLWithPath: "/usr/bin/dcmodify")
        edit.arguments = ["-nb", "-i", "(0028,1053)=1e400", damaged]
        try edit.run()
        edit.waitUntilExit()
        let damagedBytes = try Data(contentsOf: URL(fileURLWithPath: damaged))
        try FileManager.default.moveItem(atPath: staging, toPath: site.inbox("thigh") + "/onebad")
        let serve = try site.serve(["--exit-when-idle"])
        #expect(waitExit(serve, 90) == 0)
        let store = site.store
        let failedIDs = store.jobIDs(in: site.paths.failed)
        let byCode = Dictionary(failedIDs.compactMap { id in store.failureReason(id).map { ($0.code, id) } }, uniquingKeysWith: { a, _ in a })
        #expect(Set(byCode.keys) == ["not_a_volume", "nonuniform_spacing"], "\(failedIDs.map { store.failureReason($0) })")
        let failed = try #require(byCode["not_a_volume"])
        #expect(store.failureReason(failed)?.stage == "convert")
        let gap = try #require(byCode["nonuniform_spacing"].flatMap { store.failureReason($0) })
        #expect(gap.message.contains("Nothing in the drop could be converted: slice gaps vary"), "\(gap.message)")
        #expect(gap.message.contains("Export the complete series"), "\(gap.message)")
        #expect(gap.message.contains("1 file(s) were skipped (bad_rescale ×1), e.g. IM-0001-0002-0001.dcm: RescaleSlope \"1e400\" is not a finite number."), "\(gap.message)")
        let kept = site.paths.failed + "/" + byCode["nonuniform_spacing"]! + "/drop/onebad/IM-0001-0002-0001.dcm"
        #expect(try Data(contentsOf: URL(fileURLWithPath: kept)) == damagedBytes, "the input is kept as dropped")
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
