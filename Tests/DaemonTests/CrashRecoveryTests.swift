import Foundation
import Testing
@testable import Spool

/// kill -9 of `segvol serve` at random moments, then the invariants of RELIABILITY.md.
extension DaemonSuite {
@Suite struct CrashRecoveryTests {
    @Test(.enabled(if: segvolBinary != nil), .timeLimit(.minutes(3)))
    func killNineAtRandomMomentsKeepsInvariantsI1ToI4() throws {
        let site = DaemonSite()
        var originals: [String: Data] = [:]
        var expectedFailures: Set<String> = []
        var generator = SystemRandomNumberGenerator()
        var dropIndex = 0
        func addDrops(_ n: Int) throws {
            for _ in 0..<n {
                dropIndex += 1
                let name = "scan\(dropIndex).nii.gz"
                originals[name] = try site.dropNIfTI(name, region: dropIndex % 2 == 0 ? "thigh" : "calf", shape: [32, 32, 8], seed: Float(dropIndex))
            }
        }
        try addDrops(4)
        // A drop the worker refuses: it must end in failed/, never be lost or retried forever.
        FileManager.default.createFile(atPath: site.inbox("thigh") + "/junk.nii", contents: Data(repeating: 0x41, count: 4000))
        originals["junk.nii"] = Data(repeating: 0x41, count: 4000)
        expectedFailures.insert("junk.nii")

        for iteration in 0..<8 {
            let serve = try site.serve()
            let delay = Double.random(in: 0.05...1.2, using: &generator)
            usleep(useconds_t(delay * 1_000_000))
            if iteration % 3 == 1 { try addDrops(2) }
            kill(serve.processIdentifier, SIGKILL)
            serve.waitUntilExit()
            // Every input is somewhere, exactly once, at every crash point (I1).
            for (name, places) in site.locations() { #expect(places.count == 1, "iteration \(iteration): \(name) in \(places)") }
            #expect(Set(site.locations().keys) == Set(originals.keys), "iteration \(iteration): inputs lost or invented")
        }

        let final = try site.serve(["--exit-when-idle"])
        let status = waitExit(final, 90)
        #expect(status == 0)
        if status == nil { final.terminate() }

        let locations = site.locations()
        // I1: each input in exactly one final state.
        #expect(Set(locations.keys) == Set(originals.keys))
        for (name, places) in locations {
            #expect(places == [expectedFailures.contains(name) ? "failed" : "archive"], "\(name): \(places)")
        }
        let store = site.store
        var outputsByDrop: [String: Int] = [:]
        for id in store.jobIDs(in: site.paths.archive) {
            let record = try #require(store.load(dir: site.paths.archive + "/" + id))
            // I3: archived only with durable outputs; the input is byte-identical.
            let manifestPath = site.paths.outbox + "/" + id + "/manifest.json"
            #expect(FileManager.default.fileExists(atPath: manifestPath), "\(id) archived without outputs")
            let archived = try Data(contentsOf: URL(fileURLWithPath: site.paths.archive + "/" + id + "/drop/" + record.dropName))
            #expect(archived == originals[record.dropName])
            // I2: every output matches its manifest's SHA-256.
            let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: manifestPath))) as! [String: Any]
            for scan in manifest["scans"] as! [[String: Any]] {
                for output in scan["outputs"] as! [[String: Any]] {
                    let path = site.paths.outbox + "/" + id + "/" + (output["path"] as! String)
                    #expect(sha256(path) == output["sha256"] as? String)
                    #expect((try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) == output["bytes"] as? Int)
                }
            }
            let inputs = manifest["inputs"] as! [[String: Any]]
            #expect(inputs.first?["sha256"] as? String == sha256(site.paths.archive + "/" + id + "/drop/" + record.dropName))
            outputsByDrop[record.dropName, default: 0] += 1
        }
        // I4: one output folder per input, none for the failed one, no leftovers.
        let outbox = try FileManager.default.contentsOfDirectory(atPath: site.paths.outbox)
        #expect(outbox.count == originals.count - expectedFailures.count, "\(outbox)")
        #expect(outputsByDrop.values.allSatisfy { $0 == 1 })
        let everything = try FileManager.default.subpathsOfDirectory(atPath: site.paths.root)
        #expect(everything.filter { $0.contains(".tmp-") }.isEmpty, "temporaries left: \(everything.filter { $0.contains(".tmp-") })")
        #expect(try FileManager.default.contentsOfDirectory(atPath: site.paths.work).isEmpty)
        let junk = try #require(store.jobIDs(in: site.paths.failed).first)
        #expect(store.failureReason(junk)?.stage == "convert")
    }
}
}
