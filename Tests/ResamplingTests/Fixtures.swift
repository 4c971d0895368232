import Foundation
import ImagingCore
@testable import Resampling

/// A small deterministic generator (SplitMix64) so failures reproduce.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Rotation of `v` about unit `axis` by `degrees` (Rodrigues).
func rotate(_ v: SIMD3<Double>, about axis: SIMD3<Double>, degrees: Double) -> SIMD3<Double> {
    let k = axis / axis.length, t = degrees * .pi / 180
    return v * cos(t) + k.cross(v) * sin(t) + k * (k.dot(v) * (1 - cos(t)))
}

/// RAS unit vector of an axis letter.
func letterDirection(_ c: Character) -> SIMD3<Double> {
    switch c {
    case "R": SIMD3(1, 0, 0)
    case "L": SIMD3(-1, 0, 0)
    case "A": SIMD3(0, 1, 0)
    case "P": SIMD3(0, -1, 0)
    case "S": SIMD3(0, 0, 1)
    case "I": SIMD3(0, 0, -1)
    default: preconditionFailure("bad axis letter \(c)")
    }
}

/// A grid whose index axes point along `codes` (e.g. "LPS"), optionally rotated (oblique).
func makeGrid(
    _ codes: String, shape: [Int], spacing: SIMD3<Double>, origin: SIMD3<Double> = SIMD3(-12.5, 30.25, -7.75),
    rotationAxis: SIMD3<Double> = SIMD3(0, 0, 1), degrees: Double = 0
) -> Grid {
    let d = codes.map { rotate(letterDirection($0), about: rotationAxis, degrees: degrees) }
    return Grid(shape: shape, affine: Affine(columns: d[0] * spacing.x, d[1] * spacing.y, d[2] * spacing.z, origin: origin))
}

/// World position of voxel (i, j, k).
func world(_ g: Grid, _ i: Int, _ j: Int, _ k: Int) -> SIMD3<Double> {
    g.affine.apply(SIMD3(Double(i), Double(j), Double(k)))
}

/// Calls `body(i, j, k)` for every voxel of `g` in memory order.
func forEachVoxel(_ g: Grid, _ body: (Int, Int, Int) -> Void) {
    for k in 0..<g.shape[2] { for j in 0..<g.shape[1] { for i in 0..<g.shape[0] { body(i, j, k) } } }
}

/// A volume whose value at each voxel is `f(world position)`.
func sampled(_ g: Grid, _ f: (SIMD3<Double>) -> Float) -> ImageVolume {
    var v = ImageVolume(grid: g, repeating: 0)
    forEachVoxel(g) { i, j, k in v[i, j, k] = f(world(g, i, j, k)) }
    return v
}

/// Random values in 0..<1.
func randomImage(_ g: Grid, seed: UInt64) -> ImageVolume {
    var rng = SeededGenerator(seed: seed)
    return ImageVolume(grid: g, data: (0..<g.voxelCount).map { _ in Float.random(in: 0..<1, using: &rng) })
}

/// Signed distance (mm) to a sphere's surface: negative inside.
func sphereDistance(_ p: SIMD3<Double>, centre: SIMD3<Double>, radius: Double) -> Double {
    (p - centre).length - radius
}

/// Signed distance (mm) to a capped cylinder with unit `axis`, `radius` and half-length `half`.
func cylinderDistance(_ p: SIMD3<Double>, centre: SIMD3<Double>, axis: SIMD3<Double>, radius: Double, half: Double) -> Double {
    let d = p - centre
    let h = abs(d.dot(axis))
    let rho = (d - axis * d.dot(axis)).length
    let a = rho - radius, b = h - half
    if a <= 0 && b <= 0 { return max(a, b) }
    return SIMD3(max(a, 0), max(b, 0), 0).length
}
