#if canImport(Glibc)
import Glibc
#endif

/// An abdomen from the liver dome (t = 0) to the lower lumbar spine (t = 1), one subject's
/// sizes drawn from a seed. Frame: origin at the body's centre, u = patient right (RAS +x),
/// v = anterior (RAS +y).
///
/// Skin, subcutaneous fat, the abdominal wall muscles and the visceral fat that fills the
/// cavity; the liver on the right (with its left lobe across the midline), the spleen on the
/// left and posterior, the kidneys either side of the spine (the right one lower), the
/// pancreas across the midline in front of the aorta, aorta and vena cava, the psoas growing
/// beside the lumbar vertebrae, the paraspinal muscles behind them, and bowel loops with gas
/// (label 0, background) in front.
struct AbdomenModel: Sendable {
    let length: Double
    let halfWidth: Double
    let halfDepth: Double
    let fat: Double
    let visceral: Double
    let wall: Double
    let organScale: [Double]
    let bowel: [(c: SIMD2<Double>, a: Double, b: Double, angle: Double, centre: Double, half: Double, gas: Bool)]

    init(rng: inout SplitMix64, fatScale: Double = 1) {
        length = rng.uniform(240, 280)
        halfWidth = rng.uniform(135, 175)
        halfDepth = rng.uniform(95, 130)
        fat = rng.uniform(8, 35) * fatScale
        visceral = rng.uniform(0, 1)
        wall = rng.uniform(8, 13)
        organScale = (0..<10).map { _ in rng.uniform(0.85, 1.15) }
        var loops: [(c: SIMD2<Double>, a: Double, b: Double, angle: Double, centre: Double, half: Double, gas: Bool)] = []
        for n in 0..<14 {
            loops.append((SIMD2(rng.uniform(-0.5, 0.5), rng.uniform(0.0, 0.55)), rng.uniform(12, 26), rng.uniform(8, 16),
                          rng.uniform(0, .pi), rng.uniform(0.25, 1.1), rng.uniform(0.12, 0.35), n % 3 == 0))
        }
        bowel = loops
    }

    /// Semi-axis factor of an ellipsoid-like organ spanning [a, b] along t.
    @inline(__always) func extent(_ t: Double, _ a: Double, _ b: Double) -> Double {
        let x = (2 * t - a - b) / (b - a)
        return x * x < 1 ? (1 - x * x).squareRoot() : 0
    }

    func section(at t: Double, ids id: (String) -> UInt8) -> CrossSection {
        let W = halfWidth * (0.95 + 0.1 * t), D = halfDepth
        let m = organScale
        var s = CrossSection()
        let skin = Radius(0.5 * (W + D), b1: 0.04 * D, a2: 0.5 * (W - D))
        let fatCurve = Radius(fat, b1: 0.2 * fat, a2: 0.1 * fat)
        var wallOuter = skin
        wallOuter.c -= fatCurve.c
        // The cavity stops short of the spine behind: a posterior bulge of the wall.
        let cavity = wallOuter.scaled(1, plus: -wall - 0.05 * D).adding(b1: 0.05 * D)
        s.paint(.disk(skin), label: id("subcutaneous_fat"))
        s.paint(.disk(wallOuter), label: id("abdominal_wall_muscle"))
        s.paint(.disk(cavity), label: id("visceral_fat"))
        for loop in bowel {
            let x = (t - loop.centre) / loop.half
            let k = x * x < 1 ? (1 - x * x).squareRoot() : 0
            let c = SIMD2(loop.c.x * W, loop.c.y * D)
            s.paint(.ellipse(c, loop.a * k, loop.b * k, angle: loop.angle + t), label: 0, tissue: Tissue.bowel)
            if loop.gas { s.paint(.ellipse(c + SIMD2(0, 0.3 * loop.b * k), 0.5 * loop.a * k, 0.3 * loop.b * k, angle: 0), label: 0, tissue: Tissue.bowelGas) }
        }
        let spineY = -0.5 * D
        let liver = extent(t, -0.3, 0.72) * m[0]
        s.paint(.ellipse(SIMD2(0.42 * W, 0.08 * D), 0.42 * W * liver, 0.56 * D * liver, angle: deg(-25)), label: id("liver"))
        let leftLobe = extent(t, -0.2, 0.32) * m[1]
        s.paint(.ellipse(SIMD2(-0.05 * W, 0.4 * D), 0.32 * W * leftLobe, 0.22 * D * leftLobe, angle: deg(10)), label: id("liver"))
        let spleen = extent(t, -0.15, 0.4) * m[2]
        s.paint(.ellipse(SIMD2(-0.62 * W, -0.22 * D), 0.16 * W * spleen, 0.32 * D * spleen, angle: deg(-35)), label: id("spleen"))
        let pancreas = extent(t, 0.2, 0.48) * m[5]
        s.paint(.ellipse(SIMD2(-0.12 * W, spineY + 0.55 * D), 0.36 * W * pancreas, 11 * pancreas, angle: deg(-18)), label: id("pancreas"))
        // Organs end at the cavity: the wall and the fat are painted again over them.
        s.paint(.ring(inner: cavity, outer: wallOuter), label: id("abdominal_wall_muscle"))
        s.paint(.ring(inner: wallOuter, outer: skin), label: id("subcutaneous_fat"))
        // Retroperitoneal organs: kidneys, psoas and the great vessels lie behind the cavity.
        let kl = extent(t, 0.18, 0.72) * m[3], kr = extent(t, 0.25, 0.8) * m[4]
        s.paint(.ellipse(SIMD2(-0.36 * W, spineY + 0.12 * D), 30 * kl, 22 * kl, angle: deg(-60)), label: id("kidney_left"))
        s.paint(.ellipse(SIMD2(0.36 * W, spineY + 0.1 * D), 30 * kr, 22 * kr, angle: deg(60)), label: id("kidney_right"))
        let vessel = id("vessel")
        s.paint(.circle(SIMD2(-16, spineY + 0.3 * D), 10.5 * m[6]), label: vessel)
        s.paint(.ellipse(SIMD2(20, spineY + 0.3 * D), 13 * m[7], 9 * m[7]), label: vessel)
        let psoas = (6 + 20 * ramp(t, 0.3, 1)) * m[8]
        for side in [-1.0, 1.0] {
            s.paint(.ellipse(SIMD2(side * (24 + 0.8 * psoas), spineY + 0.08 * D), psoas, psoas * 0.85, angle: 0), label: id("psoas"))
        }
        // Paraspinal muscles in the posterior wall, either side of the spinous process.
        let back = wallOuter(Harmonics(cos: 0, sin: -1))
        let para = SIMD2(24 * m[9], 17 * m[9])
        for side in [-1.0, 1.0] {
            s.paint(.ellipse(SIMD2(side * (para.x + 5), -(back - para.y - 1)), para.x, para.y, angle: side * deg(12)),
                    label: id("paraspinal_muscle"))
        }
        let bone = id("bone"), marrow = id("bone_marrow")
        let body = 17 + 4 * t
        s.paint(.circle(SIMD2(0, spineY), body), label: bone)
        s.paint(.circle(SIMD2(0, spineY), body - 1.8), label: marrow)
        // The vertebral arch around the spinal canal, and the spinous process behind it.
        s.paint(.ellipse(SIMD2(0, spineY - body - 8), 13, 10), label: bone)
        s.paint(.ellipse(SIMD2(0, spineY - body - 28), 4, 12), label: bone)
        s.paint(.circle(SIMD2(0, spineY - body - 8), 7), label: 0, tissue: Tissue.fluid)
        s.reach = skin.maximum + 1
        return s
    }
}

extension Radius {
    /// The curve with first-harmonic terms added.
    func adding(a1: Double = 0, b1: Double = 0) -> Radius {
        var r = self
        r.c[1] += a1
        r.c[2] += b1
        return r
    }
}
