import ImagingCore
import Testing
@testable import Segmentation

@Suite struct PostProcessingTests {
    /// 12³ grid of 1 mm³ voxels (0.001 mL each).
    static func grid() -> Grid { Grid(shape: [12, 12, 12], affine: .identity) }

    @Test func smallComponentsGoAndCornerContactsConnect() {
        var v = LabelVolume(grid: Self.grid(), repeating: 0)
        for k in 0..<3 { for j in 0..<3 { for i in 0..<3 { v[i, j, k] = 1 } } }  // 27 voxels of class 1
        v[3, 3, 3] = 1; v[4, 4, 4] = 1          // 2 voxels touching the cube by a corner only (26-connected)
        v[9, 9, 9] = 1; v[9, 9, 10] = 1; v[10, 9, 10] = 1  // a separate 3-voxel island of class 1
        v[3, 0, 0] = 2; v[4, 0, 0] = 2; v[5, 0, 0] = 2; v[6, 0, 0] = 2  // 4 voxels of class 2 face-touching the cube
        v[11, 0, 11] = 3  // 1 voxel of class 3
        var removal = IslandRemoval(minimumML: 0.005)  // 5 voxels
        var a = v
        let outcome = removal.apply(to: &a)
        #expect(a[3, 3, 3] == 1 && a[4, 4, 4] == 1)          // joined to the 29-voxel component
        #expect(a[9, 9, 9] == 0 && a[10, 9, 10] == 0)        // 3 < 5 voxels: removed
        #expect(a[3, 0, 0] == 0 && a[6, 0, 0] == 0)          // class 2 is its own component of 4
        #expect(a[11, 0, 11] == 0)
        #expect(a.data.filter { $0 == 1 }.count == 29)
        #expect(outcome.components == [1: 1, 2: 1, 3: 1] && outcome.voxels == [1: 3, 2: 4, 3: 1])

        // A per-class minimum of 0 keeps class 2; a lower one for class 3 keeps its voxel.
        removal.minimumMLByClass = [2: 0, 3: 0.001]
        var b = v
        removal.apply(to: &b)
        #expect(b[3, 0, 0] == 2 && b[11, 0, 11] == 3 && b[9, 9, 9] == 0)

        // Off changes nothing.
        var c = v
        #expect(IslandRemoval.off.apply(to: &c) == IslandRemoval.Outcome())
        #expect(c.data == v.data)
    }

    @Test func volumeUsesTheVoxelSize() {
        // 2 × 2 × 5 mm voxels (0.02 mL): a 4-voxel island is 0.08 mL.
        var v = LabelVolume(grid: Grid(shape: [6, 6, 2], affine: .scaling(SIMD3(2, 2, 5))), repeating: 0)
        v[0, 0, 0] = 7; v[1, 0, 0] = 7; v[0, 1, 0] = 7; v[1, 1, 0] = 7
        var a = v, b = v
        IslandRemoval(minimumML: 0.09).apply(to: &a)
        IslandRemoval(minimumML: 0.08).apply(to: &b)
        #expect(a.data.allSatisfy { $0 == 0 })
        #expect(b.data == v.data)
    }

    /// Reference: components by repeated min-label propagation over the 26 neighbours.
    static func referenceRemoval(_ v: LabelVolume, minimumVoxels: Int) -> LabelVolume {
        let s = v.shape
        var comp = Array(0..<v.data.count)
        var changed = true
        while changed {
            changed = false
            for k in 0..<s[2] { for j in 0..<s[1] { for i in 0..<s[0] {
                let o = v.grid.offset(i, j, k)
                guard v.data[o] != 0 else { continue }
                for dk in -1...1 { for dj in -1...1 { for di in -1...1 {
                    let (a, b, c) = (i + di, j + dj, k + dk)
                    guard a >= 0, a < s[0], b >= 0, b < s[1], c >= 0, c < s[2] else { continue }
                    let q = v.grid.offset(a, b, c)
                    if v.data[q] == v.data[o] && comp[q] < comp[o] { comp[o] = comp[q]; changed = true }
                } } }
            } } }
        }
        var size: [Int: Int] = [:]
        for (o, l) in v.data.enumerated() where l != 0 { size[comp[o], default: 0] += 1 }
        var out = v
        for (o, l) in v.data.enumerated() where l != 0 && size[comp[o]]! < minimumVoxels { out.data[o] = 0 }
        return out
    }

    @Test func matchesAReferenceOnRandomLabels() {
        var state: UInt64 = 3
        for _ in 0..<4 {
            var v = LabelVolume(grid: Grid(shape: [11, 9, 7], affine: .identity), repeating: 0)
            for o in v.data.indices {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                let r = Int(state >> 59)  // 0...31
                v.data[o] = r < 16 ? 0 : r < 26 ? 1 : r < 30 ? 2 : 3
            }
            var fast = v
            IslandRemoval(minimumML: 0.0035).apply(to: &fast)  // 1 mm³ voxels: fewer than 4 voxels go
            let reference = Self.referenceRemoval(v, minimumVoxels: 4)
            #expect(fast.data == reference.data)
            #expect(fast.data != v.data)  // something was removed
        }
    }
}
