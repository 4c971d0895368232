import Testing
@testable import NeuralEngine

/// The workspace is zeroed by `calloc` (untouched pages are never faulted in); it must still read
/// all zeros, including memory a freed workspace dirtied.
@Suite struct WorkspaceTests {
    @Test(arguments: [1, 1000, 40_000, 9_000_000])  // small (heap chunk) up to 36 MB (mapped)
    func freshWorkspaceIsZeroAfterADirtyOneWasFreed(capacity: Int) {
        do {
            let dirty = Workspace(capacity: capacity)
            dirty.pointer(0).update(repeating: 7.5, count: capacity)
            #expect(dirty.pointer(capacity - 1).pointee == 7.5)
        }
        let fresh = Workspace(capacity: capacity)
        #expect(fresh.capacity == capacity)
        let values = UnsafeBufferPointer(start: fresh.pointer(0), count: capacity)
        #expect(values.allSatisfy { $0 == 0 })
        #expect(values.allSatisfy { $0.bitPattern == 0 })  // +0, not -0
    }

    @Test func zeroCapacityHoldsOneFloat() {
        let w = Workspace(capacity: 0)
        #expect(w.capacity == 1)
        #expect(w.pointer(0).pointee == 0)
    }
}
