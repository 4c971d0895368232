import ArgumentParser

/// `segvol bench …`: benchmarks that print figures (never timed tests).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run a benchmark and print its figures.",
        subcommands: [BenchIOCommand.self, BenchEngineCommand.self, BenchPipelineCommand.self, BenchPartialLabelsCommand.self]
    )
}
