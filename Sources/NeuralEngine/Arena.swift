#if canImport(Glibc)
import Glibc
#endif

/// One named tensor's place in an arena region, in PyTorch `state_dict` naming and layout.
public struct ArenaSlot: Sendable, Equatable {
    /// The `state_dict` name, e.g. `enc.0.0.weight`.
    public var name: String
    /// The PyTorch shape, e.g. `[Co, Ci, 3, 3]` (OIHW) for a convolution weight.
    public var shape: [Int]
    /// First element of the tensor within its region.
    public var offset: Int
    /// Number of elements (the product of `shape`).
    public var count: Int
}

/// All of a model's numbers in one allocation, llm.c style: parameters, their gradients and the
/// two Adam moments are four equal regions of one Float buffer, so the optimiser, gradient
/// clipping and zeroing are single flat loops. The non-trained state (batch-norm running
/// statistics) sits in a fifth region, and the batch-norm step counters in an Int64 array.
///
/// Layout (P = `parameterCount`, B = `bufferCount`):
/// `[ params (P) | grads (P) | adam m (P) | adam v (P) | buffers (B) ]`
public final class Arena {
    /// Trained tensors (conv weights and biases, batch-norm weight and bias), in order.
    public let parameterSlots: [ArenaSlot]
    /// Non-trained Float tensors (batch-norm `running_mean`, `running_var`), in order.
    public let bufferSlots: [ArenaSlot]
    /// Names of the Int64 counters (batch-norm `num_batches_tracked`), in order.
    public let counterNames: [String]
    /// Total number of trained scalars, P.
    public let parameterCount: Int
    /// Total number of non-trained Float scalars, B.
    public let bufferCount: Int
    /// The Int64 counters (`num_batches_tracked`), one per batch-norm layer.
    public var counters: [Int64]

    let memory: UnsafeMutablePointer<Float>
    /// params: (P)
    var params: UnsafeMutablePointer<Float> { memory }
    /// grads: (P), same layout as params
    var grads: UnsafeMutablePointer<Float> { memory + parameterCount }
    /// Adam first moment m: (P)
    var adamM: UnsafeMutablePointer<Float> { memory + 2 * parameterCount }
    /// Adam second moment v: (P)
    var adamV: UnsafeMutablePointer<Float> { memory + 3 * parameterCount }
    /// buffers: (B)
    var buffers: UnsafeMutablePointer<Float> { memory + 4 * parameterCount }

    /// Lays out the given tensors; all values start at zero.
    public init(parameters: [(name: String, shape: [Int])], buffers: [(name: String, shape: [Int])], counters: [String]) {
        func layout(_ list: [(name: String, shape: [Int])]) -> ([ArenaSlot], Int) {
            var slots: [ArenaSlot] = []
            var offset = 0
            for (name, shape) in list {
                let count = shape.reduce(1, *)
                slots.append(ArenaSlot(name: name, shape: shape, offset: offset, count: count))
                offset += count
            }
            return (slots, offset)
        }
        (parameterSlots, parameterCount) = layout(parameters)
        (bufferSlots, bufferCount) = layout(buffers)
        counterNames = counters
        self.counters = Array(repeating: 0, count: counters.count)
        let total = 4 * parameterCount + bufferCount
        memory = .allocate(capacity: max(total, 1))
        memory.initialize(repeating: 0, count: max(total, 1))
    }

    deinit { memory.deallocate() }

    /// Sets every gradient to zero (before a backward pass, which accumulates).
    public func zeroGradients() { grads.update(repeating: 0, count: parameterCount) }

    /// Sets the Adam moments to zero (a fresh optimiser).
    public func resetOptimizerState() { adamM.update(repeating: 0, count: 2 * parameterCount) }

    /// Lends the parameters (P floats) for reading and writing.
    public func withParameters<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeMutableBufferPointer(start: params, count: parameterCount))
    }

    /// Lends the gradients (P floats), same layout as the parameters.
    public func withGradients<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeMutableBufferPointer(start: grads, count: parameterCount))
    }

    /// Lends the non-trained buffers (B floats).
    public func withBuffers<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeMutableBufferPointer(start: buffers, count: bufferCount))
    }

    /// The parameter slot with this name (a bug if absent).
    public func parameterSlot(_ name: String) -> ArenaSlot {
        guard let s = parameterSlots.first(where: { $0.name == name }) else { preconditionFailure("no parameter \(name)") }
        return s
    }

    /// The buffer slot with this name (a bug if absent).
    public func bufferSlot(_ name: String) -> ArenaSlot {
        guard let s = bufferSlots.first(where: { $0.name == name }) else { preconditionFailure("no buffer \(name)") }
        return s
    }

    /// A copy of one named parameter's values.
    public func parameterValues(_ name: String) -> [Float] {
        let s = parameterSlot(name)
        return Array(UnsafeBufferPointer(start: params + s.offset, count: s.count))
    }

    /// A copy of one named parameter's gradient.
    public func gradientValues(_ name: String) -> [Float] {
        let s = parameterSlot(name)
        return Array(UnsafeBufferPointer(start: grads + s.offset, count: s.count))
    }
}

/// A bump allocator over one Float buffer: a model plans all its activation and scratch
/// buffers once for a batch shape, then reuses them on every step (no allocation in the loop).
final class Workspace {
    private(set) var capacity: Int
    private var memory: UnsafeMutablePointer<Float>

    /// Zeroed by `calloc`: a workspace of many MiB is mapped fresh and already zero, so only the
    /// pages a plan's kernels write are faulted in (an inference plan never touches its `z`,
    /// statistics and gradient buffers; a memset would fault all of them in, ~2.8 µs per 4 KiB
    /// page on the benchmark VM). Same contents as allocate + fill with 0.
    init(capacity: Int) {
        self.capacity = max(capacity, 1)
        guard let raw = calloc(self.capacity, MemoryLayout<Float>.stride) else {
            fatalError("workspace of \(self.capacity) floats: out of memory")
        }
        memory = raw.bindMemory(to: Float.self, capacity: self.capacity)
    }

    deinit { free(memory) }

    /// The pointer at `offset` floats into the buffer.
    func pointer(_ offset: Int) -> UnsafeMutablePointer<Float> {
        precondition(offset >= 0 && offset <= capacity, "workspace offset \(offset) outside the plan (a gradient buffer in an inference plan?)")
        return memory + offset
    }
}

/// Hands out offsets in a workspace; the total is the capacity to allocate.
struct WorkspacePlanner {
    private(set) var total = 0

    /// Reserves `count` floats, rounded up to 16 floats (64 bytes) so buffers stay aligned.
    mutating func reserve(_ count: Int) -> Int {
        let offset = total
        total += (count + 15) / 16 * 16
        return offset
    }
}
