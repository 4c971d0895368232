/// Lets a buffer pointer cross into `DispatchQueue.concurrentPerform`, whose iterations read it
/// or write disjoint parts of it. The caller keeps the memory alive for the whole loop.
public struct SendableBuffer<T>: @unchecked Sendable {
    public let base: UnsafeMutablePointer<T>
    public init(base: UnsafeMutablePointer<T>) { self.base = base }
}
