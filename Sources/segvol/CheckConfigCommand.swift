import ArgumentParser
import Configuration

/// `segvol check-config`: validates the daemon's configuration and names the exact key on error.
struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate the daemon's configuration file (every key and value, and the site's file systems)."
    )

    @Option(help: "The configuration file.")
    var config = defaultConfigPath

    func run() throws {
        do {
            let loaded = try ConfigLoader.load(path: config)
            try ConfigLoader.checkFileSystem(loaded, file: config)
            let paths = SitePaths(loaded)
            print("\(config): OK")
            print("  site root \(paths.root); inboxes: \(paths.inboxFolders(loaded).map(\.region).joined(separator: ", "))")
        } catch {
            note(error.description)
            throw ExitCode(ExitStatus.config)
        }
    }
}

/// Where the packaged service's configuration lives.
let defaultConfigPath = "/etc/segvol/segvol.toml"
