import Foundation
import Testing
@testable import Configuration

/// The package root (Tests/ConfigurationTests/<file> → ../..).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

@Suite struct ConfigurationTests {
    @Test func shippedDefaultFileEqualsTheBuiltInDefaults() throws {
        let config = try ConfigLoader.load(path: packageRoot + "/Config/segvol.toml")
        #expect(config == SegvolConfig())
        #expect(config.inbox.quietFolderSeconds == 30)
        #expect(config.inbox.quietFileSeconds == 10)
    }

    @Test func everyKeyOfTheDefaultFileIsCommented() throws {
        let text = try String(contentsOfFile: packageRoot + "/Config/segvol.toml", encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for (index, line) in lines.enumerated() where line.contains(" = ") && !line.hasPrefix("#") {
            #expect(index > 0 && lines[index - 1].hasPrefix("#") || index > 1 && lines[index - 2].hasPrefix("#"),
                    "key without a comment above it: \(line)")
        }
    }

    @Test func missingKeysTakeDefaultsAndIntegersReadAsSeconds() throws {
        let config = try ConfigLoader.parse("[inbox]\nquiet_file_s = 2\n[site]\nroot = \"/srv/segvol\"\n")
        #expect(config.inbox.quietFileSeconds == 2)
        #expect(config.inbox.quietFolderSeconds == 30)
        #expect(config.site.root == "/srv/segvol")
        #expect(SitePaths(config).work == "/srv/segvol/work")
        #expect(config.inbox.stalePartialAfterSeconds == 3600 && config.zip == SegvolConfig.Zip())
        let zip = try ConfigLoader.parse("[zip]\nmax_uncompressed_mb = 100\nmax_entries = 50\nmax_ratio = 12.5\n[inbox]\nstale_partial_after_s = 120\n")
        #expect(zip.zip.maxUncompressedMB == 100 && zip.zip.maxEntries == 50 && zip.zip.maxRatio == 12.5 && zip.inbox.stalePartialAfterSeconds == 120)
    }

    @Test(arguments: [
        ("[inbox]\nquiet_fle_s = 3\n", "inbox.quiet_fle_s"),
        ("[worker]\nmax_attempts = 2.5\n", "worker.max_attempts"),
        ("[worker]\nmax_attempts = 0\n", "worker.max_attempts"),
        ("[inbox]\nregions = [\"thigh\", \"knee\"]\n", "inbox.regions[1]"),
        ("[inbox]\nquiet_folder_s = -1\n", "inbox.quiet_folder_s"),
        ("[site]\nroot = \"relative\"\n", "site.root"),
        ("[site]\nwork = \"inbox\"\n", "site.work"),
        ("[log]\nlevel = \"loud\"\n", "log.level"),
        ("[retention]\nprocessed = \"shred\"\n", "retention.processed"),
        ("[worker]\nbackoff_s = 100\nbackoff_max_s = 10\n", "worker.backoff_max_s"),
        ("[bogus]\nx = 1\n", "bogus"),
        ("inbox = 3\n", "inbox"),
        ("[disk]\nmin_free_mb = \"lots\"\n", "disk.min_free_mb"),
        ("[metrics]\ntextfile = \"segvol.prom\"\n", "metrics.textfile"),
        ("[inbox]\nquiet_folder_s = 60\nstale_partial_after_s = 30\n", "inbox.stale_partial_after_s"),
        ("[zip]\nmax_uncompressed_mb = 0\n", "zip.max_uncompressed_mb"),
        ("[zip]\nmax_entries = 1.5\n", "zip.max_entries"),
        ("[zip]\nmax_ratio = 0.5\n", "zip.max_ratio"),
        ("[zip]\nmax_size = 3\n", "zip.max_size"),
    ])
    func errorsNameTheExactKey(text: String, key: String) {
        do {
            _ = try ConfigLoader.parse(text, file: "test.toml")
            Issue.record("accepted an invalid configuration: \(text)")
        } catch {
            #expect(error.key == key, "\(error)")
            #expect(error.description.hasPrefix("test.toml: \(key): "))
        }
    }

    @Test func syntaxErrorsNameTheLine() {
        do {
            _ = try ConfigLoader.parse("[inbox]\nquiet_file_s = = 3\n", file: "x.toml")
            Issue.record("accepted broken TOML")
        } catch {
            #expect(error.key.isEmpty)
            #expect(error.message.contains("line 2"), "\(error)")
        }
    }

    @Test func siteFoldersOnTwoFileSystemsAreRefused() throws {
        // /dev/shm (tmpfs) and /tmp are different file systems on Linux test machines.
        guard FileManager.default.fileExists(atPath: "/dev/shm") else { return }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("segvol-cfg-\(UUID().uuidString)").path
        let other = "/dev/shm/segvol-cfg-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/inbox", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root); try? FileManager.default.removeItem(atPath: other) }
        var stA = stat(), stB = stat()
        stat(root, &stA); stat(other, &stB)
        guard stA.st_dev != stB.st_dev else { return }
        let config = try ConfigLoader.parse("[site]\nroot = \"\(root)\"\nwork = \"\(other)\"\n")
        #expect(throws: ConfigError.self) { try ConfigLoader.checkFileSystem(config, file: "t") }
        do { try ConfigLoader.checkFileSystem(config, file: "t") } catch { #expect(error.key == "site.work") }
    }

    @Test func retrainKeysParseAndAreChecked() throws {
        let c = try ConfigLoader.parse("[retrain]\nsteps = 50\nnew_case_weight = 2.5\nphantom_data = \"/srv/phantoms\"\n[site]\nannotations = \"/srv/ann\"\n")
        #expect(c.retrain.steps == 50 && c.retrain.newCaseWeight == 2.5 && c.retrain.phantomData == "/srv/phantoms")
        #expect(c.retrain.maxMinutes == 60 && c.retrain.loss == "xent_plus + dice_log" && SitePaths(c).annotations == "/srv/ann")
        #expect(SitePaths(SegvolConfig()).dataset == "/var/lib/segvol/state/dataset")
        for (text, key) in [("[retrain]\nsteps = 2.5", "retrain.steps"), ("[retrain]\nvalidation_fraction = 1", "retrain.validation_fraction"),
                            ("[retrain]\nnew_case_weight = 0.5", "retrain.new_case_weight"), ("[retrain]\nphantom_data = \"rel\"", "retrain.phantom_data"),
                            ("[retrain]\ngate_x = 1", "retrain.gate_x")] {
            #expect(throws: ConfigError.self) { try ConfigLoader.parse(text) }
            do { _ = try ConfigLoader.parse(text) } catch { #expect(error.key == key, "\(text)") }
        }
    }
}
