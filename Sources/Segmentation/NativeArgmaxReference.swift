import ImagingCore
import Resampling

extension NativeArgmax {
    /// The unfused reference: the window probabilities as a full profile `ChannelVolume`
    /// (background-certain outside the window), `ProfileTransform.toNative`, then the argmax
    /// (first maximum). Memory C × native voxels: for tests and small scans only.
    public static func unfusedReference(_ probs: WindowProbabilities, window: SliceWindow, transform: ProfileTransform) -> LabelVolume {
        let target = transform.targetGrid
        let n = target.voxelCount, ca = probs.channelCount
        var data = [Float](repeating: 0, count: ca * n)
        for o in 0..<n { data[o] = 1 }
        for k in 0..<target.shape[2] {
            for j in 0..<target.shape[1] {
                for i in 0..<target.shape[0] {
                    let x = i - window.offsetX, y = j - window.offsetY
                    guard x >= 0, x < probs.width, y >= 0, y < probs.height else { continue }
                    let src = ((k * probs.height + y) * probs.width + x) * ca
                    let o = target.offset(i, j, k)
                    for a in 0..<ca { data[a * n + o] = probs.data[src + a] }
                }
            }
        }
        let native = transform.toNative(ChannelVolume(grid: target, channelCount: ca, data: data))
        let m = native.grid.voxelCount
        var labels = [Int32](repeating: 0, count: m)
        for o in 0..<m {
            var best: Float = -.infinity
            var bestA = 0
            for a in 0..<ca where native.data[a * m + o] > best {
                best = native.data[a * m + o]
                bestA = a
            }
            labels[o] = probs.channelIDs[bestA]
        }
        return LabelVolume(grid: native.grid, data: labels)
    }
}
