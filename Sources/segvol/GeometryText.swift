import Foundation
import ImagingCore

/// Human-readable geometry of a volume, as `segvol info` and `make run` print it.
func geometryText(_ grid: Grid) -> String {
    let s = grid.spacing
    let shape = grid.shape.map(String.init).joined(separator: " × ")
    var lines = [
        "matrix      \(shape)",
        "voxel (mm)  \(fmt(s.x)) × \(fmt(s.y)) × \(fmt(s.z))",
        "orientation \(grid.affine.axisCodes)\(grid.affine.isOrthogonal() ? "" : " (non-orthogonal axes)")",
        "origin (mm) \(fmt(grid.affine.origin.x)), \(fmt(grid.affine.origin.y)), \(fmt(grid.affine.origin.z))  (RAS, centre of voxel 0,0,0)",
        "affine      (voxel index → RAS mm)",
    ]
    for r in 0..<3 {
        lines.append("            " + (0..<4).map { fmt(grid.affine[r, $0]).padding(toLength: 10, withPad: " ", startingAt: 0) }.joined())
    }
    let fov = SIMD3(Double(grid.shape[0]) * s.x, Double(grid.shape[1]) * s.y, Double(grid.shape[2]) * s.z)
    lines.append("extent (mm) \(fmt(fov.x)) × \(fmt(fov.y)) × \(fmt(fov.z)); voxel volume \(fmt(grid.voxelVolume)) mm³")
    return lines.joined(separator: "\n")
}

/// The metadata lines that carry no patient identifier.
func metadataText(_ m: ScanMetadata) -> String {
    var lines: [String] = []
    func add(_ key: String, _ value: String?) {
        if let value, !value.isEmpty { lines.append(key.padding(toLength: 12, withPad: " ", startingAt: 0) + value) }
    }
    add("format", m.sourceFormat)
    add("modality", m.modality)
    add("body part", m.bodyPartExamined)
    add("series", m.seriesNumber.map { "\($0)" + (m.seriesDescription.map { " \"\($0)\"" } ?? "") } ?? m.seriesDescription)
    add("maker", m.manufacturer)
    add("field (T)", m.magneticFieldStrength.map { fmt($0) })
    return lines.joined(separator: "\n")
}

/// Intensity summary: min, max, mean.
func intensityText(_ v: ImageVolume) -> String {
    var lo = Float.infinity, hi = -Float.infinity, sum = 0.0
    for x in v.data { lo = min(lo, x); hi = max(hi, x); sum += Double(x) }
    return "intensity   min \(fmt(Double(lo))), max \(fmt(Double(hi))), mean \(fmt(sum / Double(max(v.data.count, 1))))"
}

func fmt(_ v: Double) -> String {
    if v == v.rounded() && abs(v) < 1e9 { return String(Int(v)) }
    return String(format: "%.4g", v)
}
