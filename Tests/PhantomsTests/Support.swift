import Anatomy
import Foundation
import ImagingCore
@testable import Phantoms

/// The shipped catalog (from the package's Config/).
let catalog: LabelCatalog = try! LabelCatalog.load(path: ConfigDirectory.sourceTreeDirectory + "/" + LabelCatalog.fileName)

/// A small phantom, fast in debug builds.
func smallPhantom(_ region: Region, seed: UInt64 = 7, visit: Int = 1, bilateral: Bool = false, matrix: [Int] = [64, 64],
                  slices: Int? = nil, oblique: Bool? = nil, rays: Int = 256) throws -> Phantom {
    try PhantomGenerator.generate(
        PhantomRequest(region: region, seed: seed, visit: visit, bilateral: bilateral, matrix: matrix, slices: slices,
                       oblique: oblique, rays: rays),
        catalog: catalog)
}

/// A fresh temporary folder.
func temporaryFolder(_ tag: String) -> String {
    let path = NSTemporaryDirectory() + "segvol-\(tag)-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// RAS centroid of the voxels whose label satisfies `keep`.
func centroid(_ labels: LabelVolume, where keep: (Int32, SIMD3<Double>) -> Bool) -> SIMD3<Double>? {
    let s = labels.shape
    var sum = SIMD3<Double>.zero
    var n = 0.0
    for k in 0..<s[2] {
        for j in 0..<s[1] {
            for i in 0..<s[0] {
                let p = labels.grid.affine.apply(SIMD3(Double(i), Double(j), Double(k)))
                if keep(labels[i, j, k], p) { sum += p; n += 1 }
            }
        }
    }
    return n > 0 ? sum / n : nil
}
