@testable import NeuralEngine

/// A test-owned Float buffer (the kernels take raw pointers). Bind it to a name that outlives
/// the call: `Buf(n).p` as an argument may be freed before the kernel runs.
final class Buf {
    let count: Int
    let p: UnsafeMutablePointer<Float>

    init(_ count: Int, fill: Float = 0) {
        self.count = count
        p = .allocate(capacity: max(count, 1))
        p.initialize(repeating: fill, count: max(count, 1))
    }

    /// Uniform random values in [-scale, scale).
    convenience init(random count: Int, seed: UInt64, scale: Float = 1) {
        self.init(count)
        var rng = SeededGenerator(seed: seed)
        for i in 0..<count { p[i] = rng.nextFloat(bound: scale) }
    }

    convenience init(_ values: [Float]) {
        self.init(values.count)
        for i in values.indices { p[i] = values[i] }
    }

    deinit { p.deallocate() }

    var array: [Float] { Array(UnsafeBufferPointer(start: p, count: count)) }
    var c: UnsafePointer<Float> { UnsafePointer(p) }
    func zero() { p.update(repeating: 0, count: count) }
}

/// max |a - b| / max(max |b|, floor): a scale-aware error that does not blow up on tiny entries.
func relativeError(_ a: [Float], _ b: [Float], floor: Float = 1e-3) -> Float {
    precondition(a.count == b.count)
    var diff: Float = 0, scale = floor
    for i in a.indices {
        diff = max(diff, abs(a[i] - b[i]))
        scale = max(scale, abs(b[i]))
    }
    return diff / scale
}

func relativeError(_ a: [Double], _ b: [Double], floor: Double = 1e-3) -> Double {
    precondition(a.count == b.count)
    var diff = 0.0, scale = floor
    for i in a.indices {
        diff = max(diff, abs(a[i] - b[i]))
        scale = max(scale, abs(b[i]))
    }
    return diff / scale
}

/// sum_i x[i] * r[i] accumulated in Double: the scalar "loss" whose gradient w.r.t. x is r.
func dot(_ x: UnsafePointer<Float>, _ r: UnsafePointer<Float>, _ count: Int) -> Double {
    var s = 0.0
    for i in 0..<count { s += Double(x[i]) * Double(r[i]) }
    return s
}

/// Central finite differences of `loss` w.r.t. `values[i]` for each i in `indices`.
/// The loss is evaluated in Float kernels and summed in Double; eps is chosen per op by the caller.
func numericalGradient(_ values: UnsafeMutablePointer<Float>, indices: [Int], eps: Float, loss: () -> Double) -> [Double] {
    indices.map { i in
        let saved = values[i]
        values[i] = saved + eps
        let plus = loss()
        values[i] = saved - eps
        let minus = loss()
        values[i] = saved
        return (plus - minus) / (2 * Double(eps))
    }
}

/// A few evenly spread indices (all when count is small).
func sampleIndices(_ count: Int, max m: Int = 40) -> [Int] {
    count <= m ? Array(0..<count) : (0..<m).map { $0 * count / m }
}
