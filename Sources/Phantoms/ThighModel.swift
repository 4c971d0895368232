#if canImport(Glibc)
import Glibc
#endif

/// A thigh from the hip (t = 0) to the knee (t = 1), one subject's sizes drawn from a seed.
///
/// Around the femur: the quadriceps anterior (vastus lateralis, medialis, intermedius deep on
/// the bone, rectus femoris superficial), the adductors medial (longus and brevis proximal,
/// magnus down to the distal third), gracilis medial under the fascia, sartorius crossing from
/// anterolateral to medial with the femoral vessels beneath it, the hamstrings posterior
/// (semimembranosus growing distally, semitendinosus superficial, biceps femoris long head
/// lateral and the short head deep in the distal half).
struct ThighModel: LimbModel {
    var length: Double
    var radius: Double
    var fat: Double
    var fatPosterior: Double
    var femur: Double
    var cortex: Double
    var offset: SIMD2<Double>
    var infiltration: Double
    var muscleScale: [Double]
    var blobs: [Blob]

    init(rng: inout SplitMix64, infiltration: Double, fatScale: Double = 1) {
        length = rng.uniform(340, 430)
        radius = rng.uniform(62, 84)
        fat = rng.uniform(5, 22) * fatScale
        fatPosterior = rng.uniform(-0.2, 0.35)
        femur = rng.uniform(11.5, 14)
        cortex = rng.uniform(4.5, 6.5)
        offset = SIMD2(rng.uniform(0.06, 0.14), rng.uniform(0.08, 0.16))
        self.infiltration = infiltration
        muscleScale = (0..<16).map { _ in rng.uniform(0.8, 1.2) }
        blobs = Blob.draw(count: 4 + Int(40 * infiltration), rng: &rng)
    }

    /// This model moved by `weight` toward `o` (the other limb of the same subject).
    func mixed(with o: ThighModel, weight w: Double) -> ThighModel {
        var m = self
        m.radius += w * (o.radius - radius)
        m.fat += w * (o.fat - fat)
        m.fatPosterior += w * (o.fatPosterior - fatPosterior)
        m.femur += w * (o.femur - femur)
        m.cortex += w * (o.cortex - cortex)
        m.muscleScale = zip(muscleScale, o.muscleScale).map { $0 + w * ($1 - $0) }
        m.blobs = o.blobs
        return m
    }

    func section(at t: Double, ids id: (String) -> UInt8) -> LimbSection {
        let r0 = radius * (1.12 - 0.32 * t) * (1 - 0.1 * ramp(t, 0.85, 1))
        let f = fat * (1.25 - 0.4 * t)
        var s = LimbSection(
            skin: Radius(r0, a1: -offset.x * r0, b1: -offset.y * r0, a2: 0.05 * r0, b2: 0.02 * r0),
            fat: Radius(f, a1: -0.1 * f, b1: -fatPosterior * f, a2: 0.1 * f),
            fasciaThickness: 1.2,
            boneRadius: femur + 16 * pow(ramp(t, 0.72, 1.02), 1.5),
            cortex: cortex * (1 - 0.65 * ramp(t, 0.68, 0.95)))
        let m = muscleScale
        // Ring of muscles counter-clockwise from posterolateral (-55°).
        s.ringStart = deg(-55)
        s.gap = deg(2 + 6 * infiltration)
        s.twist = 0.008
        s.ring = [
            (id("vastus_lateralis"), 85 * m[0] * (1 - 0.3 * ramp(t, 0.6, 1))),
            (id("vastus_medialis"), m[1] * (25 + 70 * ramp(t, 0.3, 0.9))),
            (id("adductor_longus"), 45 * m[2] * (1 - ramp(t, 0.45, 0.68))),
            (id("adductor_magnus"), 80 * m[3] * (1 - ramp(t, 0.7, 0.93))),
            (id("semimembranosus"), m[4] * (12 + 40 * ramp(t, 0.15, 0.7)) * (1 - 0.5 * ramp(t, 0.9, 1))),
            (id("biceps_femoris_long_head"), 48 * m[5] * (1 - 0.4 * ramp(t, 0.8, 1))),
        ]
        let depth = 1 - 0.3 * ramp(t, 0.75, 1)
        s.deep = [
            (id("vastus_intermedius"), deg(95), deg(120 + 30 * t) * m[6], 0.42 * depth * (1 - 0.6 * ramp(t, 0.85, 1))),
            (id("adductor_brevis"), deg(168), deg(38) * m[7] * (1 - ramp(t, 0.3, 0.48)), 0.55),
            (id("biceps_femoris_short_head"), deg(-62), deg(42) * m[8] * ramp(t, 0.38, 0.6), 0.5 * depth),
        ]
        let rim = 0.7 + 2.5 * infiltration
        let sartoriusAngle = deg(75 + 115 * ramp(t, 0, 1))
        s.superficial = [
            (id("rectus_femoris"), deg(92), r0 * 0.3 * m[9] * (1 - 0.75 * ramp(t, 0.7, 0.97)),
             r0 * 0.2 * m[9] * (1 - 0.8 * ramp(t, 0.7, 0.97)), rim),
            (id("sartorius"), sartoriusAngle, 14 * m[10], 6 * m[10], rim),
            (id("gracilis"), deg(196), 9 * m[11] * (0.8 + 0.4 * t), 5.5 * m[11], rim),
            (id("semitendinosus"), deg(252), 15 * m[12] * (1 - 0.7 * ramp(t, 0.7, 1)),
             11 * m[12] * (1 - 0.7 * ramp(t, 0.7, 1)), rim),
        ]
        // Femoral artery and vein under sartorius; deep femoral artery proximally; great
        // saphenous vein in the medial subcutaneous fat.
        let inside = s.compartment
        func at(_ angle: Double, _ r: Double) -> SIMD2<Double> { SIMD2(cos(angle), sin(angle)) * r }
        let h = { (a: Double) in Harmonics(cos: cos(a), sin: sin(a)) }
        let canal = s.boneRadius + 0.45 * (inside(h(sartoriusAngle)) - s.boneRadius)
        s.vessels = [
            (at(sartoriusAngle - 0.08, canal), 3.4),
            (at(sartoriusAngle + 0.1, canal - 1), 4.2),
            (at(deg(200), s.boneRadius + 7), 2.4 * (1 - ramp(t, 0.45, 0.65))),
            (at(deg(175), inside(h(deg(175))) + 1.2 + s.fat(h(deg(175))) * 0.45), 2.2),
        ]
        s.blobs = blobs.map { $0.at(t) }
        return s
    }
}

/// A pocket of intermuscular fat that appears and vanishes along the limb.
struct Blob {
    var angle: Double, depth: Double, a: Double, b: Double, orientation: Double, centre: Double, half: Double

    static func draw(count: Int, rng: inout SplitMix64) -> [Blob] {
        (0..<count).map { _ in
            Blob(angle: rng.uniform(0, 2 * .pi), depth: rng.uniform(0.35, 0.9), a: rng.uniform(1.5, 5),
                 b: rng.uniform(1, 2.5), orientation: rng.uniform(0, .pi), centre: rng.uniform(0, 1), half: rng.uniform(0.08, 0.3))
        }
    }

    /// The blob at limb position t (semi-axes shrink to zero away from its centre).
    func at(_ t: Double) -> (angle: Double, depth: Double, a: Double, b: Double, orientation: Double) {
        let x = (t - centre) / half
        let s = x * x < 1 ? (1 - x * x).squareRoot() : 0
        return (angle, depth, a * s, b * s, orientation)
    }
}

/// A limb model: a cross-section at every position t along its length.
protocol LimbModel: Sendable {
    var length: Double { get }
    func section(at t: Double, ids: (String) -> UInt8) -> LimbSection
}
