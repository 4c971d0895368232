import Anatomy
import Foundation
import ImagingCore

extension QCMontage {
    /// The reference twin of `chosenSlices`: one enumeration of every voxel.
    public func referenceChosenSlices(_ labels: LabelVolume) -> [Int] {
        let (kAxis, _, _) = Self.axes(labels.grid)
        let shape = labels.grid.shape
        let nx = shape[0], nxy = shape[0] * shape[1]
        var labelled = [Bool](repeating: false, count: shape[kAxis])
        for (o, l) in labels.data.enumerated() where l != 0 {
            labelled[kAxis == 2 ? o / nxy : kAxis == 1 ? (o / nx) % shape[1] : o % nx] = true
        }
        var candidates = labelled.indices.filter { labelled[$0] }
        if candidates.isEmpty { candidates = Array(labelled.indices) }
        let n = min(maxTiles, candidates.count)
        guard n > 1 else { return [candidates[candidates.count / 2]] }
        return (0..<n).map { t in candidates[Int((Double(t) * Double(candidates.count - 1) / Double(n - 1)).rounded())] }
    }

    /// The reference twin of `render` (tested equal pixel for pixel): every voxel scanned in
    /// display order for the shown slices and the legend, the grey window from a full sort.
    public func referenceRender(image: ImageVolume, labels: LabelVolume, catalog: LabelCatalog,
                       volumesML: [Int: Double] = [:], title: String = "") -> Picture {
        precondition(image.grid.shape == labels.grid.shape, "image and labels must share a grid")
        let grid = image.grid
        let (kAxis, xAxis, yAxis) = Self.axes(grid)
        let dirs = grid.affine.directions, spacing = grid.spacing
        let w = grid.shape[xAxis], h = grid.shape[yAxis]
        let xFlip = dirs[xAxis].x > 0, yFlip = dirs[yAxis].y > 0
        // Source offset of radiological slice pixel (col, row) (col 0 = patient right, row 0 = anterior).
        let strides = [1, grid.shape[0], grid.shape[0] * grid.shape[1]]
        let sx = strides[xAxis], sy = strides[yAxis], sk = strides[kAxis]
        func offset(_ col: Int, _ row: Int, _ k: Int) -> Int {
            (xFlip ? w - 1 - col : col) * sx + (yFlip ? h - 1 - row : row) * sy + k * sk
        }
        let slices = referenceChosenSlices(labels)
        // Crop to the labels' bounding box over the shown slices, with a 10 % margin.
        var c0 = w, c1 = -1, r0 = h, r1 = -1
        for k in slices {
            for row in 0..<h {
                for col in 0..<w where labels.data[offset(col, row, k)] != 0 {
                    c0 = min(c0, col); c1 = max(c1, col); r0 = min(r0, row); r1 = max(r1, row)
                }
            }
        }
        if c1 < 0 { (c0, c1, r0, r1) = (0, w - 1, 0, h - 1) }
        let mc = (c1 - c0 + 1) / 10 + 2, mr = (r1 - r0 + 1) / 10 + 2
        c0 = max(c0 - mc, 0); c1 = min(c1 + mc, w - 1); r0 = max(r0 - mr, 0); r1 = min(r1 + mr, h - 1)
        let cw = c1 - c0 + 1, ch = r1 - r0 + 1
        // Tile size with the physical aspect ratio.
        let wmm = Double(cw) * spacing[xAxis], hmm = Double(ch) * spacing[yAxis]
        let scale = Double(tileSize) / max(wmm, hmm)
        let tw = max(1, Int((wmm * scale).rounded())), th = max(1, Int((hmm * scale).rounded()))
        // Per tile: the source offset of each tile pixel (nearest sampling).
        func offsets(_ k: Int) -> [Int] {
            var out = [Int](repeating: 0, count: tw * th)
            for r in 0..<th {
                let row = r0 + min(r * ch / th, ch - 1)
                for c in 0..<tw { out[r * tw + c] = offset(c0 + min(c * cw / tw, cw - 1), row, k) }
            }
            return out
        }
        let tileOffsets = slices.map(offsets)
        let (lo, hi) = Self.referenceWindow(tileOffsets.flatMap { $0.map { image.data[$0] } })
        // Legend: the classes present, in id order.
        var seen = [Bool](repeating: false, count: Int(max(labels.data.max() ?? 0, 0)) + 1)
        for l in labels.data where l > 0 { seen[Int(l)] = true }
        let present = seen.indices.filter { seen[$0] }.map(Int32.init)
        let layout = MontageLayout(tiles: slices.count, tileWidth: tw, tileHeight: th, columns: columns, textScale: textScale,
                                   title: title, present: present, catalog: catalog, volumesML: volumesML)
        let width = layout.width
        var picture = layout.blankPicture(title: title)
        for t in slices.indices {
            let (x0, y0) = layout.origin(t)
            let offs = tileOffsets[t]
            for r in 0..<th {
                var p = ((y0 + r) * width + x0) * 3
                for c in 0..<tw {
                    let g = UInt8(max(0, min(255, (image.data[offs[r * tw + c]] - lo) / (hi - lo) * 255)))
                    picture.pixels[p] = g; picture.pixels[p + 1] = g; picture.pixels[p + 2] = g
                    p += 3
                }
            }
            // Outlines: a labelled pixel with a 4-neighbour of another label.
            let lab = offs.map { labels.data[$0] }
            for r in 0..<th {
                for c in 0..<tw {
                    let l = lab[r * tw + c]
                    guard l > 0 else { continue }
                    let edge = (c > 0 && lab[r * tw + c - 1] != l) || (c < tw - 1 && lab[r * tw + c + 1] != l)
                        || (r > 0 && lab[(r - 1) * tw + c] != l) || (r < th - 1 && lab[(r + 1) * tw + c] != l)
                    if edge { picture.setPixel(x: x0 + c, y: y0 + r, catalog.class(id: Int(l))?.color ?? [255, 255, 0]) }
                }
            }
        }
        layout.drawCaptionsAndLegend(slices: slices, depth: grid.shape[kAxis], into: &picture)
        return picture
    }

    /// The reference twin of `window`: a full sort.
    static func referenceWindow(_ values: [Float]) -> (Float, Float) {
        guard !values.isEmpty else { return (0, 1) }
        let sorted = values.sorted()
        if sorted[0] <= -900 { return (-160, 240) }
        let lo = sorted[sorted.count / 100], hi = sorted[sorted.count * 99 / 100]
        return (lo, max(hi, lo + 1))
    }

}
