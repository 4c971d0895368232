import Anatomy
import Foundation
import ImagingCore
import Phantoms
import Testing
@testable import Volumetry

/// The QC montage's fast path against its reference twin, pixel for pixel, and the fast PNG
/// encoding read back.
@Suite struct QCFastPathTests {
    /// `volume` with its voxel axes permuted (storage order changes, the world stays): new
    /// axis a is old axis `order[a]`.
    static func permuted<T>(_ volume: Volume<T>, _ order: [Int]) -> Volume<T> {
        let old = volume.grid.shape
        let shape = order.map { old[$0] }
        let a = volume.grid.affine
        let cols = order.map { SIMD3(a[0, $0], a[1, $0], a[2, $0]) }
        let grid = Grid(shape: shape, affine: Affine(columns: cols[0], cols[1], cols[2], origin: SIMD3(a[0, 3], a[1, 3], a[2, 3])))
        var data = volume.data
        for k in 0..<shape[2] { for j in 0..<shape[1] { for i in 0..<shape[0] {
            var ijk = [0, 0, 0]
            ijk[order[0]] = i; ijk[order[1]] = j; ijk[order[2]] = k
            data[grid.offset(i, j, k)] = volume.data[volume.grid.offset(ijk[0], ijk[1], ijk[2])]
        } } }
        return Volume(grid: grid, data: data)
    }

    @Test func renderEqualsTheReferenceRender() throws {
        var cases: [(ImageVolume, LabelVolume)] = []
        let thigh = try volPhantom(.thigh, seed: 3, bilateral: true, matrix: [72, 48], slices: 7)
        cases.append((thigh.image, thigh.labels))
        let calf = try volPhantom(.calf, seed: 4, matrix: [50, 60], slices: 5, oblique: true)
        cases.append((calf.image, calf.labels))
        let abdomen = try volPhantom(.abdomen, seed: 5, matrix: [64, 64], slices: 4)  // CT: the HU window
        cases.append((abdomen.image, abdomen.labels))
        // Slice axis stored first, then second (kAxis 0 and 1), flipped display axes.
        cases.append((Self.permuted(thigh.image, [2, 0, 1]), Self.permuted(thigh.labels, [2, 0, 1])))
        cases.append((Self.permuted(calf.image, [1, 2, 0]), Self.permuted(calf.labels, [1, 2, 0])))
        // Nothing labelled; a label id the catalog lacks, and a large one.
        cases.append((thigh.image, LabelVolume(grid: thigh.labels.grid, repeating: 0)))
        var odd = calf.labels
        odd.data[odd.data.count / 2] = 250
        odd.data[odd.data.count / 3] = 70_000
        cases.append((calf.image, odd))
        for (n, (image, labels)) in cases.enumerated() {
            var montage = QCMontage()
            montage.tileSize = 64 + 16 * (n % 3)
            montage.maxTiles = [12, 5, 1][n % 3]
            #expect(montage.chosenSlices(labels) == montage.referenceChosenSlices(labels), "case \(n)")
            let volumes = [1: 12.5, 40: 3.25]
            let fast = montage.render(image: image, labels: labels, catalog: volCatalog, volumesML: volumes, title: "case \(n)")
            let reference = montage.referenceRender(image: image, labels: labels, catalog: volCatalog, volumesML: volumes, title: "case \(n)")
            let same = fast == reference
            let firstDifference = zip(fast.pixels, reference.pixels).enumerated().first { $0.element.0 != $0.element.1 }
            #expect(same, "case \(n): \(fast.width)x\(fast.height) vs \(reference.width)x\(reference.height), first difference at byte \(firstDifference?.offset ?? -1)")
        }
    }

    /// The survey's block skipping against looking at every voxel: runs of one id whose ends
    /// fall anywhere in a block of 8, slices whose size is not a multiple of 8, isolated voxels,
    /// negative ids (labelled, never present), ids past the small table (4096 and up), empty
    /// slices, and all three storage orders of the slice axis.
    @Test func blockSurveyEqualsTheVoxelSurvey() throws {
        var state: UInt64 = 21
        func next() -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int(state >> 33) }
        let values: [Int32] = [0, 0, 0, 1, 2, 7, 40, -3, 250, 4095, 4096, 70_000]
        // Labels on `grid` as runs of 1 ... `longest` voxels of random values.
        func runs(_ grid: Grid, longest: Int) -> LabelVolume {
            var labels = LabelVolume(grid: grid, repeating: 0)
            var i = 0
            while i < labels.data.count {
                let run = 1 + next() % longest, v = values[next() % values.count]
                for n in i..<min(i + run, labels.data.count) { labels.data[n] = v }
                i += run
            }
            return labels
        }
        for shape in [[13, 7, 5], [8, 8, 3], [1, 1, 9], [29, 3, 4]] {
            let grid = Grid(shape: shape, affine: Affine(columns: SIMD3(0.8, 0, 0), SIMD3(0, 0.8, 0), SIMD3(0, 0, 3), origin: SIMD3(0, 0, 0)))
            var labels = runs(grid, longest: 19)
            if shape[2] > 2 { for n in grid.offset(0, 0, 1)..<grid.offset(0, 0, 2) { labels.data[n] = 0 } }  // an empty slice
            for order in [[0, 1, 2], [2, 0, 1], [1, 2, 0]] {
                let volume = Self.permuted(labels, order)
                let fast = QCMontage.survey(volume), reference = QCMontage.survey(volume, blocks: false)
                #expect(fast.labelled == reference.labelled, "shape \(shape) order \(order)")
                #expect(fast.present == reference.present, "shape \(shape) order \(order)")
                #expect(volume.idsPresent(upTo: 5000) == volume.referenceIDsPresent(upTo: 5000), "shape \(shape) order \(order)")
                #expect(volume.idsPresent(upTo: 40) == volume.referenceIDsPresent(upTo: 40), "shape \(shape) order \(order)")
            }
        }
        // More voxels than one chunk of the whole-volume passes (several chunks, each with its own first value).
        let big = Grid(shape: [301, 257, 9], affine: Affine(columns: SIMD3(1, 0, 0), SIMD3(0, 1, 0), SIMD3(0, 0, 1), origin: SIMD3(0, 0, 0)))
        let labels = runs(big, longest: 300)
        #expect(labels.idsPresent(upTo: 300) == labels.referenceIDsPresent(upTo: 300))
        #expect(QCMontage.survey(labels).present == QCMontage.survey(labels, blocks: false).present)
    }

    @Test func selectionWindowEqualsTheSortedWindow() {
        var state: UInt64 = 8
        for n in [1, 2, 7, 100, 101, 1000, 4099] {
            for spread in [3, 1000] {
                var values = (0..<n).map { _ -> Float in
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    return Float(Int(state >> 40) % spread) - Float(spread / 3)
                }
                if n > 50 { values[n / 2] = -1000 }  // HU-looking minimum for some
                let reference = QCMontage.referenceWindow(values)
                var copy = values
                let fast = QCMontage.window(&copy)
                #expect(fast == reference, "n \(n) spread \(spread)")
                if n > 2 { #expect(QCMontage.select(&values, 2) == values.sorted()[2]) }
            }
        }
    }

    @Test func fastPNGReadsBackToTheSamePixels() throws {
        let phantom = try volPhantom(.thigh, seed: 6, matrix: [64, 64], slices: 5)
        var montage = QCMontage()
        montage.tileSize = 96
        let picture = montage.render(image: phantom.image, labels: phantom.labels, catalog: volCatalog, title: "png")
        let compact = try PNGWriter.encode(picture), fast = try PNGWriter.encode(picture, fast: true)
        #expect(compact != fast)
        #expect(PNGWriter.decode(compact) == picture)
        #expect(PNGWriter.decode(fast) == picture)
        let grey = Picture(width: 3, height: 2, channels: 1, pixels: [0, 50, 100, 150, 200, 250])
        #expect(PNGWriter.decode(try PNGWriter.encode(grey, fast: true), channels: 1) == grey)
        #expect(PNGWriter.decode([1, 2, 3]) == nil)
    }

    /// The hand-written fast encoding (libdeflate, filter None) on odd sizes and noise, read back
    /// by libpng, which checks every chunk CRC and the zlib stream's Adler-32: a corrupted byte
    /// anywhere in the image data makes the file unreadable.
    @Test func fastEncodingIsAValidPNGOfTheSamePixels() throws {
        var state: UInt64 = 21
        func noise(_ n: Int) -> [UInt8] {
            (0..<n).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return UInt8(truncatingIfNeeded: state >> 33)
            }
        }
        let pictures = [Picture(width: 1, height: 1, channels: 1, pixels: [7]),
                        Picture(width: 1, height: 1, channels: 3, pixels: [1, 2, 3]),
                        Picture(width: 13, height: 5, channels: 1, pixels: noise(65)),
                        Picture(width: 7, height: 11, channels: 3, pixels: noise(231)),
                        Picture(width: 300, height: 2, channels: 3, pixels: [UInt8](repeating: 24, count: 1800))]
        for p in pictures {
            let bytes = try PNGWriter.encode(p, fast: true)
            #expect(PNGWriter.decode(bytes, channels: p.channels) == p, "\(p.width)x\(p.height)x\(p.channels)")
            // IHDR as the compact encoding writes it (size, depth, colour type, methods).
            let compact = try PNGWriter.encode(p)
            #expect(bytes.prefix(33) == compact.prefix(33), "\(p.width)x\(p.height)x\(p.channels)")
            #expect(String(decoding: bytes[37..<41], as: UTF8.self) == "IDAT")
            #expect(Array(bytes.suffix(12)) == [0, 0, 0, 0, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82])
            // A flipped bit in the IDAT data (or its CRC) is caught on reading.
            for at in [41, bytes.count - 16] {
                var bad = bytes
                bad[at] ^= 0x10
                #expect(PNGWriter.decode(bad, channels: p.channels) == nil, "\(p.width)x\(p.height) byte \(at)")
            }
        }
    }
}

/// `VolumeMeasurer.measure` (parallel counts, fast side analysis) against `referenceMeasure`.
@Suite struct VolumeFastPathTests {
    @Test func measureEqualsTheReference() throws {
        var cases: [(LabelVolume, Region)] = []
        // The phantoms store rows along A-P (x constant along a row, a[0,0] == 0): the per-row
        // counts; with the first two axes swapped x runs along the rows (a[0,1] == a[0,2] == 0):
        // the per-column splat with the single-limb sums in the same pass; oblique: per voxel.
        let bilateral = try volPhantom(.thigh, seed: 3, bilateral: true, matrix: [96, 64], slices: 5)
        cases.append((bilateral.labels, .thigh))
        cases.append((QCFastPathTests.permuted(bilateral.labels, [1, 0, 2]), .thigh))
        let oblique = try volPhantom(.thigh, seed: 4, bilateral: true, matrix: [96, 64], slices: 5, oblique: true)
        cases.append((oblique.labels, .thigh))   // oblique: the per-voxel splat
        let calf = try volPhantom(.calf, seed: 5, matrix: [64, 64], slices: 4)
        cases.append((calf.labels, .calf))  // one limb
        cases.append((QCFastPathTests.permuted(calf.labels, [1, 0, 2]), .calf))
        let thigh = try volPhantom(.thigh, seed: 8, matrix: [64, 64], slices: 4)
        cases.append((thigh.labels, .thigh))  // one thigh: five reference muscles
        cases.append((QCFastPathTests.permuted(thigh.labels, [1, 0, 2]), .thigh))
        // One limb whose lateral muscle is missing: side not determinable (both row layouts).
        var noLateral = calf.labels
        let peroneus = VolumeTests.id("peroneus_longus")
        for o in noLateral.data.indices where noLateral.data[o] == peroneus { noLateral.data[o] = 0 }
        cases.append((noLateral, .calf))
        cases.append((QCFastPathTests.permuted(noLateral, [1, 0, 2]), .calf))
        cases.append(((try volPhantom(.calf, seed: 6, matrix: [64, 64], slices: 4, oblique: true)).labels, .calf))
        // Rows along A-P with ids outside the catalog inside and at the ends of label runs.
        var odd = calf.labels
        for (o, v) in [(0, 900), (1, 900), (odd.data.count / 2, -3), (odd.data.count / 2 + 1, 900), (odd.data.count - 1, 700)] {
            odd.data[o] = Int32(v)
        }
        cases.append((odd, .calf))
        let abdomen = try volPhantom(.abdomen, seed: 7, matrix: [64, 64], slices: 4)
        cases.append((abdomen.labels, .abdomen))  // trunk with bone
        var noBone = abdomen.labels
        let bone = VolumeTests.id("bone")
        for o in noBone.data.indices where noBone.data[o] == bone { noBone.data[o] = 0 }
        cases.append((noBone, .abdomen))          // trunk without bone
        // A LAS grid, nothing labelled, and ids outside the catalog (large and negative).
        var las = LabelVolume(grid: VolumeTests.lasGrid(), repeating: 0)
        for k in 0..<6 { for j in 0..<10 { for i in 3..<30 where (i + j + k) % 5 != 0 { las[i, j, k] = Int32(1 + (i * 7 + j) % 40) } } }
        las[0, 0, 0] = 900
        las[1, 0, 0] = -3
        cases.append((las, .thigh))
        cases.append((LabelVolume(grid: VolumeTests.lasGrid(), repeating: 0), .calf))
        // Rows whose length is not a multiple of 8 (the run counts skip blocks of 8 that repeat
        // the current label), with odd ids at block edges, in both row layouts.
        var oddRows = try volPhantom(.thigh, seed: 9, bilateral: true, matrix: [61, 53], slices: 3).labels
        for (o, v) in [(7, 900), (8, -3), (61 * 20 + 15, 700), (61 * 20 + 16, 700), (61 * 40 + 60, -3)] { oddRows.data[o] = Int32(v) }
        cases.append((oddRows, .thigh))
        cases.append((QCFastPathTests.permuted(oddRows, [1, 0, 2]), .thigh))
        for (n, (labels, region)) in cases.enumerated() {
            let fast = VolumeMeasurer.measure(labels, catalog: volCatalog, region: region)
            let reference = VolumeMeasurer.referenceMeasure(labels, catalog: volCatalog, region: region)
            #expect(fast == reference, "case \(n): \(fast.sides.method) vs \(reference.sides.method)")
            #expect(SideAnalysis.split(labels, catalog: volCatalog, region: region)
                    == SideAnalysis.referenceSplit(labels, catalog: volCatalog, region: region), "case \(n)")
        }
        // The cases cover every kind of split, and both row layouts each kind of limb split and
        // the undeterminable side.
        let splits = cases.map { VolumeMeasurer.measure($0.0, catalog: volCatalog, region: $0.1).sides }
        #expect(Set(splits.map(\.kind)) == [.bilateral, .single, .trunk])
        #expect(splits[0].kind == .bilateral && splits[1].kind == .bilateral)
        #expect(splits[3].singleSide != .unsplit && splits[3].singleSide == splits[4].singleSide)
        #expect(splits[5].singleSide != .unsplit && splits[5].singleSide == splits[6].singleSide)
        #expect(splits[7].singleSide == .unsplit && splits[8].singleSide == .unsplit)
    }
}
