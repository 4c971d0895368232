import ArgumentParser
import NeuralEngine

/// `segvol bench engine`: U-Net inference and training-step speed of our own engine.
struct BenchEngineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Time U-Net inference and one training step (forward, backward, Adam) per slice.",
        discussion: """
            Defaults follow the engine issue: base widths 16 and 32, 256×256 input, 1 channel in, \
            20 classes out, batch 8; medians of --repeats runs after a warm-up. For the ratio to \
            PyTorch and ONNX Runtime on the same machine, run Scripts/bench_engine.py, which runs \
            both peers and this command side by side.
            """
    )

    @Option(parsing: .upToNextOption, help: "Base widths to measure.")
    var widths: [Int] = [16, 32]

    @Option(help: "Input height and width.")
    var size = 256

    @Option(help: "Slices per batch.")
    var batch = 8

    @Option(help: "Output classes.")
    var classes = 20

    @Option(help: "U-Net depth (number of poolings).")
    var depth = 4

    @Option(help: "Repetitions per measurement (the median is printed).")
    var repeats = 3

    @Option(help: "Threads (default: all cores).")
    var threads: Int?

    func validate() throws {
        guard !widths.isEmpty, widths.allSatisfy({ $0 >= 1 }) else { throw ValidationError("widths must be positive") }
        guard size >= 1 << depth, size % (1 << depth) == 0 else {
            throw ValidationError("--size must be a multiple of 2^depth = \(1 << depth)")
        }
        guard batch >= 1, classes >= 2, repeats >= 1, depth >= 1 else {
            throw ValidationError("--batch, --repeats and --depth must be at least 1, --classes at least 2")
        }
    }

    func run() throws {
        ensureBLASEnvironment()
        for width in widths {
            let result = benchmarkEngine(baseWidth: width, size: size, batch: batch, classes: classes, depth: depth,
                                         repeats: repeats, threads: threads)
            print(result)
        }
    }
}
