/// Order statistics without a full sort.
public enum Selection {
    /// The `rank`-th smallest value (0-based) of `values`, which must hold no NaN, by
    /// quickselect (Hoare partition around a median-of-three pivot); `values` is partially
    /// reordered. Equals `values.sorted()[rank]` (order statistics do not depend on the method).
    public static func select(_ values: inout [Float], _ rank: Int) -> Float {
        precondition(rank >= 0 && rank < values.count, "Selection.select: rank out of range")
        var lo = 0, hi = values.count - 1
        values.withUnsafeMutableBufferPointer { a in
            while lo < hi {
                let mid = lo + (hi - lo) / 2
                if a[mid] < a[lo] { a.swapAt(mid, lo) }
                if a[hi] < a[lo] { a.swapAt(hi, lo) }
                if a[hi] < a[mid] { a.swapAt(hi, mid) }
                let pivot = a[mid]
                var i = lo, j = hi
                while i <= j {
                    while a[i] < pivot { i += 1 }
                    while pivot < a[j] { j -= 1 }
                    if i <= j {
                        a.swapAt(i, j)
                        i += 1
                        j -= 1
                    }
                }
                // [lo, j] ≤ pivot, (j, i) == pivot, [i, hi] ≥ pivot.
                if rank <= j { hi = j } else if rank >= i { lo = i } else { break }
            }
        }
        return values[rank]
    }
}
