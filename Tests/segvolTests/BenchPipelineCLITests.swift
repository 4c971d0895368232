import Foundation
import Testing

/// `segvol bench pipeline` at a tiny size: every stage row per case, and the daemon's figures.
@Suite struct BenchPipelineCLITests {
    @Test func tinyPipelineBenchmarkPrintsStagesAndThroughput() throws {
        let out = try SegmentCLITests.run(["bench", "pipeline", "--matrix", "64", "--slices", "4", "--repeats", "1", "--scans", "2"])
        #expect(out.status == 0, "stderr: \(out.stderr)")
        let lines = out.stdout.split(separator: "\n").map(String.init)
        let header = try #require(lines.first { $0.hasPrefix("stage (seconds)") })
        for name in ["thigh DICOM", "thigh NIfTI", "calf NIfTI", "abdomen NIfTI"] { #expect(header.contains(name)) }
        // Each stage row holds one number per case; the total is their sum, so positive.
        for stage in ["read", "preprocess", "inference", "to_native", "postprocess", "volumes", "write_labels", "write_csv", "write_qc", "total"] {
            let row = try #require(lines.first { $0.hasPrefix(stage + " ") }, "no row \(stage)")
            let values = row.split(separator: " ").dropFirst().compactMap { Double($0) }
            #expect(values.count == 4, "row \(row)")
            if stage == "total" || stage == "inference" { #expect(values.allSatisfy { $0 > 0 }, "row \(row)") }
        }
        #expect(lines.contains { $0.hasPrefix("model share") && $0.contains("%") })
        #expect(out.stdout.contains("done 2, failed 0"), "stdout: \(out.stdout)")
        let perHour = try #require(lines.first { $0.contains("scans/hour") })
        let figure = try #require(Double(perHour.split(separator: " ").last ?? ""))
        #expect(figure > 0)
        #expect(out.stdout.contains("p95"))
        #expect(out.stdout.contains("daemon RSS: idle"))
    }
}
