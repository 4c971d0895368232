#if canImport(Glibc)
import Glibc
#endif

/// One `benchmarkEngine` measurement (medians over the repeats).
public struct EngineBenchmarkResult: Sendable, CustomStringConvertible {
    public var config: UNetConfig
    public var batch: Int
    public var size: Int
    public var threads: Int
    /// Multiply-adds x 2 of one slice's forward pass (convolutions, transposed convolutions, head).
    public var forwardGFLOPPerSlice: Double
    /// Eval-mode forward, milliseconds per slice.
    public var inferenceMsPerSlice: Double
    /// Forward + loss + backward + Adam, milliseconds per slice.
    public var trainStepMsPerSlice: Double
    /// Forward GFLOP/s of the inference pass.
    public var inferenceGFLOPS: Double { forwardGFLOPPerSlice / (inferenceMsPerSlice / 1000) }
    /// GFLOP/s of the training step, counting backward as twice the forward.
    public var trainGFLOPS: Double { 3 * forwardGFLOPPerSlice / (trainStepMsPerSlice / 1000) }
    /// Peak resident memory during the inference runs (VmHWM, reset before), bytes; 0 if unknown.
    public var inferencePeakRSSBytes: Int
    /// Peak resident memory during the training steps (VmHWM, reset before), bytes; 0 if unknown.
    public var trainPeakRSSBytes: Int

    public var description: String {
        let gib = { (b: Int) in fmt(Double(b) / 1_073_741_824) }
        return "width \(config.baseWidth) @\(size) batch \(batch), \(threads) thread(s): \(fmt(forwardGFLOPPerSlice)) GFLOP fwd/slice; "
            + "inference \(fmt(inferenceMsPerSlice)) ms/slice (\(fmt(inferenceGFLOPS)) GFLOP/s); "
            + "train step \(fmt(trainStepMsPerSlice)) ms/slice (\(fmt(trainGFLOPS)) GFLOP/s); "
            + "peak RSS inference \(gib(inferencePeakRSSBytes)) GiB, training \(gib(trainPeakRSSBytes)) GiB; BLAS core \(EngineThreads.blasCoreName); conv route \(EngineThreads.convolutionRoute)"
    }
}

private func fmt(_ x: Double) -> String {
    let r = x >= 100 ? x.rounded() : x >= 10 ? (x * 10).rounded() / 10 : (x * 100).rounded() / 100
    return String(r)
}

extension UNetConfig {
    /// 2 x multiply-adds of one H x W slice's forward pass.
    public func forwardFLOPs(height h: Int, width w: Int) -> Double {
        var flops = 0.0
        func conv(_ ci: Int, _ co: Int, _ k: Int, _ hw: Int) { flops += 2 * Double(ci * co * k * k) * Double(hw) }
        for i in 0...depth {
            let hw = (h >> i) * (w >> i)
            let co = width(level: i)
            let ci = i == 0 ? inChannels : width(level: i - 1)
            conv(ci, co, 3, hw)
            conv(co, co, 3, hw)
            if i < depth {
                conv(width(level: i + 1), co, 2, (h >> (i + 1)) * (w >> (i + 1)))  // up-conv
                conv(2 * co, co, 3, hw)
                conv(co, co, 3, hw)
            }
        }
        conv(baseWidth, classes, 1, h * w)
        return flops
    }
}

/// Peak resident set size of this process (VmHWM from /proc/self/status), bytes; 0 if unknown.
public func peakResidentBytes() -> Int {
    guard let f = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, 256, f) != nil {
        let s = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if s.hasPrefix("VmHWM:") {
            let kb = s.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) } ?? 0
            return kb * 1024
        }
    }
    return 0
}

/// Resets the process's peak resident size (VmHWM) to the current one; false if not possible.
@discardableResult
public func resetPeakResidentBytes() -> Bool {
    guard let f = fopen("/proc/self/clear_refs", "w") else { return false }
    defer { fclose(f) }
    return fputs("5", f) >= 0
}

/// Times the U-Net on synthetic data: eval-mode inference and full training steps
/// (forward, cross-entropy, backward, Adam), medians of `repeats` runs after one warm-up.
/// `segvol bench engine` calls this for base widths 16 and 32 at 256 x 256, batch 8.
public func benchmarkEngine(
    baseWidth: Int, size: Int = 256, batch: Int = 8, inChannels: Int = 1, classes: Int = 20, depth: Int = 4,
    repeats: Int = 3, threads: Int? = nil
) -> EngineBenchmarkResult {
    // threads: worker count for this run (nil: EngineThreads.threadCount); the default is left as is.
    let workers = threads.map { EngineThreads.resolvedCount(requested: $0, cores: EngineThreads.cores) } ?? EngineThreads.threadCount
    resetPeakResidentBytes()
    let config = UNetConfig(inChannels: inChannels, classes: classes, baseWidth: baseWidth, depth: depth)
    let net = UNet(config: config, seed: 1)
    net.threadCount = workers
    var rng = SeededGenerator(seed: 2)
    let input = (0..<(batch * inChannels * size * size)).map { _ in rng.nextGaussian() }
    let target = (0..<(batch * size * size)).map { _ in Int32(rng.next() % UInt64(classes)) }
    let info = [ImageLabelInfo](repeating: ImageLabelInfo(), count: batch)
    let clock = ContinuousClock()
    func median(_ body: () -> Void) -> Double {
        body()  // warm-up: plans the workspace, faults the pages in
        var times: [Double] = []
        for _ in 0..<max(repeats, 1) {
            let d = clock.measure(body)
            times.append(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
        }
        return times.sorted()[times.count / 2] / Double(batch)
    }
    net.mode = .eval
    let infer = median { input.withUnsafeBufferPointer { net.forward($0, batch: batch, height: size, width: size) } }
    let inferenceRSS = peakResidentBytes()
    resetPeakResidentBytes()
    var adam = Adam()
    let train = median {
        net.trainStep(input: input, target: target, info: info, batch: batch, height: size, width: size,
                      loss: CrossEntropyLoss(), optimizer: &adam)
    }
    return EngineBenchmarkResult(
        config: config, batch: batch, size: size, threads: workers,
        forwardGFLOPPerSlice: config.forwardFLOPs(height: size, width: size) / 1e9,
        inferenceMsPerSlice: infer, trainStepMsPerSlice: train,
        inferencePeakRSSBytes: inferenceRSS, trainPeakRSSBytes: peakResidentBytes())
}
