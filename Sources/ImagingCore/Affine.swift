/// A 4×4 homogeneous transform from voxel indices to patient coordinates.
///
/// Convention, stated once for all of segvol (docs/geometry.md repeats it):
/// - patient space is **RAS+ millimetres**, as in nifti1.h: +x points to the patient's Right,
///   +y to Anterior, +z to Superior (DICOM's LPS+ differs by the sign of x and y; the one
///   conversion lives in `DICOMIO.patientLPSToRAS`);
/// - the transform maps the integer index `(i, j, k)` of a voxel to the position of that
///   voxel's **centre** (NIfTI's convention; a voxel spans index ± 0.5).
public struct Affine: Equatable, Hashable, Sendable, Codable {
    /// Row-major 4×4 elements: `m[4 * row + column]`.
    public var m: [Double]

    /// The identity transform.
    public static let identity = Affine(rows: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])

    /// Creates an affine from 4 rows of 4 elements (or 3 rows; the last row is then `0 0 0 1`).
    public init(rows: [[Double]]) {
        precondition(rows.count == 3 || rows.count == 4, "Affine needs 3 or 4 rows")
        precondition(rows.allSatisfy { $0.count == 4 }, "Affine rows have 4 elements")
        m = rows.flatMap { $0 }
        if rows.count == 3 { m += [0, 0, 0, 1] }
    }

    /// Creates an affine from its 3×3 linear part (as three column vectors) and a translation.
    public init(columns c0: SIMD3<Double>, _ c1: SIMD3<Double>, _ c2: SIMD3<Double>, origin: SIMD3<Double>) {
        m = [c0.x, c1.x, c2.x, origin.x,
             c0.y, c1.y, c2.y, origin.y,
             c0.z, c1.z, c2.z, origin.z,
             0, 0, 0, 1]
    }

    /// A diagonal affine with the given voxel spacing and origin (the position of voxel 0,0,0).
    public static func scaling(_ spacing: SIMD3<Double>, origin: SIMD3<Double> = .zero) -> Affine {
        Affine(columns: SIMD3(spacing.x, 0, 0), SIMD3(0, spacing.y, 0), SIMD3(0, 0, spacing.z), origin: origin)
    }

    public subscript(row: Int, column: Int) -> Double {
        get { m[4 * row + column] }
        set { m[4 * row + column] = newValue }
    }

    /// Column `c` of the linear part: the step in mm for one voxel along index axis `c`.
    public func column(_ c: Int) -> SIMD3<Double> { SIMD3(self[0, c], self[1, c], self[2, c]) }

    /// The translation: the RAS position of the centre of voxel (0, 0, 0).
    public var origin: SIMD3<Double> {
        get { column(3) }
        set { self[0, 3] = newValue.x; self[1, 3] = newValue.y; self[2, 3] = newValue.z }
    }

    /// Voxel size in mm along each index axis (the norms of the linear columns).
    public var spacing: SIMD3<Double> {
        SIMD3(column(0).length, column(1).length, column(2).length)
    }

    /// Unit direction (RAS) of each index axis.
    public var directions: [SIMD3<Double>] { (0..<3).map { column($0) / column($0).length } }

    /// Determinant of the 3×3 linear part; negative for a left-handed voxel order.
    public var determinant: Double {
        let a = column(0), b = column(1), c = column(2)
        return a.dot(b.cross(c))
    }

    /// Maps a (fractional) voxel index to RAS mm.
    public func apply(_ p: SIMD3<Double>) -> SIMD3<Double> {
        SIMD3(self[0, 0] * p.x + self[0, 1] * p.y + self[0, 2] * p.z + self[0, 3],
              self[1, 0] * p.x + self[1, 1] * p.y + self[1, 2] * p.z + self[1, 3],
              self[2, 0] * p.x + self[2, 1] * p.y + self[2, 2] * p.z + self[2, 3])
    }

    /// Applies only the linear part (for directions and steps).
    public func applyLinear(_ v: SIMD3<Double>) -> SIMD3<Double> {
        apply(v) - origin
    }

    /// Matrix product `self * other` (apply `other` first).
    public static func * (lhs: Affine, rhs: Affine) -> Affine {
        var out = [Double](repeating: 0, count: 16)
        for r in 0..<4 {
            for c in 0..<4 {
                var s = 0.0
                for k in 0..<4 { s += lhs.m[4 * r + k] * rhs.m[4 * k + c] }
                out[4 * r + c] = s
            }
        }
        return Affine(storage: out)
    }

    private init(storage: [Double]) { m = storage }

    /// The inverse transform; `nil` when the linear part is singular (|det| < 1e-12).
    public var inverse: Affine? {
        let a = column(0), b = column(1), c = column(2)
        let det = a.dot(b.cross(c))
        guard abs(det) > 1e-12, det.isFinite else { return nil }
        // Rows of the inverse of [a b c] are the cross products divided by the determinant.
        let r0 = b.cross(c) / det, r1 = c.cross(a) / det, r2 = a.cross(b) / det
        let t = origin
        return Affine(rows: [
            [r0.x, r0.y, r0.z, -r0.dot(t)],
            [r1.x, r1.y, r1.z, -r1.dot(t)],
            [r2.x, r2.y, r2.z, -r2.dot(t)],
        ])
    }

    /// Largest absolute element difference to `other`.
    public func maxDifference(to other: Affine) -> Double {
        zip(m, other.m).map { abs($0 - $1) }.max() ?? 0
    }

    /// True when the direction columns are mutually orthogonal within `tolerance` (cosine).
    public func isOrthogonal(tolerance: Double = 1e-4) -> Bool {
        let d = directions
        return abs(d[0].dot(d[1])) < tolerance && abs(d[0].dot(d[2])) < tolerance && abs(d[1].dot(d[2])) < tolerance
    }

    /// True when every element is finite and the linear part is invertible.
    public var isValid: Bool { m.allSatisfy(\.isFinite) && inverse != nil }

    /// nibabel-style axis codes: for each index axis, the RAS letter it points towards most
    /// (`"RAS"` for a canonical volume, `"LPS"` for DICOM's native order).
    public var axisCodes: String {
        let positive: [Character] = ["R", "A", "S"], negative: [Character] = ["L", "P", "I"]
        return String(directions.map { d -> Character in
            let comps = [d.x, d.y, d.z]
            let idx = comps.indices.max { abs(comps[$0]) < abs(comps[$1]) }!
            return comps[idx] >= 0 ? positive[idx] : negative[idx]
        })
    }
}

extension Affine: CustomStringConvertible {
    public var description: String {
        (0..<4).map { r in (0..<4).map { c in String(format4(self[r, c])) }.joined(separator: " ") }
            .joined(separator: "\n")
    }
}

@inline(__always) func format4(_ v: Double) -> String {
    let scaled = (v * 10_000).rounded() / 10_000
    return scaled == 0 ? "0" : "\(scaled)"
}

extension SIMD3 where Scalar == Double {
    /// Dot product.
    @inlinable public func dot(_ o: SIMD3<Double>) -> Double { x * o.x + y * o.y + z * o.z }
    /// Cross product.
    @inlinable public func cross(_ o: SIMD3<Double>) -> SIMD3<Double> {
        SIMD3(y * o.z - z * o.y, z * o.x - x * o.z, x * o.y - y * o.x)
    }
    /// Euclidean length.
    @inlinable public var length: Double { dot(self).squareRoot() }
}
