import ArgumentParser
import DICOMIO
import Foundation
import ImagingCore
import NIfTIIO
import Resampling

/// `segvol bench io`: DICOM → NIfTI conversion and profile resampling of a 512×512×32 series,
/// side by side with dcm2niix on the same files when it is installed.
struct BenchIOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "io",
        abstract: "Time converting a 512×512×32 DICOM series and resampling it to a profile; compare with dcm2niix.",
        discussion: """
            Without --series, a synthetic 512×512×32 MR series (0.7 mm pixels, 4 mm slices) is \
            written with DCMTK into a temporary folder. Each figure is the median of --repeats runs. \
            dcm2niix (pip install dcm2niix) is run on the same folder with the same compression.
            """
    )

    @Option(help: "Use this DICOM series folder instead of a synthetic one.")
    var series: String?

    @Option(help: "Transfer syntax of the synthetic series: \(DICOMTransferSyntax.allCases.map(\.name).joined(separator: ", ")).")
    var transferSyntax: String = "explicit-le"

    @Option(help: "Repetitions per measurement (the median is printed).")
    var repeats: Int = 5

    @Option(help: "Profile to resample to.")
    var profile: String = "thigh"

    @Option(help: "Keep the synthetic series in this folder (to time other tools on it by hand).")
    var keepSeries: String?

    @Option(help: "The dcm2niix executable to compare with (searched on PATH by default).")
    var dcm2niix: String?

    @Flag(help: "Do not run dcm2niix even when it is installed.")
    var noCompare = false

    func validate() throws {
        guard DICOMTransferSyntax(name: transferSyntax) != nil else {
            throw ValidationError("unknown transfer syntax '\(transferSyntax)'")
        }
        guard ResampleProfile.named(profile) != nil else { throw ValidationError("unknown profile '\(profile)'") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
    }

    func run() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("segvol-bench-io-\(getpid())").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }

        let folder: String
        if let series {
            folder = series
        } else {
            folder = keepSeries ?? work + "/dicom"
            var options = DICOMSeriesWriter.Options()
            options.transferSyntax = DICOMTransferSyntax(name: transferSyntax)!
            try DICOMSeriesWriter.write(syntheticVolume(), metadata: syntheticMetadata(), to: folder, options: options)
            // Flush the new series to disk first: otherwise the first fsync of an output also
            // pays for writing back these dirty pages (ext4 commits them together).
            sync()
        }
        print("series: \(series ?? "synthetic 512×512×32 MR, \(transferSyntax)")")

        // segvol: read + convert + write .nii.gz, and read + write .nii.
        var scan: Scan?
        let readOnly = try median(repeats) { scan = try convertOne(folder) }
        let toGz = try median(repeats) { try NIfTIWriter.writeImage(convertOne(folder).image, to: work + "/out.nii.gz") }
        let toNii = try median(repeats) { try NIfTIWriter.writeImage(convertOne(folder).image, to: work + "/out.nii") }
        let chosen = ResampleProfile.named(profile)!
        let resample = try median(repeats) { _ = try toProfile(scan!.image, profile: chosen) }
        let (resampled, _) = try toProfile(scan!.image, profile: chosen)

        print("volume: \(scan!.image.shape.map(String.init).joined(separator: "×")) → \(profile) profile \(resampled.shape.map(String.init).joined(separator: "×"))")
        print("")
        print(row("measurement", "segvol ms", "dcm2niix ms", "ratio"))
        let peer = dcm2niixPath()
        let peerGz = try peer.map { p in try median(repeats) { try runPeer(p, folder, work + "/peer-gz", compress: true) } }
        let peerNii = try peer.map { p in try median(repeats) { try runPeer(p, folder, work + "/peer-nii", compress: false) } }
        print(row("DICOM → volume in memory", ms(readOnly), "", ""))
        print(row("DICOM → .nii (uncompressed)", ms(toNii), peerNii.map(ms) ?? "n/a", ratio(toNii, peerNii)))
        print(row("DICOM → .nii.gz", ms(toGz), peerGz.map(ms) ?? "n/a", ratio(toGz, peerGz)))
        let selfPath = URL(fileURLWithPath: CommandLine.arguments[0]).path
        if FileManager.default.isExecutableFile(atPath: selfPath) {
            let whole = try median(repeats) {
                try runTool(selfPath, ["convert", folder, "-o", work + "/process.nii.gz"], input: folder)
            }
            print(row("segvol convert process → .nii.gz", ms(whole), peerGz.map(ms) ?? "n/a", ratio(whole, peerGz)))
        }
        print(row("resample to \(profile) profile", ms(resample), "", ""))
        if peer == nil { print("\ndcm2niix not found: pip install dcm2niix (or --dcm2niix PATH) for the side-by-side ratio") }
        print("\nratio = segvol / dcm2niix (below 1.0: segvol is faster); medians of \(repeats) runs.")
        print("segvol's figures include fsync of every output (durable writes); dcm2niix does not fsync.")
    }

    private func convertOne(_ folder: String) throws -> Scan {
        let read = try DICOMReader.read(paths: [folder])
        guard let first = read.series.first else {
            throw ImagingError(.noDICOM, input: folder, reason: "no DICOM series found", remedy: "check the folder")
        }
        return try first.result.get()
    }

    private func runPeer(_ exe: String, _ folder: String, _ out: String, compress: Bool) throws {
        try? FileManager.default.removeItem(atPath: out)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try runTool(exe, ["-z", compress ? "y" : "n", "-b", "n", "-f", "bench", "-o", out, folder], input: folder)
    }

    /// Runs a converter as a whole process, as an operator would.
    private func runTool(_ exe: String, _ arguments: [String], input: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw ImagingError(.unreadable, input: input, reason: "\(exe) exited with \(p.terminationStatus)",
                               remedy: "run it by hand on the folder to see why")
        }
    }

    private func dcm2niixPath() -> String? {
        if noCompare { return nil }
        if let dcm2niix { return dcm2niix }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(dir)/dcm2niix"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// A smooth synthetic MR-like volume (an ellipse of "muscle" in "fat", a bias field, noise).
    private func syntheticVolume() -> ImageVolume {
        let nx = 512, ny = 512, nz = 32
        let affine = Affine(columns: SIMD3(-0.7, 0, 0), SIMD3(0, -0.7, 0), SIMD3(0, 0, 4),
                            origin: SIMD3(179, 179, -64))
        var v = ImageVolume(grid: Grid(shape: [nx, ny, nz], affine: affine), repeating: 0)
        var seed: UInt64 = 42
        for k in 0..<nz {
            for j in 0..<ny {
                for i in 0..<nx {
                    seed = seed &* 6364136223846793005 &+ 1442695040888963407
                    let noise = Float(seed >> 40) / Float(1 << 24) * 20
                    let x = Float(i - 256) / 200, y = Float(j - 256) / 150
                    let r = x * x + y * y
                    let tissue: Float = r < 0.6 ? 400 : (r < 1 ? 900 : 0)
                    v[i, j, k] = tissue * (1 + 0.1 * Float(k) / Float(nz)) + noise
                }
            }
        }
        return v
    }

    private func syntheticMetadata() -> ScanMetadata {
        var m = ScanMetadata()
        m.modality = "MR"
        m.seriesDescription = "bench io"
        m.patientID = "BENCH"
        m.studyDate = "20260101"
        return m
    }

    private func median(_ n: Int, _ body: () throws -> Void) throws -> Double {
        var times: [Double] = []
        for _ in 0..<n {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        times.sort()
        return times[times.count / 2]
    }

    private func ms(_ v: Double) -> String { String(format: "%.1f", v) }
    private func ratio(_ a: Double, _ b: Double?) -> String { b.map { String(format: "%.2f", a / $0) } ?? "n/a" }
    private func row(_ a: String, _ b: String, _ c: String, _ d: String) -> String {
        a.padding(toLength: 36, withPad: " ", startingAt: 0) + b.padding(toLength: 12, withPad: " ", startingAt: 0)
            + c.padding(toLength: 13, withPad: " ", startingAt: 0) + d
    }
}
