import Dispatch
import ImagingCore

/// Renders labels and image voxel by voxel, slices in parallel.
///
/// Labels are the class at each voxel centre. Intensities: a voxel whose 6 neighbours all share
/// its label takes its tissue's mean; any other voxel averages the tissues at the 2×2×2 points
/// at ±¼ voxel from its centre, the centres of its eight octants (partial volume). Then the bias field multiplies and the noise
/// (Rician for MR, Gaussian for CT) is added, each slice from its own seeded stream.
struct Rasterizer: Sendable {
    let body: Body
    let acquisition: Acquisition
    let appearance: Appearance
    let seed: UInt64
    let visit: UInt64
    let frames: [PartFrame]

    init(body: Body, acquisition: Acquisition, appearance: Appearance, seed: UInt64, visit: UInt64) {
        self.body = body
        self.acquisition = acquisition
        self.appearance = appearance
        self.seed = seed
        self.visit = visit
        frames = body.frames
    }

    struct Counts {
        /// Voxels of each label.
        var voxels: [Int]
        /// Voxels on each label's boundary (see `PhantomTruth.ClassTruth.boundaryVoxels`).
        var boundary: [Int]
    }

    func render() -> (labels: [Int32], image: [Float], counts: Counts) {
        let nx = acquisition.shape[0], ny = acquisition.shape[1], nz = acquisition.shape[2]
        let plane = nx * ny
        var labels = [Int32](repeating: 0, count: plane * nz)
        var tissue = [UInt8](repeating: 0, count: plane * nz)
        var image = [Float](repeating: 0, count: plane * nz)
        var sliceVoxels = [[Int]](repeating: [], count: nz)
        var sliceBoundary = [[Int]](repeating: [], count: nz)

        // Pass 1: label and tissue at voxel centres.
        labels.withUnsafeMutableBufferPointer { lb in
            tissue.withUnsafeMutableBufferPointer { tb in
                sliceVoxels.withUnsafeMutableBufferPointer { vb in
                    let L = SendableBuffer(base: lb.baseAddress!), T = SendableBuffer(base: tb.baseAddress!)
                    let V = SendableBuffer(base: vb.baseAddress!)
                    DispatchQueue.concurrentPerform(iterations: nz) { k in
                        var count = [Int](repeating: 0, count: 256)
                        let sections = sections(at: Double(k))
                        for j in 0..<ny {
                            for i in 0..<nx {
                                let s = sample(Double(i), Double(j), Double(k), sections)
                                let o = i + nx * (j + ny * k)
                                L.base[o] = Int32(s.label)
                                T.base[o] = s.tissue
                                count[Int(s.label)] += 1
                            }
                        }
                        V.base[k] = count
                    }
                }
            }
        }
        // Pass 2: partial volume at boundaries, bias and noise.
        labels.withUnsafeBufferPointer { lb in
            tissue.withUnsafeBufferPointer { tb in
                image.withUnsafeMutableBufferPointer { ib in
                    sliceBoundary.withUnsafeMutableBufferPointer { bb in
                        let L = lb.baseAddress!, T = tb.baseAddress!
                        let I = SendableBuffer(base: ib.baseAddress!), B = SendableBuffer(base: bb.baseAddress!)
                        let LS = SendableBuffer(base: UnsafeMutablePointer(mutating: L)), TS = SendableBuffer(base: UnsafeMutablePointer(mutating: T))
                        DispatchQueue.concurrentPerform(iterations: nz) { k in
                            var rng = SplitMix64(seed: seed, stream: PhantomGenerator.Stream.noise.rawValue, visit, UInt64(k))
                            var boundary = [Int](repeating: 0, count: 256)
                            let offsets = [-0.25, 0.25]
                            let sub = [sections(at: Double(k) - 0.25), sections(at: Double(k) + 0.25)]
                            var neighbours = [Int32](repeating: 0, count: 6)
                            for j in 0..<ny {
                                for i in 0..<nx {
                                    let o = i + nx * (j + ny * k)
                                    let l = LS.base[o]
                                    var m = 0
                                    if i > 0 { neighbours[m] = LS.base[o - 1]; m += 1 }
                                    if i < nx - 1 { neighbours[m] = LS.base[o + 1]; m += 1 }
                                    if j > 0 { neighbours[m] = LS.base[o - nx]; m += 1 }
                                    if j < ny - 1 { neighbours[m] = LS.base[o + nx]; m += 1 }
                                    if k > 0 { neighbours[m] = LS.base[o - plane]; m += 1 }
                                    if k < nz - 1 { neighbours[m] = LS.base[o + plane]; m += 1 }
                                    var signal: Double
                                    var edge = false
                                    for a in 0..<m where neighbours[a] != l {
                                        edge = true
                                        // Count each distinct other label once.
                                        var first = true
                                        for b in 0..<a where neighbours[b] == neighbours[a] { first = false; break }
                                        if first { boundary[Int(neighbours[a])] += 1 }
                                    }
                                    if edge {
                                        boundary[Int(l)] += 1
                                        var sum = 0.0
                                        for c in 0..<2 {
                                            for b in 0..<2 {
                                                for a in 0..<2 {
                                                    let s = sample(Double(i) + offsets[a], Double(j) + offsets[b],
                                                                   Double(k) + offsets[c], sub[c])
                                                    sum += Double(appearance.mean[Int(s.tissue)])
                                                }
                                            }
                                        }
                                        signal = sum / 8
                                    } else {
                                        signal = Double(appearance.mean[Int(TS.base[o])])
                                    }
                                    let p = acquisition.ras(acquisition.body(Double(i), Double(j), Double(k)))
                                    signal *= appearance.biasFactor(p)
                                    I.base[o] = appearance.observe(signal, rng: &rng)
                                }
                            }
                            B.base[k] = boundary
                        }
                    }
                }
            }
        }
        var counts = Counts(voxels: [Int](repeating: 0, count: 256), boundary: [Int](repeating: 0, count: 256))
        for k in 0..<nz {
            for c in 0..<256 {
                counts.voxels[c] += sliceVoxels[k][c]
                counts.boundary[c] += sliceBoundary[k][c]
            }
        }
        return (labels, image, counts)
    }

    /// Each part's cross-section at (fractional) slice index k.
    func sections(at k: Double) -> [CrossSection] {
        let z = acquisition.sliceZ(k)
        return body.parts.map { $0.section(z) }
    }

    /// (label, tissue) at a fractional voxel index, with the sections of its slice position.
    @inline(__always) func sample(_ i: Double, _ j: Double, _ k: Double, _ sections: [CrossSection]) -> (label: UInt8, tissue: UInt8) {
        let b = acquisition.body(i, j, k)
        let p = SIMD2(b.x, b.y)
        let part = sections.count == 1 ? 0 : (p.x > 0 ? 1 : 0)
        return sections.withUnsafeBufferPointer { s in
            frames.withUnsafeBufferPointer { f in s[part].sample(f[part].local(p)) }
        }
    }
}
