import Anatomy
import Dispatch
import Foundation
import ImagingCore

/// The QC picture `qc.png`: a grid of axial slices with each label's outline in its catalog
/// colour, and a legend of the classes shown (colour, name, volume).
///
/// Slices are laid out in radiological view (patient right on the picture's left, anterior at
/// the top), the axial axis being the voxel axis most aligned with RAS z, as `SliceRenderer`
/// does. Tiles show the labels' bounding box over the shown slices with a 10 % margin (the
/// whole slice when nothing is labelled) and keep the physical aspect ratio; each is sampled
/// (nearest) to at most `tileSize`
/// pixels on its longer side and the outlines are drawn at tile resolution, so they stay one
/// pixel wide. Grey levels use one window for the whole montage: the 1st to 99th percentile of
/// the shown slices, or the CT soft-tissue window (level 40, width 400) for images in HU.
public struct QCMontage: Sendable {
    /// Most tiles (slices) shown.
    public var maxTiles = 12
    /// Tiles per row.
    public var columns = 4
    /// Longer side of a tile in pixels.
    public var tileSize = 256
    /// Glyph scale of the text (5 × 7 pixel glyphs).
    public var textScale = 2

    public init() {}

    /// The slices shown: evenly spaced over the slices that hold labels (over all slices when
    /// none does), at most `maxTiles`, in increasing order.
    public func chosenSlices(_ labels: LabelVolume) -> [Int] {
        chosen(from: Self.survey(labels).labelled)
    }

    func chosen(from labelled: [Bool]) -> [Int] {
        var candidates = labelled.indices.filter { labelled[$0] }
        if candidates.isEmpty { candidates = Array(labelled.indices) }
        let n = min(maxTiles, candidates.count)
        guard n > 1 else { return [candidates[candidates.count / 2]] }
        return (0..<n).map { t in candidates[Int((Double(t) * Double(candidates.count - 1) / Double(n - 1)).rounded())] }
    }

    /// One parallel pass over the labels: which positions along the axial axis hold a label,
    /// and the positive ids present (increasing). With `blocks` (the default), axial slices that
    /// lie along the storage order are read in blocks of 8 and a block that repeats the last
    /// value looked at is skipped; `blocks: false` looks at every voxel (the twin, tested equal).
    static func survey(_ labels: LabelVolume, blocks: Bool = true) -> (labelled: [Bool], present: [Int32]) {
        let (kAxis, _, _) = axes(labels.grid)
        let shape = labels.grid.shape
        let nx = shape[0], ny = shape[1], nz = shape[2]
        let small = 4096
        // Per third-axis slice: labelled positions along kAxis, small ids seen, larger ids seen.
        var parts = [(labelled: [Bool], seen: [Bool], large: Set<Int32>)](repeating: ([], [], []), count: nz)
        labels.data.withUnsafeBufferPointer { lab in
            let src = SendableBuffer(base: UnsafeMutablePointer(mutating: lab.baseAddress!))
            parts.withUnsafeMutableBufferPointer { out in
                let dst = SendableBuffer(base: out.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: nz) { k in
                    var labelled = [Bool](repeating: false, count: shape[kAxis])
                    var seen = [Bool](repeating: false, count: small)
                    var large = Set<Int32>()
                    var o = k * nx * ny
                    if blocks && kAxis == 2 {
                        // Axial slices in storage order (the usual layout): the slice is one
                        // contiguous range and whether it is labelled does not depend on the
                        // voxel's place, so a block of 8 equal to the last value looked at adds
                        // nothing; only blocks that hold another value are looked into.
                        let end = o + nx * ny
                        var last: Int32 = 0
                        @inline(__always) func note(_ l: Int32) {
                            guard l != 0 else { return }
                            labelled[k] = true
                            if l > 0 { if l < small { seen[Int(l)] = true } else { large.insert(l) } }
                        }
                        let raw = UnsafeRawPointer(src.base)
                        while o + 8 <= end {
                            let block = raw.loadUnaligned(fromByteOffset: 4 * o, as: SIMD8<Int32>.self)
                            if block != SIMD8(repeating: last) {
                                for l in 0..<8 { note(block[l]) }
                                last = block[7]
                            }
                            o += 8
                        }
                        while o < end { note(src.base[o]); o += 1 }
                        dst.base[k] = (labelled, seen, large)
                        return
                    }
                    for j in 0..<ny {
                        for i in 0..<nx {
                            let l = src.base[o]
                            o += 1
                            guard l != 0 else { continue }
                            labelled[kAxis == 2 ? k : kAxis == 1 ? j : i] = true
                            if l > 0 {
                                if l < small { seen[Int(l)] = true } else { large.insert(l) }
                            }
                        }
                    }
                    dst.base[k] = (labelled, seen, large)
                }
            }
        }
        var labelled = [Bool](repeating: false, count: shape[kAxis])
        var seen = [Bool](repeating: false, count: small)
        var large = Set<Int32>()
        for part in parts {
            for n in labelled.indices where part.labelled[n] { labelled[n] = true }
            for n in seen.indices where part.seen[n] { seen[n] = true }
            large.formUnion(part.large)
        }
        return (labelled, seen.indices.filter { seen[$0] }.map(Int32.init) + large.sorted())
    }

    /// Renders the montage. `volumesML` (by class id) adds each class's volume to the legend.
    ///
    /// Only the shown slices are read after one parallel survey of the labels (labelled slices,
    /// ids present); the crop box comes from voxel index ranges, the grey window from selection
    /// instead of a full sort, and the tiles are drawn in parallel. Identical to
    /// `referenceRender` pixel for pixel (tested).
    public func render(image: ImageVolume, labels: LabelVolume, catalog: LabelCatalog,
                       volumesML: [Int: Double] = [:], title: String = "") -> Picture {
        compose(renderTiles(image: image, labels: labels, catalog: catalog), catalog: catalog, volumesML: volumesML, title: title)
    }

    /// The tiles of a montage (`render` without the page, captions and legend): the part that
    /// reads the scan and needs no volumes, so it can run beside the volume measurement.
    public struct Tiles: Sendable {
        /// Shown slices along the axial axis, and how many there are.
        public var slices: [Int], depth: Int
        /// Tile width and height in pixels.
        public var width: Int, height: Int
        /// Class ids present in the labels, increasing (the legend's entries).
        public var present: [Int32]
        /// RGB, tile after tile, rows top to bottom.
        public var pixels: [UInt8]
    }

    /// The page around `tiles`: title, tiles in their grid, captions and the legend, whose
    /// entries give each class's volume from `volumesML` (by class id).
    public func compose(_ tiles: Tiles, catalog: LabelCatalog, volumesML: [Int: Double] = [:], title: String = "") -> Picture {
        let tw = tiles.width, th = tiles.height
        let layout = MontageLayout(tiles: tiles.slices.count, tileWidth: tw, tileHeight: th, columns: columns, textScale: textScale,
                                   title: title, present: tiles.present, catalog: catalog, volumesML: volumesML)
        let width = layout.width
        var picture = layout.blankPicture(title: title)
        picture.pixels.withUnsafeMutableBufferPointer { px in
            tiles.pixels.withUnsafeBufferPointer { src in
                for t in tiles.slices.indices {
                    let (x0, y0) = layout.origin(t)
                    for r in 0..<th {
                        (px.baseAddress! + ((y0 + r) * width + x0) * 3)
                            .update(from: src.baseAddress! + ((t * th + r) * tw) * 3, count: tw * 3)
                    }
                }
            }
        }
        layout.drawCaptionsAndLegend(slices: tiles.slices, depth: tiles.depth, into: &picture)
        return picture
    }

    /// The tiles of `render`: slice choice, crop, grey window, grey pixels and outlines.
    public func renderTiles(image: ImageVolume, labels: LabelVolume, catalog: LabelCatalog) -> Tiles {
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
        let survey = Self.survey(labels)
        let slices = chosen(from: survey.labelled)
        // Crop to the labels' bounding box over the shown slices, with a 10 % margin: the index
        // ranges along the shown axes, flipped as the display flips them.
        // Slices in parallel, each read in storage order (min and max do not depend on order).
        var boxes = [(Int, Int, Int, Int)](repeating: (w, -1, h, -1), count: slices.count)
        labels.data.withUnsafeBufferPointer { lab in
            let src = SendableBuffer(base: UnsafeMutablePointer(mutating: lab.baseAddress!))
            boxes.withUnsafeMutableBufferPointer { out in
                let dst = SendableBuffer(base: out.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: slices.count) { t in
                    var xLo = w, xHi = -1, yLo = h, yHi = -1
                    let k = slices[t]
                    if sx <= sy {
                        for b in 0..<h {
                            let base = b * sy + k * sk
                            for a in 0..<w where src.base[base + a * sx] != 0 {
                                xLo = min(xLo, a); xHi = max(xHi, a); yLo = min(yLo, b); yHi = max(yHi, b)
                            }
                        }
                    } else {
                        for a in 0..<w {
                            let base = a * sx + k * sk
                            for b in 0..<h where src.base[base + b * sy] != 0 {
                                xLo = min(xLo, a); xHi = max(xHi, a); yLo = min(yLo, b); yHi = max(yHi, b)
                            }
                        }
                    }
                    dst.base[t] = (xLo, xHi, yLo, yHi)
                }
            }
        }
        var xLo = w, xHi = -1, yLo = h, yHi = -1
        for (a, b, c, d) in boxes {
            xLo = min(xLo, a); xHi = max(xHi, b); yLo = min(yLo, c); yHi = max(yHi, d)
        }
        var c0 = w, c1 = -1, r0 = h, r1 = -1
        if xHi >= 0 {
            (c0, c1) = xFlip ? (w - 1 - xHi, w - 1 - xLo) : (xLo, xHi)
            (r0, r1) = yFlip ? (h - 1 - yHi, h - 1 - yLo) : (yLo, yHi)
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
        let colOffsets = (0..<tw).map { c in offset(c0 + min(c * cw / tw, cw - 1), 0, 0) - offset(0, 0, 0) }
        let rowOffsets = (0..<th).map { r in offset(0, r0 + min(r * ch / th, ch - 1), 0) }
        @Sendable func tileOffset(_ t: Int, _ r: Int, _ c: Int) -> Int { slices[t] * sk + rowOffsets[r] + colOffsets[c] }
        var shown = [Float](repeating: 0, count: slices.count * tw * th)
        for t in slices.indices { for r in 0..<th { for c in 0..<tw { shown[(t * th + r) * tw + c] = image.data[tileOffset(t, r, c)] } } }
        var scratch = shown  // selection reorders its input
        let (lo, hi) = Self.window(&scratch)
        var pixels = [UInt8](repeating: 0, count: slices.count * th * tw * 3)
        // Outline colours by id (yellow for ids the catalog lacks).
        let colours = Dictionary(uniqueKeysWithValues: survey.present.map { ($0, catalog.class(id: Int($0))?.color ?? [255, 255, 0]) })
        pixels.withUnsafeMutableBufferPointer { px in
            labels.data.withUnsafeBufferPointer { lab in
                shown.withUnsafeBufferPointer { grey in
                    let dst = SendableBuffer(base: px.baseAddress!)
                    let labp = SendableBuffer(base: UnsafeMutablePointer(mutating: lab.baseAddress!))
                    let greyp = SendableBuffer(base: UnsafeMutablePointer(mutating: grey.baseAddress!))
                    DispatchQueue.concurrentPerform(iterations: slices.count) { t in
                        let g0 = UnsafePointer(greyp.base) + t * th * tw
                        for r in 0..<th {
                            var p = (t * th + r) * tw * 3
                            for c in 0..<tw {
                                let g = UInt8(max(0, min(255, (g0[r * tw + c] - lo) / (hi - lo) * 255)))
                                dst.base[p] = g; dst.base[p + 1] = g; dst.base[p + 2] = g
                                p += 3
                            }
                        }
                        // Outlines: a labelled pixel with a 4-neighbour of another label.
                        var tile = [Int32](repeating: 0, count: tw * th)
                        for r in 0..<th { for c in 0..<tw { tile[r * tw + c] = labp.base[tileOffset(t, r, c)] } }
                        for r in 0..<th {
                            for c in 0..<tw {
                                let l = tile[r * tw + c]
                                guard l > 0 else { continue }
                                let edge = (c > 0 && tile[r * tw + c - 1] != l) || (c < tw - 1 && tile[r * tw + c + 1] != l)
                                    || (r > 0 && tile[(r - 1) * tw + c] != l) || (r < th - 1 && tile[(r + 1) * tw + c] != l)
                                guard edge, let colour = colours[l] else { continue }
                                let p = ((t * th + r) * tw + c) * 3
                                dst.base[p] = colour[0]; dst.base[p + 1] = colour[1]; dst.base[p + 2] = colour[2]
                            }
                        }
                    }
                }
            }
        }
        return Tiles(slices: slices, depth: grid.shape[kAxis], width: tw, height: th, present: survey.present, pixels: pixels)
    }

    /// (axial axis, axis shown left-right, axis shown top-bottom): the voxel axes most along S,
    /// then R among the others.
    static func axes(_ grid: Grid) -> (Int, Int, Int) {
        let dirs = grid.affine.directions
        let k = (0..<3).max { abs(dirs[$0].z) < abs(dirs[$1].z) }!
        let rest = (0..<3).filter { $0 != k }
        let x = abs(dirs[rest[0]].x) >= abs(dirs[rest[1]].x) ? rest[0] : rest[1]
        return (k, x, rest[0] == x ? rest[1] : rest[0])
    }

    /// The grey window: CT soft tissue (−160…240 HU) when the values look like HU, else the
    /// 1st…99th percentile. The order statistics are found by selection (`values` is
    /// reordered); with a NaN among them, by the reference's full sort.
    static func window(_ values: inout [Float]) -> (Float, Float) {
        guard !values.isEmpty else { return (0, 1) }
        guard !values.contains(where: \.isNaN) else { return referenceWindow(values) }
        let n = values.count
        let lo = select(&values, n / 100), hi = select(&values, n * 99 / 100)
        if values.min()! <= -900 { return (-160, 240) }
        return (lo, max(hi, lo + 1))
    }

    /// The `rank`-th smallest value of `v` (no NaN), `v` partially reordered.
    static func select(_ v: inout [Float], _ rank: Int) -> Float { Selection.select(&v, rank) }

    /// Renders and writes the montage durably.
    public func write(image: ImageVolume, labels: LabelVolume, catalog: LabelCatalog, volumesML: [Int: Double] = [:],
                      title: String = "", to path: String) throws {
        try PNGWriter.write(render(image: image, labels: labels, catalog: catalog, volumesML: volumesML, title: title), to: path, fast: true)
    }
}
