import ImagingCore
#if canImport(Glibc)
import Glibc
#endif

/// The scan's grid and where the anatomy sits in it.
///
/// The anatomy is built in the *body frame*: x toward the patient's right, y anterior, z
/// superior, the limb or trunk axis along z. The grid's index axes are signed body axes
/// (slices perpendicular to the long axis, in-plane axes swapped or flipped by the seed), and a
/// small rotation carries body frame and grid together into scanner RAS, so an oblique affine
/// still slices the limb across. RAS = origin + rotation · (g0 + i·s·e_i + j·s·e_j + k·Δz·e_k).
struct Acquisition: Sendable {
    var shape: [Int]
    var spacing: Double
    var thickness: Double
    /// Signed unit body-frame axes of i, j, k.
    var axes: [SIMD3<Double>]
    /// Body-frame position of voxel (0, 0, 0).
    var g0: SIMD3<Double>
    /// Rows of the rotation body frame → RAS.
    var rotation: [SIMD3<Double>]
    var origin: SIMD3<Double>
    var obliqueDegrees: Double

    /// Body-frame position of a (fractional) voxel index.
    @inline(__always) func body(_ i: Double, _ j: Double, _ k: Double) -> SIMD3<Double> {
        g0 + axes[0] * (i * spacing) + axes[1] * (j * spacing) + axes[2] * (k * thickness)
    }

    /// RAS position of a body-frame point.
    @inline(__always) func ras(_ b: SIMD3<Double>) -> SIMD3<Double> {
        origin + SIMD3((rotation[0] * b).sum(), (rotation[1] * b).sum(), (rotation[2] * b).sum())
    }

    var affine: Affine {
        let r = { (v: SIMD3<Double>) in SIMD3((rotation[0] * v).sum(), (rotation[1] * v).sum(), (rotation[2] * v).sum()) }
        return Affine(columns: r(axes[0] * spacing), r(axes[1] * spacing), r(axes[2] * thickness), origin: ras(g0))
    }

    /// Body-frame z of slice k's centre.
    func sliceZ(_ k: Double) -> Double { body(0, 0, k).z }

    /// Draws the slice axis, thickness and count; `coverage` is the least length to cover.
    static func slab(rng: inout SplitMix64, slices: Int?, thickness: Double?, coverage: Double) -> (n: Int, dz: Double) {
        let dz = thickness ?? rng.uniform(3, 7)
        let n = slices ?? max(rng.int(16...48), Int((coverage / dz).rounded(.up)))
        return (n, dz)
    }

    /// Builds the grid around an in-plane box (centre and half extent, mm, body x and y) and a slab centred
    /// at body z `zc`. Spacing is drawn in 0.4...1.0 mm and the matrix is the smallest of
    /// 192...512 that holds the anatomy with an 8 mm margin; when 512 cannot, the spacing grows.
    static func make(rng: inout SplitMix64, centre: SIMD2<Double>, halfExtent: SIMD2<Double>, n: Int, dz: Double, zc: Double,
                     matrix: [Int]?, spacing: Double?, oblique: Bool?) -> Acquisition {
        let swap = rng.uniform() < 0.5
        var ex = SIMD3<Double>(1, 0, 0), ey = SIMD3<Double>(0, 1, 0), ez = SIMD3<Double>(0, 0, rng.uniform() < 0.5 ? 1 : -1)
        if rng.uniform() < 0.5 { ex = -ex }
        if rng.uniform() < 0.5 { ey = -ey }
        let axes = swap ? [ey, ex, ez] : [ex, ey, ez]
        // Extent along i and j.
        let need = swap ? SIMD2(halfExtent.y, halfExtent.x) : halfExtent
        let drawn = spacing ?? rng.uniform(0.4, 1.0)
        var shape = [0, 0, n]
        var s = drawn
        if let matrix {
            shape[0] = matrix[0]; shape[1] = matrix[1]
            s = spacing ?? max(0.4, max(2 * (need.x + 8) / Double(matrix[0]), 2 * (need.y + 8) / Double(matrix[1])))
        } else {
            let sizes = [192, 256, 320, 384, 448, 512]
            for a in 0..<2 {
                let m = Int((2 * (need[a] + 8) / s).rounded(.up))
                shape[a] = sizes.first { $0 >= m } ?? 512
            }
            s = max(s, 2 * (need.x + 8) / Double(shape[0]), 2 * (need.y + 8) / Double(shape[1]))
        }
        // Centre the field of view on the anatomy, the slab on zc.
        let half = axes[0] * (Double(shape[0] - 1) / 2 * s) + axes[1] * (Double(shape[1] - 1) / 2 * s)
            + axes[2] * (Double(n - 1) / 2 * dz)
        let g0 = SIMD3(centre.x, centre.y, zc) - half
        var rotation = [SIMD3<Double>(1, 0, 0), SIMD3<Double>(0, 1, 0), SIMD3<Double>(0, 0, 1)]
        var degrees = 0.0
        if oblique ?? (rng.uniform() < 0.5) {
            degrees = rng.uniform(3, 15)
            var axis = SIMD3(rng.normal(), rng.normal(), rng.normal())
            axis /= (axis * axis).sum().squareRoot()
            rotation = rodrigues(axis, deg(degrees))
        }
        let origin = SIMD3(rng.uniform(-20, 20), rng.uniform(-40, 40), rng.uniform(-300, 300))
        return Acquisition(shape: shape, spacing: s, thickness: dz, axes: axes, g0: g0, rotation: rotation,
                           origin: origin, obliqueDegrees: degrees)
    }

    /// Rows of the rotation by `angle` about the unit `axis`.
    static func rodrigues(_ k: SIMD3<Double>, _ angle: Double) -> [SIMD3<Double>] {
        let c = cos(angle), s = sin(angle), t = 1 - c
        return [
            SIMD3(c + k.x * k.x * t, k.x * k.y * t - k.z * s, k.x * k.z * t + k.y * s),
            SIMD3(k.y * k.x * t + k.z * s, c + k.y * k.y * t, k.y * k.z * t - k.x * s),
            SIMD3(k.z * k.x * t - k.y * s, k.z * k.y * t + k.x * s, c + k.z * k.z * t),
        ]
    }
}
