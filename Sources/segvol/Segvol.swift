import ArgumentParser

@main
struct Segvol: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segvol",
        abstract: "Segment and measure muscles, tissues and organs in MRI and CT.",
        subcommands: []
    )
}
