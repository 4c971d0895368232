import Dispatch
import ImagingCore

/// Exact class volumes of the continuous anatomy inside the scanned slab.
///
/// Slice k covers body z in [z_k - Δz/2, z_k + Δz/2]; its volume is the integral of each
/// class's cross-section area over that interval by 3-node Gauss–Legendre (exact for areas
/// that are polynomials of degree ≤ 5 in z). Each area comes from `CrossSection.labelAreas`:
/// closed-form along rays, trapezoid over the angle. docs/phantoms.md gives the measured error.
enum ExactVolumes {
    /// Gauss–Legendre nodes and weights on [-1, 1].
    static let nodes: [(x: Double, w: Double)] = [(-(0.6).squareRoot(), 5.0 / 9), (0, 8.0 / 9), ((0.6).squareRoot(), 5.0 / 9)]

    struct Result {
        /// mm³ per label id, for each part.
        var byPart: [[Double]]
    }

    static func integrate(body: Body, acquisition: Acquisition, rays: Int) -> Result {
        let nz = acquisition.shape[2], dz = acquisition.thickness
        var perSlice = [[[Double]]](repeating: [], count: nz)
        perSlice.withUnsafeMutableBufferPointer { buffer in
            let out = SendableBuffer(base: buffer.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: nz) { k in
                let zk = acquisition.sliceZ(Double(k))
                var volumes: [[Double]] = []
                for part in body.parts {
                    var v = [Double](repeating: 0, count: 256)
                    for node in nodes {
                        var area = [Double](repeating: 0, count: 256)
                        part.section(zk + node.x * dz / 2).labelAreas(rays: rays, into: &area)
                        for c in 0..<256 { v[c] += node.w * dz / 2 * area[c] }
                    }
                    volumes.append(v)
                }
                out.base[k] = volumes
            }
        }
        var total = [[Double]](repeating: [Double](repeating: 0, count: 256), count: body.parts.count)
        for k in 0..<nz {
            for p in 0..<body.parts.count {
                for c in 0..<256 { total[p][c] += perSlice[k][p][c] }
            }
        }
        return Result(byPart: total)
    }
}
