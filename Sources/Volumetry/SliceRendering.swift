import Anatomy
import ImagingCore

/// Renders an axial slice for people: radiological view (patient right on the picture's left,
/// anterior at the top), grey levels windowed between the 1st and 99th percentile of the slice
/// (or, for CT in HU, the soft-tissue window: level 40, width 400),
/// and each label's outline drawn in its catalog colour.
public enum SliceRenderer {
    /// The picture of axial slice `slice` (default: the middle one). The slice axis is the
    /// index axis most aligned with RAS z; the others are laid out by their RAS directions.
    public static func renderSlice(_ image: ImageVolume, labels: LabelVolume? = nil, catalog: LabelCatalog? = nil,
                                   slice: Int? = nil) -> Picture {
        if let labels { precondition(labels.grid.shape == image.grid.shape, "labels and image must share a grid") }
        let dirs = image.grid.affine.directions
        // Axis most along each of R, A, S.
        let kAxis = (0..<3).max { abs(dirs[$0].z) < abs(dirs[$1].z) }!
        let rest = (0..<3).filter { $0 != kAxis }
        let xAxis = abs(dirs[rest[0]].x) >= abs(dirs[rest[1]].x) ? rest[0] : rest[1]
        let yAxis = rest[0] == xAxis ? rest[1] : rest[0]
        let shape = image.grid.shape
        let w = shape[xAxis], h = shape[yAxis]
        let k = slice ?? shape[kAxis] / 2
        // Picture column 0 is patient right (largest x), row 0 anterior (largest y).
        let xFlip = dirs[xAxis].x > 0, yFlip = dirs[yAxis].y > 0
        func index(_ col: Int, _ row: Int) -> Int {
            var ijk = [0, 0, 0]
            ijk[xAxis] = xFlip ? w - 1 - col : col
            ijk[yAxis] = yFlip ? h - 1 - row : row
            ijk[kAxis] = k
            return image.grid.offset(ijk[0], ijk[1], ijk[2])
        }
        var values = [Float](repeating: 0, count: w * h)
        for row in 0..<h { for col in 0..<w { values[row * w + col] = image.data[index(col, row)] } }
        let sorted = values.sorted()
        var lo = sorted[sorted.count / 100], hi = max(sorted[sorted.count * 99 / 100], lo + 1)
        if sorted[0] <= -900 {
            // Looks like CT in HU: the soft-tissue window (level 40, width 400).
            lo = -160
            hi = 240
        }
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        for n in 0..<(w * h) {
            let g = UInt8(max(0, min(255, (values[n] - lo) / (hi - lo) * 255)))
            pixels[3 * n] = g; pixels[3 * n + 1] = g; pixels[3 * n + 2] = g
        }
        if let labels {
            var lab = [Int32](repeating: 0, count: w * h)
            for row in 0..<h { for col in 0..<w { lab[row * w + col] = labels.data[index(col, row)] } }
            for row in 0..<h {
                for col in 0..<w {
                    let l = lab[row * w + col]
                    guard l > 0 else { continue }
                    let edge = (col > 0 && lab[row * w + col - 1] != l) || (col < w - 1 && lab[row * w + col + 1] != l)
                        || (row > 0 && lab[(row - 1) * w + col] != l) || (row < h - 1 && lab[(row + 1) * w + col] != l)
                    guard edge else { continue }
                    let color = catalog?.class(id: Int(l))?.color ?? [255, 255, 0]
                    let n = row * w + col
                    pixels[3 * n] = color[0]; pixels[3 * n + 1] = color[1]; pixels[3 * n + 2] = color[2]
                }
            }
        }
        return Picture(width: w, height: h, channels: 3, pixels: pixels)
    }
}
