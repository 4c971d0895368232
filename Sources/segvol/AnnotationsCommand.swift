import Anatomy
import Annotations
import ArgumentParser
import Configuration
import Foundation
import ImagingCore
import Logging
import SystemdSupport

/// `segvol annotations ingest | list`: the annotation intake and the dataset store
/// (docs/operations.md "Annotations").
struct AnnotationsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "annotations",
        abstract: "Take annotated cases into the dataset store, or list the store.",
        subcommands: [Ingest.self, List.self]
    )

    struct Ingest: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check annotations/<region>/<case>/ folders once; accepted cases enter the dataset store.",
            discussion: """
                Waits inbox.quiet_folder_s for the folders to settle. A refused case moves to \
                annotations/failed/<case>/ with reason.json; an accepted one to \
                annotations/accepted/<case>/. `segvol train --config …` runs this too.
                """
        )
        @Option(help: "The configuration file.") var config = defaultConfigPath

        func run() throws {
            let loaded = try loadSiteConfig(config)
            let logger = LoggingSetup.logger(label: "segvol.annotations", target: loaded.log.target, level: loaded.log.level)
            let report = try AnnotationsCommand.ingest(loaded, logger: logger)
            print("annotations: \(report.accepted.count) accepted, \(report.failed.count) refused, \(report.waiting.count) still settling")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the cases of the dataset store.")
        @Option(help: "The configuration file.") var config = defaultConfigPath

        func run() throws {
            let loaded = try loadSiteConfig(config)
            let store = DatasetStore(root: SitePaths(loaded).dataset)
            let index: DatasetIndex
            do { index = try store.index() } catch {
                report(error)
                throw ExitCode(ExitStatus.forError(error))
            }
            print("dataset store \(store.root): \(index.cases.count) case(s), snapshot \(index.snapshot.prefix(16))")
            for c in index.cases {
                print("\(c.hash.prefix(12))  \(c.added)  \(c.region.rawValue)  subject \(c.subject)  \(c.dataset)  \(c.source)  present: \(c.present.joined(separator: ","))\(c.warnings.isEmpty ? "" : "  (\(c.warnings.count) warning(s))")")
            }
        }
    }

    /// One intake pass, each outcome logged (journald under systemd).
    static func ingest(_ c: SegvolConfig, logger: Logger) throws -> IntakeReport {
        let paths = SitePaths(c)
        let catalog: LabelCatalog
        do { catalog = try LabelCatalog.load() } catch {
            report(error)
            throw ExitCode(ExitStatus.forError(error))
        }
        let intake = AnnotationIntake(annotations: paths.annotations, store: DatasetStore(root: paths.dataset), outbox: paths.outbox,
                                      catalog: catalog, quiet: .milliseconds(Int64((c.inbox.quietFolderSeconds * 1000).rounded())))
        let result: IntakeReport
        do {
            result = try intake.run(sleep: { quiet in
                logger.info("annotations: waiting \(c.inbox.quietFolderSeconds) s (inbox.quiet_folder_s) for the case folders to settle")
                let (s, a) = quiet.components
                Thread.sleep(forTimeInterval: Double(s) + Double(a) / 1e18)
            })
        } catch {
            report(error)
            throw ExitCode(ExitStatus.forError(error))
        }
        // Case folder names are chosen by operators and may identify patients (invariant I6):
        // the journal names cases by content hash and region only.
        for e in result.accepted {
            logger.notice("annotation accepted: \(e.region.rawValue) case \(e.hash.prefix(12)) (subject \(e.subject), present: \(e.present.joined(separator: ", ")))",
                          metadata: ["case": "\(e.hash)", "region": "\(e.region.rawValue)", "subject": "\(e.subject)",
                                     "event": "\(SegvolEvent.annotationAccepted.rawValue)"])
            for w in e.warnings { logger.warning("annotation \(e.region.rawValue) case \(e.hash.prefix(12)): \(w)") }
        }
        for f in result.failed {
            let region = f.caseName.split(separator: "/").first.map(String.init) ?? ""
            logger.warning("annotation refused (\(region)): \(f.error.reason) [\(f.error.code)] — \(f.error.remedy); the case is in annotations/failed/ with reason.json",
                           metadata: ["code": "\(f.error.code)", "region": "\(region)", "event": "\(SegvolEvent.annotationRefused.rawValue)"])
        }
        if !result.waiting.isEmpty { logger.info("\(result.waiting.count) annotation case(s) still changing; taken on the next pass") }
        return result
    }
}

/// Loads segvol.toml; a bad file exits with the configuration status, naming the key.
func loadSiteConfig(_ path: String) throws -> SegvolConfig {
    do { return try ConfigLoader.load(path: path) } catch {
        note(error.description)
        throw ExitCode(ExitStatus.config)
    }
}
