import Anatomy
import Foundation
import ImagingCore
import Testing
@testable import Volumetry

@Suite struct ReportTests {
    @Test func csvQuotesPerRFC4180AndNeutralisesFormulas() throws {
        let bytes = try CSVTable.encode(header: ["a", "b", "c"], rows: [
            [.text("plain"), .text("with, comma"), .integer(3)],
            [.text("=HYPERLINK(\"http://x\")"), .text("+1"), .number("-2.5")],
            [.text("@sum"), .text("-cmd"), .text("line\nbreak")],
            [.text("\ttab"), .bool(true), .decimal(1.23456, places: 3)],
        ])
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text == "a,b,c\r\n"
            + "plain,\"with, comma\",3\r\n"
            + "\"'=HYPERLINK(\"\"http://x\"\")\",'+1,-2.5\r\n"
            + "'@sum,'-cmd,\"line\nbreak\"\r\n"
            + "'\ttab,true,1.235\r\n")
    }

    @Test func volumesCSVHasOneRowPerClassAndSide() throws {
        let catalog = try LabelCatalog.load(path: ConfigDirectory.sourceTreeDirectory + "/" + LabelCatalog.fileName)
        var v = LabelVolume(grid: Grid(shape: [4, 4, 3], affine: .scaling(SIMD3(1, 1, 2))), repeating: 0)
        let liver = Int32(catalog.class(named: "liver")!.id)
        v[0, 0, 0] = liver; v[1, 0, 0] = liver; v[1, 1, 1] = liver
        let report = VolumeMeasurer.measure(v, catalog: catalog, region: .abdomen)
        let lines = String(decoding: try VolumesCSV.encode(report), as: UTF8.self).components(separatedBy: "\r\n")
        #expect(lines[0] == "class_id,class_name,group,side,volume_ml,voxels,slices,truncated")
        #expect(lines.count == report.rows.count + 2 && lines.last == "")
        #expect(lines.contains("\(liver),liver,organ,unsplit,0.006,3,2,true"))
        let psoas = catalog.class(named: "psoas")!.id
        #expect(lines.contains("\(psoas),psoas,muscle,left,0.000,0,0,false"))
        #expect(lines.contains("\(psoas),psoas,muscle,right,0.000,0,0,false"))
    }

    @Test func montageShowsContoursAndALegend() throws {
        let catalog = try LabelCatalog.load(path: ConfigDirectory.sourceTreeDirectory + "/" + LabelCatalog.fileName)
        let grid = Grid(shape: [40, 30, 20], affine: .scaling(SIMD3(1, 1, 3)))
        let image = ImageVolume(grid: grid, data: (0..<grid.voxelCount).map { Float($0 % 97) })
        var labels = LabelVolume(grid: grid, repeating: 0)
        let liver = catalog.class(named: "liver")!
        for k in 5..<15 { for j in 10..<20 { for i in 10..<30 { labels[i, j, k] = Int32(liver.id) } } }
        var montage = QCMontage()
        montage.tileSize = 80
        #expect(montage.chosenSlices(labels) == [5, 6, 7, 8, 9, 10, 11, 12, 13, 14])
        montage.maxTiles = 4
        #expect(montage.chosenSlices(labels) == [5, 8, 11, 14])
        let picture = montage.render(image: image, labels: labels, catalog: catalog, volumesML: [liver.id: 6.0], title: "test")
        // Tiles crop to the labels' box with a 10 % margin: (20 + 2·4) × (10 + 2·3) mm → 80 × 46 px, 4 in a row.
        #expect(picture.width == 4 * 80 + 5 * 10 && picture.channels == 3)
        func count(_ color: [UInt8]) -> Int {
            stride(from: 0, to: picture.pixels.count, by: 3).filter { Array(picture.pixels[$0..<($0 + 3)]) == color }.count
        }
        // The outline: 4 tiles × the 20 × 10 mm rectangle's perimeter at 80/28 px per mm (57 × 29 px:
        // 2 · (57 + 29) − 4 = 168 px), plus the legend swatch (14 × 14).
        let outline = count(liver.color)
        #expect(outline >= 4 * 160 + 14 * 14 && outline <= 4 * 176 + 14 * 14, "\(outline)")
        let png = try PNGWriter.encode(picture)
        #expect(Array(png.prefix(8)) == [137, 80, 78, 71, 13, 10, 26, 10])
    }
}
