#if canImport(Glibc)
import Glibc
#endif

/// A calf from below the knee (t = 0) to above the ankle (t = 1), one subject's sizes drawn
/// from a seed.
///
/// Around the tibia (anteromedial, under thin fat): tibialis anterior lateral to the tibia and
/// extensor digitorum longus beside it in the anterior compartment, peroneus longus lateral
/// around the fibula, soleus posterior with the two gastrocnemius heads superficial to it in
/// the proximal half, and the deep posterior compartment (tibialis posterior between tibia and
/// fibula, flexor digitorum longus medial to it) with the tibial and peroneal vessels.
struct CalfModel: LimbModel {
    var length: Double
    var radius: Double
    var fat: Double
    var tibia: Double
    var cortex: Double
    var fibulaAngle: Double
    var infiltration: Double
    var muscleScale: [Double]
    var blobs: [Blob]

    init(rng: inout SplitMix64, infiltration: Double, fatScale: Double = 1) {
        length = rng.uniform(330, 400)
        radius = rng.uniform(40, 50)
        fat = rng.uniform(3, 12) * fatScale
        tibia = rng.uniform(10.5, 12.5)
        cortex = rng.uniform(3.5, 5)
        fibulaAngle = deg(rng.uniform(-32, -18))
        self.infiltration = infiltration
        muscleScale = (0..<12).map { _ in rng.uniform(0.8, 1.2) }
        blobs = Blob.draw(count: 3 + Int(30 * infiltration), rng: &rng)
    }

    /// This model moved by `weight` toward `o` (the other limb of the same subject).
    func mixed(with o: CalfModel, weight w: Double) -> CalfModel {
        var m = self
        m.radius += w * (o.radius - radius)
        m.fat += w * (o.fat - fat)
        m.tibia += w * (o.tibia - tibia)
        m.cortex += w * (o.cortex - cortex)
        m.muscleScale = zip(muscleScale, o.muscleScale).map { $0 + w * ($1 - $0) }
        m.blobs = o.blobs
        return m
    }

    func section(at t: Double, ids id: (String) -> UInt8) -> LimbSection {
        // The calf is widest a third of the way down and narrows toward the ankle.
        let r0 = radius * (0.88 + 0.12 * plateau(t, 0, 0.3, 0.35, 0.6) - 0.3 * ramp(t, 0.35, 1))
        let f = fat * (1 - 0.2 * t)
        let tibiaRadius = tibia * (1 + 0.7 * (1 - ramp(t, 0, 0.15))) * (1 - 0.1 * ramp(t, 0.5, 1))
        var s = LimbSection(
            skin: Radius(r0, a1: 0.167 * r0, b1: -0.529 * r0, a2: -0.176 * r0, b2: 0.045 * r0, a3: -0.009 * r0, b3: 0.049 * r0),
            fat: Radius(f, a1: 0.3 * f, b1: -0.3 * f),
            fasciaThickness: 1.0,
            boneRadius: tibiaRadius,
            cortex: cortex * (1 - 0.5 * (1 - ramp(t, 0, 0.15))))
        let m = muscleScale
        let inside = s.compartment
        let h = { (a: Double) in Harmonics(cos: cos(a), sin: sin(a)) }
        func at(_ angle: Double, _ r: Double) -> SIMD2<Double> { SIMD2(cos(angle), sin(angle)) * r }
        let fibulaDistance = tibiaRadius + 0.42 * (inside(h(fibulaAngle)) - tibiaRadius)
        let fibula = at(fibulaAngle, fibulaDistance)
        let fibulaRadius = 7.5 * (1 + 0.25 * (1 - ramp(t, 0, 0.12)))
        s.extraBones = [(fibula, fibulaRadius, fibulaRadius * 0.85, 2.4)]
        let taper = 1 - 0.75 * ramp(t, 0.7, 1)
        s.ringStart = deg(150)
        s.gap = deg(2 + 6 * infiltration)
        s.twist = 0.01
        s.ring = [
            (id("soleus"), 150 * m[0] * plateau(t, 0.05, 0.3, 0.8, 1.05) + 1e-3),
            (id("peroneus_longus"), 45 * m[1] * (1 - 0.6 * ramp(t, 0.6, 1))),
            (id("extensor_digitorum_longus"), 32 * m[2] * (0.7 + 0.3 * ramp(t, 0, 0.3))),
            (id("tibialis_anterior"), 75 * m[3] * taper),
            (id("imaf"), 40),
        ]
        s.deep = [
            (id("tibialis_posterior"), deg(-78), deg(48) * m[4] * ramp(t, 0.05, 0.2), 0.38),
            (id("flexor_digitorum_longus"), deg(-128), deg(34) * m[5] * ramp(t, 0.15, 0.4), 0.32),
        ]
        let gastro = 1 - ramp(t, 0.4, 0.68)
        let rim = 0.4 + 2 * infiltration
        s.superficial = [
            (id("gastrocnemius"), deg(-118), 24 * m[6] * gastro, 13 * m[6] * gastro, rim),
            (id("gastrocnemius"), deg(-62), 20 * m[7] * gastro, 10 * m[7] * gastro, rim),
        ]
        s.vessels = [
            (at(deg(12), tibiaRadius + 7), 2.2),
            (at(deg(-112), tibiaRadius + 11), 2.6),
            (at(deg(-52), tibiaRadius + 15), 2.1),
            (at(deg(160), inside(h(deg(160))) + 1 + s.fat(h(deg(160))) * 0.5), 2.0),
            (at(deg(-95), inside(h(deg(-95))) + 1 + s.fat(h(deg(-95))) * 0.5), 1.6),
        ]
        s.blobs = blobs.map { $0.at(t) }
        return s
    }
}
