// Sums over long Float rows, the batch-norm and bias-gradient reductions. LLVM vectorises the
// element-wise loops by itself but not a Float reduction (it may not reorder the additions),
// so these keep 8 lanes of partial sums explicitly and flush them to Double every 256
// elements: 8-12x faster than a scalar Double accumulator, and as accurate for our purposes.
// (No `addingProduct`: without FMA in the target it becomes a library call per lane.)

private let flushEvery = 256

@inline(__always) private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

/// sum of x[0..<count].
func reduceSum(_ x: UnsafePointer<Float>, _ count: Int) -> Double {
    var total = 0.0
    var start = 0
    while start < count {
        let end = min(count, start + flushEvery)
        var s = SIMD8<Float>()
        var i = start
        while i + 8 <= end {
            s += load8(x + i)
            i += 8
        }
        var tail: Float = 0
        while i < end {
            tail += x[i]
            i += 1
        }
        total += Double(s.sum() + tail)
        start = end
    }
    return total
}

/// (sum of (x - shift), sum of (x - shift)^2) over x[0..<count].
func reduceShiftedSums(_ x: UnsafePointer<Float>, _ count: Int, shift: Float) -> (Double, Double) {
    var total = 0.0, totalSq = 0.0
    var start = 0
    while start < count {
        let end = min(count, start + flushEvery)
        var s = SIMD8<Float>(), q = SIMD8<Float>()
        var i = start
        while i + 8 <= end {
            let v = load8(x + i) - shift
            s += v
            q += v * v
            i += 8
        }
        var st: Float = 0, qt: Float = 0
        while i < end {
            let v = x[i] - shift
            st += v
            qt += v * v
            i += 1
        }
        total += Double(s.sum() + st)
        totalSq += Double(q.sum() + qt)
        start = end
    }
    return (total, totalSq)
}

/// With g = (y > 0 ? dy : 0): (sum of g, sum of g * (x - mu)) over [0..<count].
func reduceMaskedSums(dy: UnsafePointer<Float>, y: UnsafePointer<Float>, x: UnsafePointer<Float>, _ count: Int, mu: Float) -> (Double, Double) {
    var total = 0.0, totalX = 0.0
    var start = 0
    let zero = SIMD8<Float>()
    while start < count {
        let end = min(count, start + flushEvery)
        var s = SIMD8<Float>(), q = SIMD8<Float>()
        var i = start
        while i + 8 <= end {
            let g = load8(dy + i).replacing(with: zero, where: load8(y + i) .<= zero)
            s += g
            q += g * (load8(x + i) - mu)
            i += 8
        }
        var st: Float = 0, qt: Float = 0
        while i < end {
            let g = y[i] > 0 ? dy[i] : 0
            st += g
            qt += g * (x[i] - mu)
            i += 1
        }
        total += Double(s.sum() + st)
        totalX += Double(q.sum() + qt)
        start = end
    }
    return (total, totalX)
}
