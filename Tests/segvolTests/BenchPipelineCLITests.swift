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
        // Each stage row holds one number per case; the total is the wall time, so positive.
        var rows: [String: [Double]] = [:]
        for stage in ["read", "preprocess", "inference", "to_native", "postprocess", "volumes", "write_labels", "write_csv", "write_qc", "outputs", "total"] {
            let row = try #require(lines.first { $0.hasPrefix(stage + " ") }, "no row \(stage)")
            let values = row.split(separator: " ").dropFirst().compactMap { Double($0) }
            #expect(values.count == 4, "row \(row)")
            if stage == "total" || stage == "inference" || stage == "outputs" { #expect(values.allSatisfy { $0 > 0 }, "row \(row)") }
            rows[stage] = values
        }
        // The output stages' wall time is part of the total, and at least the longest output stage.
        for c in 0..<4 {
            #expect(rows["outputs"]![c] < rows["total"]![c])
            #expect(rows["outputs"]![c] >= max(rows["write_labels"]![c], rows["volumes"]![c]))
        }
        #expect(lines.contains { $0.hasPrefix("model share") && $0.contains("%") })
        #expect(out.stdout.contains("done 2, failed 0"), "stdout: \(out.stdout)")
        let perHour = try #require(lines.first { $0.contains("scans/hour") })
        let figure = try #require(Double(perHour.split(separator: " ").last ?? ""))
        #expect(figure > 0)
        #expect(out.stdout.contains("p95"))
        #expect(out.stdout.contains("daemon RSS: idle"))
    }

    /// A random-weight design-size network (tiny here), labelled as such, with the fast stages
    /// checked against their reference twins in the binary; then the twins timed.
    @Test func randomPlanNetworkWithReferenceChecks() throws {
        let args = ["bench", "pipeline", "--matrix", "64", "--slices", "4", "--repeats", "1", "--scans", "0",
                    "--plan-width", "4", "--plan-size", "32"]
        let out = try SegmentCLITests.run(args + ["--check-references"])
        #expect(out.status == 0, "stderr: \(out.stderr)")
        let lines = out.stdout.split(separator: "\n").map(String.init)
        let model = try #require(lines.first { $0.hasPrefix("model: ") })
        #expect(model.contains("RANDOM WEIGHTS, TIMING ONLY") && model.contains("width 4") && model.contains("input 32×32"))
        #expect(model.contains("thigh 0.78 mm") && model.contains("abdomen 1.5 mm × 3.5 mm"))
        #expect(lines.filter { $0.hasPrefix("reference check") && $0.hasSuffix("identical to their reference twins") }.count == 4)
        #expect(lines.contains { $0.hasPrefix("model share") })
        let twins = try SegmentCLITests.run(args + ["--reference-stages"])
        #expect(twins.status == 0, "stderr: \(twins.stderr)")
        #expect(twins.stdout.contains("REFERENCE TWINS") && twins.stdout.contains("model share"))
    }
}
