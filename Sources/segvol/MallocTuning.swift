#if canImport(CMalloc)
import CMalloc
#endif

/// Lets one scan's process reuse the memory it frees instead of mapping fresh pages.
///
/// glibc maps a block of its mmap threshold or more (dynamic, at most 32 MiB) on its own and
/// unmaps it on free, and trims the top of the heap beyond 128 KiB; either way the next large
/// array of the scan (a 512 × 512 × 32 volume is 32 MiB, the batch's logits and input, the
/// gzip and PNG buffers) gets fresh pages, each first touch a page fault (~2.8 µs per 4 KiB on
/// the benchmark VM). With both thresholds at 1 GiB, arrays come from the heap and freed ones
/// are reused by the next allocation of the scan (measured: 109 k → 96 k page faults for a
/// 512 × 512 × 32 thigh through `segvol segment`, peak RSS 367 → 383 MB; docs/segmentation.md,
/// "Session 5, page faults"). For the processes that segment one job and exit (`segvol
/// segment`, `segvol worker`), not the daemon (its idle RSS would keep what it freed) and not
/// `segvol bench pipeline` (its repeats in one process would reuse each other's memory, which
/// a worker never can).
func tuneMallocForOneScan() {
    #if canImport(CMalloc)
    _ = mallopt(M_MMAP_THRESHOLD, 1 << 30)
    _ = mallopt(M_TRIM_THRESHOLD, 1 << 30)
    #endif
}
