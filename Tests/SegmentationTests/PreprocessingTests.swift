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
