import Anatomy
import ImagingCore
#if canImport(Glibc)
import Glibc
#endif

/// Patient side of a limb.
public enum Side: String, Codable, Sendable {
    case left
    case right
}

/// One connected piece of anatomy (a limb, or the trunk) placed in the body frame.
struct Part: Sendable {
    /// Centre of its cross-sections (body-frame x, y; mm).
    var centre: SIMD2<Double>
    /// In-plane rotation of the anatomy (limb rotation), radians.
    var cosPsi: Double
    var sinPsi: Double
    /// +1, or -1 for a left limb: its lateral direction is body -x.
    var mirror: Double
    var side: Side?
    /// The cross-section at body-frame z.
    var section: @Sendable (Double) -> CrossSection

    /// The body-frame box (offsets from `centre`) holding a section of this part: the outermost
    /// boundary crossing on 360 rays, rotated and mirrored into the body frame.
    func bounds(_ s: CrossSection) -> (lo: SIMD2<Double>, hi: SIMD2<Double>) {
        var lo = SIMD2<Double>(repeating: .infinity), hi = SIMD2<Double>(repeating: -.infinity)
        // Wedges lie inside their outer curve, itself inside the skin: only the other shapes bound.
        let shapes = s.layers.filter { $0.kind != .wedge }.map(\.shape)
        var cuts: [Double] = []
        for n in 0..<360 {
            let theta = Double(n) * .pi / 180
            let h = Harmonics(cos: cos(theta), sin: sin(theta))
            cuts.removeAll(keepingCapacity: true)
            for shape in shapes { shape.crossings(theta: theta, h: h, rMax: s.reach, into: &cuts) }
            let r = (cuts.filter { $0 > 0 && $0 < s.reach }.max() ?? 0) + 1
            // Undo `local`: (u', v') = (mirror·u, v), q = rotation(ψ)·(u', v').
            let u = mirror * r * h.v[1], v = r * h.v[2]
            let q = SIMD2(u * cosPsi - v * sinPsi, u * sinPsi + v * cosPsi)
            lo = pointwiseMin(lo, q)
            hi = pointwiseMax(hi, q)
        }
        return (lo, hi)
    }

    /// A body-frame in-plane point in the part's own frame (u lateral or patient-right, v anterior).
    @inline(__always) func local(_ p: SIMD2<Double>) -> SIMD2<Double> {
        let q = p - centre
        return SIMD2(mirror * (q.x * cosPsi + q.y * sinPsi), -q.x * sinPsi + q.y * cosPsi)
    }
}

/// A part's placement without its section closure (cheap to copy in inner loops).
struct PartFrame: Sendable {
    var centre: SIMD2<Double>
    var cosPsi: Double
    var sinPsi: Double
    var mirror: Double

    @inline(__always) func local(_ p: SIMD2<Double>) -> SIMD2<Double> {
        let q = p - centre
        return SIMD2(mirror * (q.x * cosPsi + q.y * sinPsi), -q.x * sinPsi + q.y * cosPsi)
    }
}

/// The anatomy of one scan: one or two parts, and which one holds a point.
struct Body: Sendable {
    var parts: [Part]

    var frames: [PartFrame] { parts.map { PartFrame(centre: $0.centre, cosPsi: $0.cosPsi, sinPsi: $0.sinPsi, mirror: $0.mirror) } }

    /// The part that holds a body-frame point: two limbs split at x = 0.
    @inline(__always) func partIndex(_ p: SIMD2<Double>) -> Int { parts.count == 1 ? 0 : (p.x > 0 ? 1 : 0) }
}

extension CrossSection {
    /// (label, tissue) at a point of the section's frame; cheap outside the reach.
    @inline(__always) func sample(_ p: SIMD2<Double>) -> (label: UInt8, tissue: UInt8) {
        if p.x * p.x + p.y * p.y >= reach * reach { return (0, Tissue.air) }
        return sample(PolarPoint(p))
    }
}

/// Catalog ids by name for the models.
struct ClassIDs: Sendable {
    let ids: [String: UInt8]
    let groups: [UInt8: String]

    init(catalog: LabelCatalog, region: Region, needed: [String]) throws(ImagingError) {
        var ids: [String: UInt8] = [:]
        var groups: [UInt8: String] = [:]
        for c in catalog.classes(in: region) {
            ids[c.name] = UInt8(c.id)
            groups[UInt8(c.id)] = c.group.rawValue
        }
        for name in needed where ids[name] == nil {
            throw ImagingError(.catalogInvalid, input: LabelCatalog.fileName,
                               reason: "the \(region.rawValue) phantom needs class '\(name)', which the catalog lacks for that region",
                               remedy: "restore the class in Config/\(LabelCatalog.fileName)")
        }
        self.ids = ids
        self.groups = groups
    }

    func callAsFunction(_ name: String) -> UInt8 {
        guard let id = ids[name] else { preconditionFailure("phantom model uses unknown class \(name)") }
        return id
    }
}
