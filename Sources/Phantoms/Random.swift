/// SplitMix64 (Steele, Lea and Flood 2014): a tiny, fast, well-mixed 64-bit generator. The
/// phantoms use it instead of Foundation's random sources so that a seed gives the same bytes
/// on every machine and Swift version.
public struct SplitMix64: Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A generator for an independent stream: the seed mixed with stream labels.
    public init(seed: UInt64, stream: UInt64...) {
        var s = SplitMix64(seed: seed)
        var mixed = s.next()
        for label in stream {
            s = SplitMix64(seed: mixed ^ (label &* 0x9E37_79B9_7F4A_7C15))
            mixed = s.next()
        }
        state = mixed
    }

    @inline(__always) public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always) public mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform in [a, b).
    @inline(__always) public mutating func uniform(_ a: Double, _ b: Double) -> Double { a + (b - a) * uniform() }

    /// Uniform integer in a closed range.
    public mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }

    /// A standard normal deviate (Box–Muller; one of the pair).
    @inline(__always) public mutating func normal() -> Double {
        let u1 = max(uniform(), 0x1p-60), u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// Two independent standard normal deviates (Marsaglia's polar method: no trigonometry).
    @inline(__always) public mutating func normalPair() -> (Double, Double) {
        while true {
            let u = 2 * uniform() - 1, v = 2 * uniform() - 1
            let s = u * u + v * v
            if s > 0 && s < 1 {
                let f = (-2 * log(s) / s).squareRoot()
                return (u * f, v * f)
            }
        }
    }

    /// A value near `mean`, scaled by a uniform factor in [1 - spread, 1 + spread].
    public mutating func vary(_ mean: Double, _ spread: Double) -> Double { mean * uniform(1 - spread, 1 + spread) }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
