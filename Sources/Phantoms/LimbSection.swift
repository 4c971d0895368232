#if canImport(Glibc)
import Glibc
#endif

/// Rows of the appearance table that are not label classes.
enum Tissue {
    static let air: UInt8 = 255
    static let bowel: UInt8 = 250
    static let bowelGas: UInt8 = 251
    static let tendon: UInt8 = 252
    static let fluid: UInt8 = 253
}

/// Degrees to radians.
@inline(__always) func deg(_ d: Double) -> Double { d * .pi / 180 }

/// 0 below `a`, 1 above `b`, C¹-smooth in between (smoothstep).
@inline(__always) func ramp(_ t: Double, _ a: Double, _ b: Double) -> Double {
    if a == b { return t < a ? 0 : 1 }
    let x = min(max((t - a) / (b - a), 0), 1)
    return x * x * (3 - 2 * x)
}

/// Rises from 0 to 1 over [a, b], stays 1, falls to 0 over [c, d].
@inline(__always) func plateau(_ t: Double, _ a: Double, _ b: Double, _ c: Double, _ d: Double) -> Double {
    ramp(t, a, b) * (1 - ramp(t, c, d))
}

/// The numbers of one limb cross-section in the limb's frame: origin at the main bone's
/// centre, u lateral, v anterior, θ from lateral toward anterior. `build` paints it.
struct LimbSection {
    /// Skin outline.
    var skin: Radius
    /// Subcutaneous fat thickness as a curve (mm at each θ).
    var fat: Radius
    var fasciaThickness: Double
    /// Main bone (femur or tibia): outer radius and cortical thickness.
    var boneRadius: Double
    var cortex: Double
    /// Further bones (fibula): centre, semi-axes, cortical thickness.
    var extraBones: [(c: SIMD2<Double>, a: Double, b: Double, cortex: Double)] = []

    /// Muscles around the ring from `ringStart` counter-clockwise, sharing the ring in
    /// proportion to their weights; `gap` radians of intermuscular fat between neighbours.
    var ring: [(label: UInt8, weight: Double)] = []
    var ringStart: Double = 0
    var gap: Double = deg(2)
    /// Twist of the wedge sides (rad/mm), so muscle borders curve instead of being radial.
    var twist: Double = 0.004
    /// Deep muscles on the bone: centre angle, angular width and how far out they reach
    /// (fraction of the way from bone to fascia).
    var deep: [(label: UInt8, angle: Double, width: Double, reach: Double)] = []
    /// Superficial muscles under the fascia: angle, tangential and radial semi-axes, and a fat rim.
    var superficial: [(label: UInt8, angle: Double, a: Double, b: Double, rim: Double)] = []
    /// Free ellipses painted after the muscles (e.g. the gastrocnemius heads), in the frame.
    var ellipses: [(label: UInt8, c: SIMD2<Double>, a: Double, b: Double, angle: Double)] = []
    /// Vessels: centre and radius.
    var vessels: [(c: SIMD2<Double>, r: Double)] = []
    /// Fat inside muscles: centre (angle, fraction of the ring depth), semi-axes, orientation.
    var blobs: [(angle: Double, depth: Double, a: Double, b: Double, orientation: Double)] = []

    /// Inner fascia boundary (the muscle compartment).
    var compartment: Radius {
        var r = skin
        r.c -= fat.c
        r.c[0] -= fasciaThickness
        return r
    }

    /// Paints the section with the catalog ids `id`.
    func build(_ id: (String) -> UInt8) -> CrossSection {
        var s = CrossSection()
        let imaf = id("imaf")
        let inside = compartment
        var fasciaOuter = skin
        fasciaOuter.c -= fat.c
        s.paint(.disk(skin), label: id("subcutaneous_fat"))
        s.paint(.disk(fasciaOuter), label: id("fascia"))
        s.paint(.disk(inside), label: imaf)

        // The ring of muscles, split in proportion to the weights.
        let present = ring.filter { $0.weight > 1e-6 }
        let total = present.reduce(0) { $0 + $1.weight }
        let free = 2 * Double.pi - gap * Double(present.count)
        var angle = ringStart
        for m in present {
            let width = free * m.weight / total
            s.paint(.wedge(beta: angle + gap / 2, width: width, gamma: twist, inner: 0, outer: inside), label: m.label)
            angle += width + gap
        }
        for m in deep where m.width > 1e-4 && m.reach > 0 {
            // A septum of intermuscular fat around the deep muscle (half the ring's gap wide).
            let rimReach = m.reach + 0.04
            let rim = inside.scaled(rimReach, plus: (1 - rimReach) * boneRadius)
            s.paint(.wedge(beta: m.angle - m.width / 2 - gap / 2, width: m.width + gap, gamma: twist, inner: 0, outer: rim), label: imaf)
            let outer = inside.scaled(m.reach, plus: (1 - m.reach) * boneRadius)
            s.paint(.wedge(beta: m.angle - m.width / 2, width: m.width, gamma: twist, inner: 0, outer: outer), label: m.label)
        }
        for m in superficial where m.a > 0.2 && m.b > 0.2 {
            let dir = SIMD2(cos(m.angle), sin(m.angle))
            let depth = inside(Harmonics(cos: dir.x, sin: dir.y)) - m.b - m.rim - 0.5
            let c = dir * depth
            if m.rim > 0 { s.paint(.ellipse(c, m.a + m.rim, m.b + m.rim, angle: m.angle + .pi / 2), label: imaf) }
            s.paint(.ellipse(c, m.a, m.b, angle: m.angle + .pi / 2), label: m.label)
        }
        for e in ellipses where e.a > 0.2 && e.b > 0.2 {
            s.paint(.ellipse(e.c, e.a, e.b, angle: e.angle), label: e.label)
        }
        for b in blobs where b.a > 0.3 && b.b > 0.3 {
            let dir = SIMD2(cos(b.angle), sin(b.angle))
            let r = boneRadius + b.depth * (inside(Harmonics(cos: dir.x, sin: dir.y)) - boneRadius)
            s.paint(.ellipse(dir * r, b.a, b.b, angle: b.orientation), label: imaf)
        }
        let vessel = id("vessel")
        for v in vessels where v.r > 0.3 { s.paint(.circle(v.c, v.r), label: vessel) }
        let bone = id("bone"), marrow = id("bone_marrow")
        s.paint(.disk(Radius(boneRadius)), label: bone)
        s.paint(.disk(Radius(boneRadius - cortex)), label: marrow)
        for b in extraBones where b.a > 0.5 {
            s.paint(.ellipse(b.c, b.a, b.b), label: bone)
            s.paint(.ellipse(b.c, b.a - b.cortex, b.b - b.cortex), label: marrow)
        }
        s.reach = skin.maximum + 1
        return s
    }
}
