import ImagingCore
import Resampling
import Testing
@testable import Segmentation

@Suite struct PreprocessingTests {
    @Test func windowCentresCropsAndPads() {
        let grid = Grid(shape: [6, 4, 2], affine: .identity)
        let v = Volume<Int32>(grid: grid, data: (0..<48).map { Int32($0) })
        // crop x (6 → 4), pad y (4 → 6): offsets (1, -1)
        let w = SliceWindow(sliceWidth: 6, sliceHeight: 4, width: 4, height: 6)
        #expect(w.offsetX == 1 && w.offsetY == -1)
        var out = [Int32](repeating: 99, count: 24)
        out.withUnsafeMutableBufferPointer { w.extract(v, slice: 1, fill: -1, into: $0.baseAddress!) }
        #expect(Array(out[0..<4]) == [-1, -1, -1, -1])          // y = 0 ↔ j = -1: padding
        #expect(Array(out[4..<8]) == [25, 26, 27, 28])          // y = 1 ↔ j = 0, k = 1: 24 + i, i = 1...4
        #expect(Array(out[16..<20]) == [43, 44, 45, 46])        // y = 4 ↔ j = 3
        #expect(Array(out[20..<24]) == [-1, -1, -1, -1])        // y = 5 ↔ j = 4: padding
    }

    /// `forEachPlacedPixel` is `extract` backwards: each window pixel showing a voxel is visited
    /// once with that voxel's offset, padding never, for crops and pads on either axis.
    @Test func placedPixelsAreTheExtractedVoxels() {
        let grid = Grid(shape: [7, 5, 3], affine: .identity)
        let v = Volume<Int32>(grid: grid, data: (0..<105).map { Int32($0) })
        for (w, h) in [(4, 6), (10, 3), (7, 5), (12, 9), (2, 2)] {
            let window = SliceWindow(sliceWidth: 7, sliceHeight: 5, width: w, height: h)
            for k in 0..<3 {
                var out = [Int32](repeating: 0, count: w * h)
                out.withUnsafeMutableBufferPointer { window.extract(v, slice: k, fill: -1, into: $0.baseAddress!) }
                var visited = [Int](repeating: 0, count: w * h), voxels: Set<Int> = []
                window.forEachPlacedPixel(on: grid, slice: k) { px, voxel in
                    visited[px] += 1
                    voxels.insert(voxel)
                    #expect(out[px] == Int32(voxel))          // the voxel extract put there
                }
                for px in 0..<(w * h) { #expect(visited[px] == (out[px] == -1 ? 0 : 1), "\(w)×\(h) k \(k) px \(px)") }
                let shown = min(w, 7) * min(h, 5)                 // pixels that show a voxel
                #expect(voxels.count == shown && voxels.allSatisfy { $0 / 35 == k })
            }
        }
    }

    @Test func aCoveringWindowHoldsTheWholeSliceInMultiplesOfTheDepth() {
        // Wider than the minimum: rounded up to a multiple of 16, centred, padded on both sides.
        let w = SliceWindow.covering(sliceWidth: 233, sliceHeight: 100, minimumWidth: 128, minimumHeight: 128, multiple: 16)
        #expect(w.width == 240 && w.height == 128)
        #expect(w.offsetX == -3 && w.offsetY == -14)
        #expect(w.covers(sliceWidth: 233, sliceHeight: 100))
        // Exactly a multiple: no padding on that side.
        let exact = SliceWindow.covering(sliceWidth: 256, sliceHeight: 257, minimumWidth: 128, minimumHeight: 128, multiple: 16)
        #expect(exact.width == 256 && exact.offsetX == 0 && exact.height == 272 && exact.covers(sliceWidth: 256, sliceHeight: 257))
        // The plan-size window of the same slice crops: it does not cover.
        #expect(!SliceWindow(sliceWidth: 233, sliceHeight: 100, width: 128, height: 128).covers(sliceWidth: 233, sliceHeight: 100))
        // Every slice size from 1 to 70 against minimum 32, multiple 8: covered, multiple, minimal.
        for n in 1...70 {
            let c = SliceWindow.covering(sliceWidth: n, sliceHeight: 70 - n + 1, minimumWidth: 32, minimumHeight: 32, multiple: 8)
            #expect(c.covers(sliceWidth: n, sliceHeight: 71 - n))
            #expect(c.width % 8 == 0 && c.height % 8 == 0)
            #expect(c.width == max(32, (n + 7) / 8 * 8) && c.height == max(32, (71 - n + 7) / 8 * 8))
        }
    }

    @Test func windowNormalisationClipsToTheUnitInterval() {
        let grid = Grid(shape: [4, 1, 1], affine: .identity)
        let v = ImageVolume(grid: grid, data: [-1000, -250, 50, 2000])
        let n = Preprocessor.normalise(v, .ct)
        #expect(n.data == [0, 0, 0.5, 1])
    }

    @Test func percentileNormalisationIgnoresZerosAndMapsTheRange() {
        let grid = Grid(shape: [101, 1, 2], affine: .identity)
        // 101 non-zero values 1...101 and 101 zeros (background): percentiles come from the former.
        let v = ImageVolume(grid: grid, data: (1...101).map { Float($0) } + [Float](repeating: 0, count: 101))
        let (lo, hi) = Preprocessor.percentiles(v.data, 10, 90)
        #expect(lo == 11 && hi == 91)
        let n = Preprocessor.normalise(v, Normalization(kind: .percentile, low: 10, high: 90))
        #expect(n.data[10] == 0 && n.data[50] == 0.5 && n.data[90] == 1 && n.data[100] == 1)
    }
}
