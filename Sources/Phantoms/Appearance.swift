#if canImport(Glibc)
import Glibc
#endif

/// How tissues look: a mean intensity per tissue row, a smooth bias field and the noise.
struct Appearance: Sendable {
    /// Mean intensity of each tissue row (labels 1...199, `Tissue` rows above).
    var mean: [Float]
    /// MR: multiplicative bias coefficients (linear x, y, z and quadratic in-plane) over
    /// coordinates normalised by 150 mm; all zero for CT.
    var bias: SIMD4<Double>
    /// Noise standard deviation (MR: of each of the two Gaussian channels, Rician magnitude).
    var sigma: Double
    var isCT: Bool
    /// The visit's intensity scale (MR) or 1 (CT).
    var scale: Double = 1

    /// T1-weighted MR: fat bright, marrow bright, muscle intermediate (raised by fat
    /// infiltration), fascia and flowing blood dark, cortex black.
    static func mr(catalog id: (String) -> UInt8, groups: [UInt8: String], infiltration: Double,
                   rng: inout SplitMix64) -> Appearance {
        let scale = rng.uniform(0.6, 2.4)
        var mean = [Float](repeating: 0, count: 256)
        let muscle = 320 + 420 * infiltration
        // Sorted: a Dictionary's order changes from run to run, the draws must not.
        for (label, group) in groups.sorted(by: { $0.key < $1.key }) {
            mean[Int(label)] = Float(scale * (group == "muscle" ? muscle * rng.uniform(0.93, 1.07) : 300))
        }
        func set(_ name: String, _ v: Double) { mean[Int(id(name))] = Float(scale * v * rng.uniform(0.97, 1.03)) }
        set("subcutaneous_fat", 1000); set("imaf", 950); set("bone", 35); set("bone_marrow", 870)
        set("vessel", 110); set("fascia", 200)
        mean[Int(Tissue.air)] = 0
        mean[Int(Tissue.tendon)] = Float(scale * 50)
        let a = rng.uniform(0.1, 0.3)
        let dir = SIMD3(rng.normal(), rng.normal(), rng.normal())
        let len = (dir * dir).sum().squareRoot()
        let b = SIMD4(a * dir.x / len, a * dir.y / len, a * dir.z / len, rng.uniform(-0.15, 0.1))
        return Appearance(mean: mean, bias: b, sigma: scale * rng.uniform(15, 40), isCT: false, scale: scale)
    }

    /// CT in Hounsfield units.
    static func ct(catalog id: (String) -> UInt8, rng: inout SplitMix64) -> Appearance {
        var mean = [Float](repeating: 40, count: 256)
        func set(_ name: String, _ v: Double) { mean[Int(id(name))] = Float(v + rng.uniform(-5, 5)) }
        set("subcutaneous_fat", -105); set("visceral_fat", -95); set("abdominal_wall_muscle", 45); set("psoas", 50)
        set("paraspinal_muscle", 42); set("liver", 62); set("spleen", 48); set("pancreas", 38)
        set("kidney_left", 32); set("kidney_right", 32); set("bone", 850); set("bone_marrow", 230); set("vessel", 42)
        mean[Int(Tissue.air)] = -1000
        mean[Int(Tissue.bowel)] = 25
        mean[Int(Tissue.bowelGas)] = -900
        mean[Int(Tissue.fluid)] = 12
        return Appearance(mean: mean, bias: .zero, sigma: rng.uniform(8, 20), isCT: true)
    }

    /// The bias factor at a point (mm, scanner frame).
    @inline(__always) func biasFactor(_ p: SIMD3<Double>) -> Double {
        if isCT { return 1 }
        let q = p / 150
        return exp(bias.x * q.x + bias.y * q.y + bias.z * q.z + bias.w * (q.x * q.x + q.y * q.y))
    }

    /// The stored value: noise added to the (partial-volume, biased) signal, rounded.
    @inline(__always) func observe(_ signal: Double, rng: inout SplitMix64) -> Float {
        if isCT {
            return Float(max((signal + sigma * rng.normalPair().0).rounded(), -1024))
        }
        let (n1, n2) = rng.normalPair()
        let re = signal + sigma * n1, im = sigma * n2
        return Float((re * re + im * im).squareRoot().rounded())
    }
}
