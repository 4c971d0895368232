internal import CNIfTI
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Which inflater `FileLoader` uses for a full `.nii.gz` read. `.zlib` is the streaming reference
/// (`GzipInflater`); `.libdeflate` tries the whole-buffer fast path first and falls back to zlib
/// whenever it declines, so refusals keep zlib's codes and messages.
enum GzipDecoder: Sendable {
    case libdeflate
    case zlib
}

/// A libdeflate decompressor, freed on deinit. One per thread (libdeflate's are not shareable).
final class DeflateDecompressor {
    let raw: OpaquePointer

    init?() {
        guard let d = libdeflate_alloc_decompressor() else { return nil }
        raw = d
    }

    deinit { libdeflate_free_decompressor(raw) }
}

/// Whole-buffer gzip decoding with libdeflate (3–4× faster than zlib's streaming inflate).
///
/// It produces exactly `expected` bytes (the header-derived `vox_offset` + voxel bytes) or
/// declines with `nil`; it never reports an error itself. The caller then re-reads the file with
/// the zlib reference, which yields the error code and message (`truncated`,
/// `nifti_corrupt_gzip`, `nifti_gzip_too_large`) or, for a stream holding more than the header
/// needs, the accepted bytes. libdeflate checks each member's CRC32 and ISIZE; members whose
/// header has FHCRC set are left to zlib, which checks the header CRC too.
enum GzipWhole {
    /// deflate cannot expand more than 1032:1; a stream much smaller than `expected / 1032` cannot
    /// hold the voxels, so the fast path declines before reserving the output buffer.
    static let maxDeflateRatio = 1032

    /// Outputs at least this large with ≥ 2 members are decoded on 2 threads.
    static let parallelMinBytes = 8 << 20

    /// Whether a `compressedBytes`-byte file is worth reading whole for an `expected`-byte result:
    /// not implausibly small (the 1-GiB-claim case stays cheap) nor much larger than the voxels
    /// (trailing data or padding: the streaming reference reads those without holding them).
    static func worthTrying(compressedBytes: Int, expected: Int) -> Bool {
        expected > 0
            && compressedBytes.multipliedReportingOverflow(by: maxDeflateRatio).partialValue >= expected
            && compressedBytes <= expected + expected / 8 + (1 << 20)
    }

    /// Decodes the gzip file `data` to exactly `expected` bytes, or returns nil.
    /// The output buffer is reserved uninitialised, so pages are only committed as bytes arrive.
    static func decode(_ data: [UInt8], expected: Int, parallel: Bool = true) -> [UInt8]? {
        var ok = false
        let out = [UInt8](unsafeUninitializedCapacity: expected) { buf, count in
            let dst = UnsafeMutableRawBufferPointer(buf)
            data.withUnsafeBytes { src in
                if parallel, expected >= parallelMinBytes, let plan = memberPlan(src, expected: expected), plan.count >= 2 {
                    ok = decodeParallel(src, into: dst, plan: plan)
                }
                if !ok { ok = decodeSequential(src, into: dst) }
            }
            count = ok ? expected : 0
        }
        return ok ? out : nil
    }

    /// Member after member, like gzip(1): zero padding between members is skipped.
    static func decodeSequential(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) -> Bool {
        guard let d = DeflateDecompressor() else { return false }
        var inPos = 0, outPos = 0
        while true {
            if inPos > 0 { while inPos < src.count && src[inPos] == 0 { inPos += 1 } }
            if inPos == src.count { break }
            if src.count - inPos >= 4 && src[inPos + 3] & 0x02 != 0 { return false }
            var used = 0, made = 0
            let rc = libdeflate_gzip_decompress_ex(d.raw, src.baseAddress! + inPos, src.count - inPos,
                                                   dst.baseAddress! + outPos, dst.count - outPos, &used, &made)
            guard rc == LIBDEFLATE_SUCCESS, used > 0 else { return false }
            inPos += used
            outPos += made
        }
        return outPos == dst.count
    }

    /// One member: compressed range and decompressed range.
    struct Member: Equatable {
        var input: Range<Int>
        var output: Range<Int>
    }

    /// Member boundaries of a stream written as independent members with a plain 10-byte
    /// header (FLG 0, as libdeflate and segvol's writer emit), found without inflating: each
    /// `1f 8b 08 00` candidate's preceding 4 bytes are the previous member's ISIZE. Returns nil
    /// unless the sizes add up to exactly `expected`. A false candidate inside deflate data is
    /// caught when decoding (a member must consume exactly its range), then the sequential path runs.
    static func memberPlan(_ src: UnsafeRawBufferPointer, expected: Int) -> [Member]? {
        // The first member's FHCRC is zlib's to check (as in the sequential loop).
        guard src.count >= 18, src[3] & 0x02 == 0, let base = src.baseAddress else { return nil }
        var starts = [0]
        // Candidates lie in [18, count - 18]: every member holds at least 18 bytes.
        let limit = src.count - 17
        var p = 18
        while p < limit, let hit = memchr(base + p, 0x1F, limit - p) {
            let q = base.distance(to: UnsafeRawPointer(hit))
            if src[q + 1] == 0x8B && src[q + 2] == 8 && src[q + 3] == 0 && q - starts.last! >= 18 { starts.append(q) }
            p = q + 1
        }
        var members: [Member] = []
        var outPos = 0
        for (i, lo) in starts.enumerated() {
            let hi = i + 1 < starts.count ? starts[i + 1] : src.count
            let isize = Int(src.loadUnaligned(fromByteOffset: hi - 4, as: UInt32.self).littleEndian)
            guard isize > 0, outPos + isize <= expected else { return nil }
            members.append(Member(input: lo..<hi, output: outPos..<(outPos + isize)))
            outPos += isize
        }
        return outPos == expected ? members : nil
    }

    /// Decodes the planned members on 2 threads (split by output bytes); each member must use
    /// exactly its compressed range and fill exactly its output range.
    static func decodeParallel(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer, plan: [Member]) -> Bool {
        let half = dst.count / 2
        let split = plan.firstIndex { $0.output.upperBound > half }.map { max(1, $0) } ?? 1
        let groups = [plan[..<split], plan[split...]]
        let input = SendableRaw(base: UnsafeMutableRawPointer(mutating: src.baseAddress!))
        let output = SendableRaw(base: dst.baseAddress!)
        let results = SendableFlags(count: 2)
        DispatchQueue.concurrentPerform(iterations: 2) { g in
            guard let d = DeflateDecompressor() else { return }
            for m in groups[g] {
                var used = 0, made = 0
                let rc = libdeflate_gzip_decompress_ex(d.raw, input.base + m.input.lowerBound, m.input.count,
                                                       output.base + m.output.lowerBound, m.output.count, &used, &made)
                guard rc == LIBDEFLATE_SUCCESS, used == m.input.count, made == m.output.count else { return }
            }
            results.set(g)
        }
        return results.all
    }
}

/// A raw pointer handed to worker threads that write disjoint ranges.
struct SendableRaw: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
}

/// One success flag per worker, each written by its own worker only.
final class SendableFlags: @unchecked Sendable {
    private let flags: UnsafeMutablePointer<Bool>
    private let count: Int

    init(count: Int) {
        self.count = count
        flags = .allocate(capacity: count)
        flags.initialize(repeating: false, count: count)
    }

    deinit { flags.deallocate() }

    func set(_ i: Int) { flags[i] = true }
    var all: Bool { (0..<count).allSatisfy { flags[$0] } }
}
