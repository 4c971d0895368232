import ArgumentParser

/// The one executable. Subcommands arrive with their issues (process, train, models, phantom);
/// today: convert, info, bench, serve, worker, status, check-config. Async because `serve` runs
/// a swift-service-lifecycle ServiceGroup; the other commands stay synchronous.
@main
struct Segvol: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segvol",
        abstract: "Segment and measure muscles, tissues and organs in MRI and CT.",
        version: segvolVersion,
        subcommands: [ConvertCommand.self, InfoCommand.self, PhantomCommand.self, SegmentCommand.self, TrainCommand.self, ValidateCommand.self,
                      ModelsCommand.self,
                      AnnotationsCommand.self,
                      BenchCommand.self,
                      ServeCommand.self, WorkerCommand.self, StatusCommand.self, CheckConfigCommand.self]
    )
}

/// The version every output and manifest names.
let segvolVersion = "0.1.0"
