#if canImport(Glibc)
import Glibc
#endif

/// cos kθ and sin kθ for k = 0...3 of a point's polar angle: `(1, c1, s1, c2, s2, c3, s3, 0)`.
struct Harmonics {
    var v: SIMD8<Double>

    /// From cos θ and sin θ by the Chebyshev recurrence (no trigonometric calls).
    @inline(__always) init(cos c: Double, sin s: Double) {
        let c2 = c * c - s * s, s2 = 2 * s * c
        let c3 = c2 * c - s2 * s, s3 = s2 * c + c2 * s
        v = SIMD8(1, c, s, c2, s2, c3, s3, 0)
    }
}

/// A closed curve around a cross-section's centre in polar form:
/// `R(θ) = c0 + Σ_k (a_k cos kθ + b_k sin kθ)`, k = 1...3, with θ measured from the
/// lateral (+u) axis toward anterior (+v).
struct Radius: Sendable {
    var c: SIMD8<Double>

    init(c: SIMD8<Double>) { self.c = c }

    init(_ c0: Double, a1: Double = 0, b1: Double = 0, a2: Double = 0, b2: Double = 0, a3: Double = 0, b3: Double = 0) {
        c = SIMD8(c0, a1, b1, a2, b2, a3, b3, 0)
    }

    @inline(__always) func callAsFunction(_ h: Harmonics) -> Double { (c * h.v).sum() }

    /// The same curve scaled by `f` and widened by `d` mm.
    func scaled(_ f: Double, plus d: Double = 0) -> Radius {
        var r = self
        r.c *= f
        r.c[0] += d
        return r
    }

    /// Largest radius (sampled bound, plus the sampling slack of the derivative).
    var maximum: Double { abs(c[0]) + abs(c[1]) + abs(c[2]) + abs(c[3]) + abs(c[4]) + abs(c[5]) + abs(c[6]) }
}

/// A point of a cross-section in the polar frame of its centre.
struct PolarPoint {
    var p: SIMD2<Double>
    var r: Double
    var theta: Double
    var h: Harmonics

    @inline(__always) init(_ p: SIMD2<Double>) {
        self.p = p
        r = (p.x * p.x + p.y * p.y).squareRoot()
        theta = atan2(p.y, p.x)
        h = r > 0 ? Harmonics(cos: p.x / r, sin: p.y / r) : Harmonics(cos: 1, sin: 0)
    }

    /// The point at radius `r` on the ray of angle `theta` whose harmonics are `h`.
    @inline(__always) init(r: Double, theta: Double, h: Harmonics) {
        self.r = r
        self.theta = theta
        self.h = h
        p = SIMD2(r * h.v[1], r * h.v[2])
    }
}

/// A region of a cross-section (mm, in the frame of the section's centre).
enum Shape: Sendable {
    /// `r < R(θ)`.
    case disk(Radius)
    /// `inner(θ) ≤ r < outer(θ)`.
    case ring(inner: Radius, outer: Radius)
    /// An ellipse with centre `c`, semi-axes `a` (along the direction at `angle`) and `b`.
    case ellipse(c: SIMD2<Double>, a: Double, b: Double, cosA: Double, sinA: Double)
    /// Angles `β + γ r ≤ θ < β + γ r + width` (mod 2π) with `inner < r < outer(θ)`: a slice
    /// of the ring whose sides twist by γ rad/mm, so adjacent wedges with the same γ never cross.
    case wedge(beta: Double, width: Double, gamma: Double, inner: Double, outer: Radius)

    static func ellipse(_ c: SIMD2<Double>, _ a: Double, _ b: Double, angle: Double = 0) -> Shape {
        .ellipse(c: c, a: a, b: b, cosA: cos(angle), sinA: sin(angle))
    }

    static func circle(_ c: SIMD2<Double>, _ r: Double) -> Shape { .ellipse(c, r, r) }

    @inline(__always) func contains(_ q: PolarPoint) -> Bool {
        switch self {
        case .disk(let R):
            return q.r < R(q.h)
        case .ring(let inner, let outer):
            return q.r >= inner(q.h) && q.r < outer(q.h)
        case .ellipse(let c, let a, let b, let ca, let sa):
            guard a > 0 && b > 0 else { return false }
            let d = q.p - c
            let x = (d.x * ca + d.y * sa) / a, y = (d.y * ca - d.x * sa) / b
            return x * x + y * y < 1
        case .wedge(let beta, let width, let gamma, let inner, let outer):
            guard width > 0, q.r > inner, q.r < outer(q.h) else { return false }
            return positiveAngle(q.theta - beta - gamma * q.r) < width
        }
    }

    /// Radii in (0, rMax) where the ray from the centre at angle `theta` crosses the boundary.
    func crossings(theta: Double, h: Harmonics, rMax: Double, into out: inout [Double]) {
        switch self {
        case .disk(let R):
            out.append(R(h))
        case .ring(let inner, let outer):
            out.append(inner(h))
            out.append(outer(h))
        case .ellipse(let c, let a, let b, let ca, let sa):
            guard a > 0 && b > 0 else { return }
            // Ray s·(cosθ, sinθ) in the ellipse frame: o' + s d', solve |(o'+s d')/(a,b)|² = 1.
            let dx = h.v[1], dy = h.v[2]
            let ox = (-c.x * ca - c.y * sa) / a, oy = (-c.y * ca + c.x * sa) / b
            let ux = (dx * ca + dy * sa) / a, uy = (dy * ca - dx * sa) / b
            let A = ux * ux + uy * uy, B = 2 * (ox * ux + oy * uy), C = ox * ox + oy * oy - 1
            let disc = B * B - 4 * A * C
            guard disc > 0 else { return }
            let sq = disc.squareRoot()
            out.append((-B - sq) / (2 * A))
            out.append((-B + sq) / (2 * A))
        case .wedge(let beta, let width, let gamma, let inner, let outer):
            guard width > 0 else { return }
            out.append(inner)
            out.append(outer(h))
            // θ - β - γ r = 2πm (start side) or 2πm + width (end side).
            guard gamma != 0 else { return }
            for twice in 0..<2 {
                let base = theta - beta - (twice == 0 ? 0 : width)
                let mLo = Int(((base - gamma * rMax) / (2 * Double.pi)).rounded(.down)) - 1
                let mHi = Int((base / (2 * Double.pi)).rounded(.up)) + 1
                for m in min(mLo, mHi)...max(mLo, mHi) {
                    out.append((base - 2 * Double.pi * Double(m)) / gamma)
                }
            }
        }
    }
}

/// Sorts a short array in place (the few dozen crossings of one ray; faster than `sort()` there).
@inline(__always) func insertionSort(_ a: inout [Double]) {
    a.withUnsafeMutableBufferPointer { b in
        guard b.count > 1 else { return }
        for i in 1..<b.count {
            let x = b[i]
            var j = i - 1
            while j >= 0 && b[j] > x {
                b[j + 1] = b[j]
                j -= 1
            }
            b[j + 1] = x
        }
    }
}

/// θ mod 2π in [0, 2π).
@inline(__always) func positiveAngle(_ a: Double) -> Double {
    let t = a.truncatingRemainder(dividingBy: 2 * Double.pi)
    return t < 0 ? t + 2 * Double.pi : t
}

/// One painted layer: a shape, the label it writes, and the tissue that sets its intensity.
///
/// The shape is kept flat (a kind and plain SIMD fields) rather than as the `Shape` enum: the
/// per-voxel tests then read fields in place instead of copying a large enum payload.
struct Layer: Sendable {
    enum Kind: UInt8 { case disk, ring, ellipse, wedge }
    var kind: Kind
    /// Catalog id written into the label map (0: background).
    var label: UInt8
    /// Row of the appearance table (`Tissue`).
    var tissue: UInt8
    /// A circle (centre x, y; radius²) holding the shape: a cheap first test.
    var bound: SIMD4<Double>
    /// Ellipse: (cx, cy, a, b, cos, sin); wedge: (β, width, γ, inner).
    var p: SIMD8<Double> = .zero
    /// Disk: R; ring: inner; wedge: outer.
    var r: SIMD8<Double> = .zero
    /// Ring: outer.
    var r2: SIMD8<Double> = .zero

    init(shape: Shape, label: UInt8, tissue: UInt8) {
        self.label = label
        self.tissue = tissue
        switch shape {
        case .disk(let R):
            kind = .disk; r = R.c
            bound = SIMD4(0, 0, R.maximum * R.maximum, 0)
        case .ring(let inner, let outer):
            kind = .ring; r = inner.c; r2 = outer.c
            bound = SIMD4(0, 0, outer.maximum * outer.maximum, 0)
        case .ellipse(let c, let a, let b, let ca, let sa):
            kind = .ellipse; p = SIMD8(c.x, c.y, a, b, ca, sa, 0, 0)
            bound = SIMD4(c.x, c.y, max(a, b) * max(a, b), 0)
        case .wedge(let beta, let width, let gamma, let inner, let outer):
            kind = .wedge; p = SIMD8(beta, width, gamma, inner, 0, 0, 0, 0); r = outer.c
            bound = SIMD4(0, 0, outer.maximum * outer.maximum, 0)
        }
    }

    @inline(__always) func contains(_ q: PolarPoint) -> Bool {
        let dx = q.p.x - bound.x, dy = q.p.y - bound.y
        guard dx * dx + dy * dy < bound.z else { return false }
        switch kind {
        case .disk:
            return q.r < (r * q.h.v).sum()
        case .ring:
            return q.r >= (r * q.h.v).sum() && q.r < (r2 * q.h.v).sum()
        case .ellipse:
            let a = p[2], b = p[3]
            guard a > 0 && b > 0 else { return false }
            let x = (dx * p[4] + dy * p[5]) / a, y = (dy * p[4] - dx * p[5]) / b
            return x * x + y * y < 1
        case .wedge:
            let width = p[1]
            guard width > 0, q.r > p[3], q.r < (r * q.h.v).sum() else { return false }
            return positiveAngle(q.theta - p[0] - p[2] * q.r) < width
        }
    }

    /// The layer's shape as the enum (for the ray crossings).
    var shape: Shape {
        switch kind {
        case .disk: return .disk(Radius(c: r))
        case .ring: return .ring(inner: Radius(c: r), outer: Radius(c: r2))
        case .ellipse: return .ellipse(c: SIMD2(p[0], p[1]), a: p[2], b: p[3], cosA: p[4], sinA: p[5])
        case .wedge: return .wedge(beta: p[0], width: p[1], gamma: p[2], inner: p[3], outer: Radius(c: r))
        }
    }
}

/// One axial cross-section: layers painted in order (a later layer covers earlier ones),
/// around the centre the polar shapes and the area rays share.
struct CrossSection: Sendable {
    var layers: [Layer] = []
    /// No layer reaches beyond this radius.
    var reach: Double = 0

    mutating func paint(_ shape: Shape, label: UInt8, tissue: UInt8? = nil) {
        layers.append(Layer(shape: shape, label: label, tissue: tissue ?? label))
    }

    /// Index of the top layer containing the point, or -1 outside all.
    @inline(__always) func layerIndex(_ q: PolarPoint) -> Int {
        guard q.r < reach else { return -1 }
        return layers.withUnsafeBufferPointer { l in
            var i = l.count - 1
            while i >= 0 {
                if l[i].contains(q) { return i }
                i -= 1
            }
            return -1
        }
    }

    /// (label, tissue) at the point; outside every layer: background label 0 and tissue `Tissue.air`.
    @inline(__always) func sample(_ q: PolarPoint) -> (label: UInt8, tissue: UInt8) {
        let i = layerIndex(q)
        return i < 0 ? (0, Tissue.air) : (layers[i].label, layers[i].tissue)
    }

    /// Exact area (mm²) of each label, by rays from the centre: along a ray every boundary
    /// crossing is found in closed form, so the radial integral `∫ r dr` of each label is exact;
    /// the angular integral uses the trapezoid rule on `rays` equally spaced angles, whose
    /// error the tests measure (docs/phantoms.md).
    func labelAreas(rays: Int, into area: inout [Double]) {
        let dTheta = 2 * Double.pi / Double(rays)
        let shapes = layers.map(\.shape)
        var cuts: [Double] = []
        cuts.reserveCapacity(4 * layers.count + 2)
        for n in 0..<rays {
            let theta = (Double(n) + 0.5) * dTheta
            let h = Harmonics(cos: cos(theta), sin: sin(theta))
            cuts.removeAll(keepingCapacity: true)
            cuts.append(0)
            cuts.append(reach)
            for shape in shapes { shape.crossings(theta: theta, h: h, rMax: reach, into: &cuts) }
            insertionSort(&cuts)
            var previous = 0.0
            for r in cuts where r > previous && r <= reach {
                let mid = PolarPoint(r: 0.5 * (previous + r), theta: theta, h: h)
                let i = layerIndex(mid)
                if i >= 0 { area[Int(layers[i].label)] += 0.5 * (r * r - previous * previous) * dTheta }
                previous = r
            }
        }
    }
}
