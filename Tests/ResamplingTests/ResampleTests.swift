import Foundation
import ImagingCore
import Testing
@testable import Resampling

/// A source grid that is oblique, anisotropic and left-handed (LPS rotated 17° about an oblique axis).
let obliqueSource = makeGrid("LPS", shape: [20, 24, 12], spacing: SIMD3(1.1, 0.9, 2.5),
                             rotationAxis: SIMD3(0.3, -0.5, 1), degrees: 17)

/// A ramp linear in world position; trilinear interpolation reproduces it exactly.
func ramp(_ p: SIMD3<Double>) -> Float { Float(0.3 * p.x - 0.7 * p.y + 1.1 * p.z + 5) }

@Suite("Resampling onto a target grid")
struct ResampleTests {
    /// Rotations whose `inverse * affine` misses the identity by ±1e-16 (so the 1e-9 snap matters).
    @Test("same grid is the identity, bit for bit, for images, labels and channels", arguments: [17, 59.4, 66.7, 74])
    func identity(_ degrees: Double) {
        let grid = makeGrid("LPS", shape: [20, 24, 12], spacing: SIMD3(1.1, 0.9, 2.5),
                            rotationAxis: SIMD3(0.3, -0.5, 1), degrees: degrees)
        let image = randomImage(grid, seed: 1)
        #expect(resample(image, onto: grid).data == image.data)
        let labels = image.map { Int32($0 * 50) }
        #expect(resample(labels, onto: grid).data == labels.data)
        let channels = ChannelVolume(grid: grid, channels: [image.data, randomImage(grid, seed: 2).data])
        #expect(resample(channels, onto: grid).data == channels.data)
    }

    /// Checks `ramp` on every target voxel whose centre lies between source centres, and the
    /// fill value on every target voxel outside the source's extent. Returns both counts.
    func checkRamp(onto target: Grid, source: Grid = obliqueSource) -> (inside: Int, outside: Int) {
        let image = sampled(source, ramp)
        let fill: Float = -1234
        let out = resample(image, onto: target, fill: fill)
        let inv = source.affine.inverse!
        var inside = 0, outside = 0, worst: Float = 0
        forEachVoxel(target) { i, j, k in
            let w = world(target, i, j, k)
            let p = inv.apply(w)
            let n = source.shape.map(Double.init)
            // Between centres: trilinear is exact there (an axis of one voxel: on its plane).
            let between = (0..<3).allSatisfy { a in
                n[a] == 1 ? abs(p[a]) < 1e-6 : p[a] >= -1e-9 && p[a] <= n[a] - 1 + 1e-9
            }
            let beyond = (0..<3).contains { p[$0] < -0.5 - 1e-9 || p[$0] > n[$0] - 0.5 + 1e-9 }
            if between {
                inside += 1
                worst = max(worst, abs(out[i, j, k] - ramp(w)))
            } else if beyond {
                outside += 1
                #expect(out[i, j, k] == fill)
            }
        }
        #expect(worst < 1e-3, "trilinear must reproduce a linear function; worst error \(worst)")
        return (inside, outside)
    }

    @Test("a linear ramp on a shifted grid gives the analytic values")
    func rampShifted() {
        var target = obliqueSource
        target.affine.origin += SIMD3(0.37, -0.52, 1.3)
        let n = checkRamp(onto: target)
        #expect(n.inside > 2000 && n.outside > 100)
    }

    @Test("a linear ramp on a rotated, finer grid gives the analytic values")
    func rampRotated() {
        let target = makeGrid("RAS", shape: [30, 30, 20], spacing: SIMD3(0.7, 0.7, 1.2),
                              origin: SIMD3(-20, 10, -15), rotationAxis: SIMD3(0, 0, 1), degrees: 20)
        let n = checkRamp(onto: target)
        #expect(n.inside > 2000 && n.outside > 100)
    }

    @Test("a linear ramp on an oblique, permuted grid gives the analytic values")
    func rampOblique() {
        let target = makeGrid("SRP", shape: [16, 25, 22], spacing: SIMD3(1.7, 0.6, 0.8),
                              origin: SIMD3(-15, 20, -18), rotationAxis: SIMD3(1, 1, 0), degrees: -33)
        let n = checkRamp(onto: target)
        #expect(n.inside > 1000 && n.outside > 100)
    }

    @Test("a single-slice source resamples in plane (no neighbour slice is read)")
    func singleSlice() {
        let source = makeGrid("LPS", shape: [12, 10, 1], spacing: SIMD3(1.0, 1.0, 5.0))
        var target = makeGrid("LPS", shape: [30, 26, 1], spacing: SIMD3(0.45, 0.45, 5.0))
        target.affine.origin = source.affine.origin
        let n = checkRamp(onto: target, source: source)
        #expect(n.inside > 300 && n.outside > 10)
    }

    @Test("nearest labels on a grid shifted by whole voxels are an exact shift")
    func nearestShift() {
        var rng = SeededGenerator(seed: 3)
        let labels = LabelVolume(grid: obliqueSource, data: (0..<obliqueSource.voxelCount).map { _ in Int32.random(in: 1...9, using: &rng) })
        let shift = (2, -3, 1)
        let target = Grid(shape: [15, 20, 9], affine: {
            var a = obliqueSource.affine
            a.origin = obliqueSource.affine.apply(SIMD3(Double(shift.0), Double(shift.1), Double(shift.2)))
            return a
        }())
        let out = resample(labels, onto: target, fill: -1)
        let s = obliqueSource.shape
        var copied = 0
        forEachVoxel(target) { i, j, k in
            let (a, b, c) = (i + shift.0, j + shift.1, k + shift.2)
            if a >= 0 && a < s[0] && b >= 0 && b < s[1] && c >= 0 && c < s[2] {
                #expect(out[i, j, k] == labels[a, b, c])
                copied += 1
            } else {
                #expect(out[i, j, k] == -1)
            }
        }
        #expect(copied == 15 * 17 * 9)
    }

    @Test("optimised kernels match the naive reference kernels on random oblique grids")
    func matchesReference() {
        let image = randomImage(obliqueSource, seed: 4)
        let target = makeGrid("ASL", shape: [23, 19, 17], spacing: SIMD3(0.83, 1.37, 0.95),
                              origin: SIMD3(-14, 21, -12), rotationAxis: SIMD3(-0.2, 1, 0.4), degrees: 41)
        let fast = resample(image, onto: target, fill: -2)
        let slow = trilinearReference(image, onto: target, fill: -2)
        let diff = zip(fast.data, slow.data).map { abs($0 - $1) }.max()!
        #expect(diff < 1e-5)
        #expect(fast.data.filter { $0 != -2 }.count > 1000)
        let labels = image.map { Int32($0 * 1000) }
        #expect(resample(labels, onto: target, fill: -2).data == nearestReference(labels, onto: target, fill: -2).data)
        // A target on the source's own slices (in-plane shear, scale and shift, whole-slice
        // offset -2 so some slices fall outside) takes the 4-read bilinear path.
        let a = obliqueSource.affine
        let planar = Grid(shape: [25, 27, 16], affine: Affine(
            columns: a.column(0) * 0.7 + a.column(1) * 0.3, a.column(1) * 0.8 - a.column(0) * 0.2, a.column(2),
            origin: a.apply(SIMD3(1.3, -2.7, -2))))
        let flat = resample(image, onto: planar, fill: -2)
        let flatDiff = zip(flat.data, trilinearReference(image, onto: planar, fill: -2).data).map { abs($0 - $1) }.max()!
        #expect(flatDiff < 1e-5)
        #expect(flat.data.filter { $0 != -2 }.count > 2000 && flat.data.filter { $0 == -2 }.count > 2 * 25 * 27)
        // One channel with the multi-channel kernel is the image kernel, bit for bit.
        let one = resample(ChannelVolume(grid: obliqueSource, channels: [image.data]), onto: target, fill: [-2])
        #expect(one.data == fast.data)
    }

    @Test("probability channels that sum to 1 still sum to 1 after linear resampling")
    func channelsSumToOne() {
        var rng = SeededGenerator(seed: 5)
        let n = obliqueSource.voxelCount, c = 4
        var data = [Float](repeating: 0, count: c * n)
        for o in 0..<n {
            let raw = (0..<c).map { _ in Float.random(in: 0.01..<1, using: &rng) }
            let total = raw.reduce(0, +)
            for ch in 0..<c { data[ch * n + o] = raw[ch] / total }
        }
        let probs = ChannelVolume(grid: obliqueSource, channelCount: c, data: data)
        let target = makeGrid("RAS", shape: [28, 26, 18], spacing: SIMD3(0.8, 0.8, 1.5),
                              origin: SIMD3(-22, 8, -16), rotationAxis: SIMD3(1, 0, 1), degrees: 12)
        let out = resample(probs, onto: target, fill: [1, 0, 0, 0])
        let m = target.voxelCount
        var worst: Float = 0, interpolated = 0
        for o in 0..<m {
            let sum = (0..<c).reduce(Float(0)) { $0 + out.data[$1 * m + o] }
            worst = max(worst, abs(sum - 1))
            if out.data[o] != 1 { interpolated += 1 }
        }
        #expect(worst < 1e-5)
        #expect(interpolated > 1000)
    }
}
