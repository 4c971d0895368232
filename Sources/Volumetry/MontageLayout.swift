import Anatomy
import Foundation

/// The page of a QC montage around its tiles: grid geometry, title, per-tile captions and the
/// legend. Shared by `QCMontage.render` and its reference twin, which differ only in how they
/// find the slices, the crop and the tile pixels.
struct MontageLayout {
    let pad = 10
    let text: Int, lineH: Int, titleH: Int
    let tw: Int, th: Int, cols: Int, rows: Int, cellH: Int
    let entries: [(color: [UInt8], text: String)]
    let entryW: Int, legendCols: Int, width: Int, height: Int

    /// `present`: the class ids in the labels, in id order (legend entries; `volumesML` adds
    /// each class's volume).
    init(tiles: Int, tileWidth tw: Int, tileHeight th: Int, columns: Int, textScale: Int, title: String,
         present: [Int32], catalog: LabelCatalog, volumesML: [Int: Double]) {
        self.tw = tw; self.th = th
        text = textScale; lineH = (BitmapFont.glyphHeight + 3) * textScale
        titleH = title.isEmpty ? 0 : lineH + pad
        cols = min(columns, tiles); rows = (tiles + cols - 1) / cols
        let entries = present.map { id -> (color: [UInt8], text: String) in
            let c = catalog.class(id: Int(id))
            var s = c?.name ?? "label \(id)"
            if let v = volumesML[Int(id)] { s += String(format: "  %.1f ML", v) }
            return (c?.color ?? [255, 255, 0], s)
        }
        self.entries = entries
        let gridW = cols * tw + (cols + 1) * pad
        entryW = (entries.map { BitmapFont.width($0.text, scale: textScale) }.max() ?? 0) + lineH + 3 * pad
        legendCols = max(1, min(entries.count, gridW / max(entryW, 1)))
        let legendRows = (entries.count + legendCols - 1) / legendCols
        width = max(gridW, entryW + 2 * pad)
        // Each cell: a caption line (R, slice number, L) above the tile, so no text covers the image.
        cellH = lineH + th + pad
        height = titleH + rows * cellH + pad + legendRows * lineH + (legendRows > 0 ? 2 * pad : 0)
    }

    static let white: [UInt8] = [255, 255, 255], yellow: [UInt8] = [255, 230, 120]

    /// Top-left pixel of tile `t`.
    func origin(_ t: Int) -> (x: Int, y: Int) { (pad + (t % cols) * (tw + pad), titleH + pad + (t / cols) * cellH + lineH) }

    /// The dark page with the title.
    func blankPicture(title: String) -> Picture {
        var picture = Picture(width: width, height: height, channels: 3, pixels: [UInt8](repeating: 24, count: width * height * 3))
        if !title.isEmpty { BitmapFont.draw(title, x: pad, y: pad, scale: text, color: Self.white, into: &picture) }
        return picture
    }

    /// Captions above the tiles ("R", slice k+1 of `depth`, "L") and the legend below them.
    func drawCaptionsAndLegend(slices: [Int], depth: Int, into picture: inout Picture) {
        for (t, k) in slices.enumerated() {
            let (x0, y0) = origin(t)
            let caption = "\(k + 1)/\(depth)", captionY = y0 - lineH + text
            BitmapFont.draw("R", x: x0, y: captionY, scale: text, color: Self.yellow, into: &picture)
            BitmapFont.draw(caption, x: x0 + (tw - BitmapFont.width(caption, scale: text)) / 2, y: captionY, scale: text,
                            color: Self.yellow, into: &picture)
            BitmapFont.draw("L", x: x0 + tw - BitmapFont.width("L", scale: text), y: captionY, scale: text,
                            color: Self.yellow, into: &picture)
        }
        let legendY = titleH + rows * cellH + 2 * pad
        for (e, entry) in entries.enumerated() {
            let x = pad + (e % legendCols) * entryW, y = legendY + (e / legendCols) * lineH
            let box = BitmapFont.glyphHeight * text
            picture.fill(x: x, y: y, width: box, height: box, entry.color)
            BitmapFont.draw(entry.text, x: x + box + 2 * pad, y: y, scale: text, color: Self.white, into: &picture)
        }
    }
}
