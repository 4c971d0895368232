import Anatomy
import Foundation
import ImagingCore
import Testing
import Volumetry

@Suite struct PNGTests {
    /// Big-endian UInt32 at `offset`.
    func u32(_ b: [UInt8], _ offset: Int) -> Int { b[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) } }

    @Test func encodesGreyAndRGB() throws {
        let grey = Picture(width: 5, height: 3, channels: 1, pixels: (0..<15).map { UInt8($0 * 17) })
        let g = try PNGWriter.encode(grey)
        #expect(Array(g.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        #expect(String(decoding: g[12..<16], as: UTF8.self) == "IHDR")
        #expect(u32(g, 16) == 5 && u32(g, 20) == 3)
        #expect(g[24] == 8 && g[25] == 0)  // 8-bit greyscale
        let rgb = try PNGWriter.encode(Picture(width: 2, height: 2, channels: 3, pixels: [UInt8](repeating: 200, count: 12)))
        #expect(u32(rgb, 16) == 2 && rgb[25] == 2)  // colour type 2: RGB
        #expect(String(decoding: rgb.suffix(8).prefix(4), as: UTF8.self) == "IEND")
    }

    /// Radiological layout: patient right on the left, anterior at the top, outlines in colour.
    @Test func renderedSliceIsOrientedAndOutlined() throws {
        // An LPS-stored 8×6×3 grid: i runs toward patient left, j toward posterior.
        let affine = Affine(columns: SIMD3(-1, 0, 0), SIMD3(0, -1, 0), SIMD3(0, 0, 1), origin: .zero)
        let grid = Grid(shape: [8, 6, 3], affine: affine)
        var image = ImageVolume(grid: grid, repeating: 0)
        var labels = LabelVolume(grid: grid, repeating: 0)
        image[0, 0, 1] = 1000  // patient-right, anterior corner voxel
        for j in 2..<5 { for i in 2..<6 { labels[i, j, 1] = 7 } }
        let catalog = try LabelCatalog(classes: [LabelClass(id: 7, name: "rectus_femoris", regions: [.thigh], group: .muscle, color: [10, 20, 30])])
        let p = SliceRenderer.renderSlice(image, labels: labels, catalog: catalog)
        #expect(p.width == 8 && p.height == 6 && p.channels == 3)
        // Voxel (0,0) is the most right and most anterior: top-left of the picture.
        #expect(p.pixels[0] == 255)
        #expect(p.pixels[3 * (8 * 6) - 3] == 0)
        // The label's corner voxel (i=2, j=2) is an outline pixel at column 2, row 2, in the catalog colour.
        let n = 3 * (2 * 8 + 2)
        #expect(Array(p.pixels[n..<n + 3]) == [10, 20, 30])
    }
}

@Suite struct PictureTests {
    @Test func besidePlacesBothPicturesWithASeam() {
        let a = Picture(width: 2, height: 2, channels: 1, pixels: [1, 2, 3, 4])
        let b = Picture(width: 1, height: 2, channels: 1, pixels: [9, 8])
        let c = a.beside(b, gap: 1)
        #expect(c.width == 4 && c.height == 2)
        #expect(c.pixels == [1, 2, 0, 9, 3, 4, 0, 8])
    }
}
