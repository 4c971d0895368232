import ArgumentParser

/// The one executable. Subcommands arrive with their issues (serve, process, train, models,
/// phantom, status, check-config); today: convert, info, bench.
@main
struct Segvol: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segvol",
        abstract: "Segment and measure muscles, tissues and organs in MRI and CT.",
        version: segvolVersion,
        subcommands: [ConvertCommand.self, InfoCommand.self, BenchCommand.self, PhantomCommand.self]
    )
}

/// The version every output and manifest names.
let segvolVersion = "0.1.0"
