import NeuralEngine

/// One batch of network inputs: consecutive axial slices of a `PreparedScan`, each cut to the
/// network's input window.
public struct SliceBatch {
    /// Normalised intensities, (N, 1, H, W): image `b`, pixel (x, y) at `input[(b * H + y) * W + x]`.
    public var input: UnsafeBufferPointer<Float>
    /// The profile slices in the batch (N = `slices.count`), in order.
    public var slices: Range<Int>
    /// Where the input window sits on each profile slice (input pixel (x, y) shows profile voxel
    /// (x + window.offsetX, y + window.offsetY, slice)).
    public var window: SliceWindow

    public var count: Int { slices.count }
    public var height: Int { window.height }
    public var width: Int { window.width }
}

/// The network step of segmentation: slices in, per-class logits out. The U-Net is one
/// implementation (`UNetClassifier`); tests inject an oracle.
///
/// A classifier is used by one thread at a time.
public protocol SliceClassifier: AnyObject {
    /// Output channels (= the plan's `outputs.count`; channel c is `plan.outputs[c]`).
    var channelCount: Int { get }
    /// Writes logits (N, C, H, W) for `batch` into `logits` (exactly N·C·H·W values):
    /// image `b`, channel `c`, pixel `p = y * W + x` at `logits[(b * C + c) * H * W + p]`.
    func classify(_ batch: SliceBatch, into logits: UnsafeMutableBufferPointer<Float>)
}

/// The plan's U-Net in evaluation mode (batch norm with running statistics, no dropout).
public final class UNetClassifier: SliceClassifier {
    public let network: UNet

    /// Wraps a network; switches it to evaluation mode.
    public init(network: UNet) {
        self.network = network
        network.mode = .eval
    }

    public var channelCount: Int { network.config.classes }

    public func classify(_ batch: SliceBatch, into logits: UnsafeMutableBufferPointer<Float>) {
        precondition(logits.count == batch.count * channelCount * batch.height * batch.width,
                     "UNetClassifier: logits buffer has the wrong size")
        network.mode = .eval
        network.forward(batch.input, batch: batch.count, height: batch.height, width: batch.width)
        network.withLogits { out in
            logits.baseAddress!.update(from: out.baseAddress!, count: logits.count)
        }
    }
}
