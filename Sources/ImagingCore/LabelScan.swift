import Dispatch

/// Whole-volume passes over label maps, in parallel chunks (each chunk's result is its own;
/// the results are combined afterwards, so they equal one sequential pass).
extension Volume where Element == Int32 {
    /// Chunks for a pass over `count` values: about 256 Ki values each, at least one.
    static func labelChunks(_ count: Int) -> Int { Swift.max(1, Swift.min(64, count >> 18)) }

    /// The largest value (`data.max()`), nil for an empty volume.
    public func largestValue() -> Int32? {
        let count = data.count, chunks = Self.labelChunks(count)
        guard count > 0 else { return nil }
        var parts = [Int32](repeating: .min, count: chunks)
        data.withUnsafeBufferPointer { lab in
            let src = SendableBuffer(base: UnsafeMutablePointer(mutating: lab.baseAddress!))
            parts.withUnsafeMutableBufferPointer { out in
                let dst = SendableBuffer(base: out.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: chunks) { c in
                    var m = Int32.min
                    for i in (count * c / chunks)..<(count * (c + 1) / chunks) { m = Swift.max(m, src.base[i]) }
                    dst.base[c] = m
                }
            }
        }
        return parts.max()
    }

    /// Which ids in `1 ... maxID` occur (index = id; index 0 is always false).
    public func idsPresent(upTo maxID: Int) -> [Bool] {
        let count = data.count, chunks = Self.labelChunks(count), width = Swift.max(maxID, 0) + 1
        var seen = [Bool](repeating: false, count: chunks * width)
        data.withUnsafeBufferPointer { lab in
            guard let base = lab.baseAddress else { return }
            let src = SendableBuffer(base: UnsafeMutablePointer(mutating: base))
            seen.withUnsafeMutableBufferPointer { out in
                let dst = SendableBuffer(base: out.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: chunks) { c in
                    let mine = dst.base + c * width
                    let lo = count * c / chunks, hi = count * (c + 1) / chunks
                    guard lo < hi else { return }
                    @inline(__always) func note(_ v: Int32) { if v > 0 && Int(v) <= maxID { mine[Int(v)] = true } }
                    // Label maps are long runs of one id: a block of 8 equal to the last value
                    // noted adds nothing, so only blocks that hold another value are looked into.
                    var i = lo, last = src.base[lo]
                    note(last)
                    let raw = UnsafeRawPointer(src.base)
                    while i + 8 <= hi {
                        let block = raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Int32>.self)
                        if block != SIMD8(repeating: last) {
                            for l in 0..<8 { note(block[l]) }
                            last = block[7]
                        }
                        i += 8
                    }
                    while i < hi { note(src.base[i]); i += 1 }
                }
            }
        }
        var present = [Bool](repeating: false, count: width)
        for c in 0..<chunks { for id in 1..<width where seen[c * width + id] { present[id] = true } }
        return present
    }

    /// The reference twin of `idsPresent`: one sequential pass, every voxel looked at.
    public func referenceIDsPresent(upTo maxID: Int) -> [Bool] {
        var present = [Bool](repeating: false, count: Swift.max(maxID, 0) + 1)
        for v in data where v > 0 && Int(v) <= maxID { present[Int(v)] = true }
        return present
    }
}
