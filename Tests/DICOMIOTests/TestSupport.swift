import Foundation
import ImagingCore

/// Where the shared real-file corpus lives: $SEGVOL_CORPUS, else ../shared/corpus relative to
/// the package root.
enum Corpus {
    static let root: URL = {
        if let env = ProcessInfo.processInfo.environment["SEGVOL_CORPUS"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared/corpus")
    }()

    static var available: Bool {
        let ok = FileManager.default.fileExists(atPath: root.appendingPathComponent("dicom").path)
        if !ok { print("DICOMIOTests: corpus not found at \(root.path); real-file tests skipped") }
        return ok
    }

    static func dicom(_ name: String) -> String { root.appendingPathComponent("dicom/\(name)").path }

    /// The image files of a case (everything except the `expected` folder).
    static func files(_ name: String) -> [String] {
        let dir = dicom(name)
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0 != "expected" }.sorted()
            .map { dir + "/" + $0 }
    }

    /// dcm2niix's NIfTI outputs for a case.
    static func references(_ name: String) -> [String] {
        let dir = root.appendingPathComponent("reference/\(name)").path
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".nii.gz") }
            .sorted().map { dir + "/" + $0 }
    }
}

/// A minimal, test-only NIfTI-1 reader (gzip via the `gzip` tool) so these tests do not depend
/// on the NIfTIIO module: header geometry (sform, else qform) and voxels as Double.
struct TestNIfTI {
    var shape: [Int]
    var affine: Affine
    var data: [Double]

    init(path: String, headerOnly: Bool = false) throws {
        let gunzip = Process()
        gunzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gunzip.arguments = ["-dc", path]
        let pipe = Pipe()
        gunzip.standardOutput = pipe
        try gunzip.run()
        let bytes = pipe.fileHandleForReading.readDataToEndOfFile()
        gunzip.waitUntilExit()
        let b = [UInt8](bytes)
        func i16(_ o: Int) -> Int { Int(Int16(bitPattern: UInt16(b[o]) | UInt16(b[o + 1]) << 8)) }
        func f32(_ o: Int) -> Double {
            Double(Float(bitPattern: UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24))
        }
        precondition(b.count >= 348 && i16(0) == 348, "not a little-endian NIfTI-1 file: \(path)")
        let dims = (1...3).map { i16(40 + 2 * $0) }
        shape = dims
        let datatype = i16(70), offset = Int(f32(108))
        var slope = f32(112), inter = f32(116)
        if slope == 0 { slope = 1; inter = 0 }
        if i16(254) > 0 {
            affine = Affine(rows: (0..<3).map { r in (0..<4).map { f32(280 + 16 * r + 4 * $0) } })
        } else {
            let qb = f32(256), qc = f32(260), qd = f32(264)
            let qa = max(0, 1 - (qb * qb + qc * qc + qd * qd)).squareRoot()
            let qfac = f32(76) < 0 ? -1.0 : 1.0
            let R = [[qa * qa + qb * qb - qc * qc - qd * qd, 2 * (qb * qc - qa * qd), 2 * (qb * qd + qa * qc)],
                     [2 * (qb * qc + qa * qd), qa * qa + qc * qc - qb * qb - qd * qd, 2 * (qc * qd - qa * qb)],
                     [2 * (qb * qd - qa * qc), 2 * (qc * qd + qa * qb), qa * qa + qd * qd - qc * qc - qb * qb]]
            let px = [f32(80), f32(84), f32(88) * qfac]
            affine = Affine(rows: (0..<3).map { r in [R[r][0] * px[0], R[r][1] * px[1], R[r][2] * px[2], f32(268 + 4 * r)] })
        }
        let n = headerOnly ? 0 : dims.reduce(1, *)
        var values = [Double](repeating: 0, count: n)
        for v in 0..<n {
            let o = offset
            switch datatype {
            case 2: values[v] = Double(b[o + v])
            case 4: values[v] = Double(Int16(bitPattern: UInt16(b[o + 2 * v]) | UInt16(b[o + 2 * v + 1]) << 8))
            case 512: values[v] = Double(UInt16(b[o + 2 * v]) | UInt16(b[o + 2 * v + 1]) << 8)
            case 16: values[v] = f32(o + 4 * v)
            default: preconditionFailure("datatype \(datatype) not handled by the test reader")
            }
            values[v] = values[v] * slope + inter
        }
        data = values
    }
}

/// Test-only canonical reorientation (permutation + flips only) to RAS axis order, so two
/// volumes of the same scene stored in different axis orders can be compared voxel by voxel.
struct Canonical {
    var shape: [Int]
    var affine: Affine
    var data: [Double]

    init(shape: [Int], affine: Affine, data: [Double]) {
        // For each RAS axis r, the index axis pointing most along it, and whether it is reversed.
        var perm = [0, 1, 2], flip = [false, false, false]
        let cols = (0..<3).map { affine.column($0) }
        var used = Set<Int>()
        for r in 0..<3 {
            let axis = (0..<3).filter { !used.contains($0) }.max { abs(comp(cols[$0], r)) < abs(comp(cols[$1], r)) }!
            used.insert(axis)
            perm[r] = axis
            flip[r] = comp(cols[axis], r) < 0
        }
        let outShape = perm.map { shape[$0] }
        var origin = SIMD3<Double>(0, 0, 0)
        var corner = [0.0, 0.0, 0.0]
        for r in 0..<3 where flip[r] { corner[perm[r]] = Double(shape[perm[r]] - 1) }
        origin = affine.apply(SIMD3(corner[0], corner[1], corner[2]))
        let newCols = (0..<3).map { flip[$0] ? -cols[perm[$0]] : cols[perm[$0]] }
        self.affine = Affine(columns: newCols[0], newCols[1], newCols[2], origin: origin)
        self.shape = outShape
        var out = [Double](repeating: 0, count: data.count)
        var idx = [0, 0, 0]
        for c in 0..<outShape[2] {
            for b in 0..<outShape[1] {
                for a in 0..<outShape[0] {
                    let o = [a, b, c]
                    for r in 0..<3 { idx[perm[r]] = flip[r] ? shape[perm[r]] - 1 - o[r] : o[r] }
                    out[a + outShape[0] * (b + outShape[1] * c)] = data[idx[0] + shape[0] * (idx[1] + shape[1] * idx[2])]
                }
            }
        }
        self.data = out
    }
}

private func comp(_ v: SIMD3<Double>, _ r: Int) -> Double { r == 0 ? v.x : r == 1 ? v.y : v.z }
