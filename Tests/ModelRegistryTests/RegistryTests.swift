import Foundation
import ImagingCore
import Segmentation
import Testing
import TestSupport
@testable import ModelRegistry

/// Register, list, show, promote, rollback, immutability and recovery on real folders.
@Suite struct RegistryTests {
    @Test func registerPromoteAndRollBackInOneStep() throws {
        let dir = Support.temporaryDirectory("flow")
        defer { Support.cleanUp(dir) }
        let registry = ModelRegistry(directory: dir + "/models", now: { Date(timeIntervalSince1970: 1_795_421_700) })  // 2026-11-23T0815Z
        #expect(registry.versions().isEmpty && registry.currentVersion() == nil)
        #expect(try registry.ensureBase(from: Support.defaultModel, catalog: Support.catalog) == "default")
        #expect(registry.currentVersion() == "default")
        #expect(try registry.ensureBase(from: Support.defaultModel, catalog: Support.catalog) == nil)   // not twice

        let candidate = try Support.variant(in: dir, name: "run1", damage: Support.nudge)
        let id = try registry.register(candidate: candidate, parent: "default", gate: .accepted, catalog: Support.catalog)
        let weights = try FileSteps.sha256(candidate + "/weights.safetensors")
        #expect(id == "2026-11-23T0815Z-" + weights.prefix(8))
        #expect(registry.currentVersion() == "default")   // registering does not switch
        let p = try registry.provenance(of: id)
        #expect(p.parentVersion == "default" && p.gate == .accepted && p.weightsSHA256 == weights)
        // Provenance comes from the candidate's metrics.json (a copy of the shipped model's).
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: candidate + "/metrics.json"))) as? [String: Any]
        let steps = try #require(metrics?["steps"] as? Int)
        let snapshot = try #require(metrics?["dataSnapshotHash"] as? String)
        #expect(steps > 0 && snapshot.count == 64)
        #expect(p.loss == metrics?["loss"] as? String && p.steps == steps && p.dataSnapshotHash == snapshot)
        #expect(p.created == "2026-11-23T08:15:00Z")
        #expect(registry.versions().map(\.version) == ["default", id] || registry.versions().map(\.version) == [id, "default"])

        let s = try registry.promote(id)
        #expect(s == .init(from: "default", to: id, changed: true))
        #expect(FileSteps.readLink(dir + "/models/current") == id)   // relative link
        let opened = try ModelFolder.open(dir + "/models/current", catalog: Support.catalog)
        #expect(opened.version == id)
        #expect(try registry.promote(id).changed == false)

        let back = try registry.rollback()
        #expect(back == .init(from: id, to: "default", changed: true) && registry.currentVersion() == "default")
        #expect(throws: ImagingError.self) { try registry.rollback() }
        do { try registry.rollback() } catch { #expect(error.code == .nothingToRollBack) }
        let h = try registry.history()
        #expect(h.stack == ["default"] && h.events.map(\.action) == ["base", "promote", "rollback"])
        #expect(throws: ImagingError.self) { try registry.provenance(of: "2026-01-01T0000Z-00000000") }
        do { _ = try registry.promote("../etc") } catch { #expect(error.code == .modelVersionUnknown) }
    }

    @Test func rejectedVersionNeedsForceAndVersionsAreImmutable() throws {
        let dir = Support.temporaryDirectory("immutable")
        defer { Support.cleanUp(dir) }
        let registry = ModelRegistry(directory: dir + "/models", now: { Date(timeIntervalSince1970: 1_795_421_700) })
        try registry.ensureBase(from: Support.defaultModel, catalog: Support.catalog)
        let bad = try Support.variant(in: dir, name: "bad", damage: Support.rotateClasses)
        let id = try registry.register(candidate: bad, parent: "default", gate: .rejected, catalog: Support.catalog)
        do {
            try registry.promote(id)
            Issue.record("a rejected version was promoted without force")
        } catch { #expect(error.code == .modelVersionRejected && error.remedy.contains("--force")) }
        #expect(registry.currentVersion() == "default")
        #expect(try registry.promote(id, force: true).to == id)
        #expect(try registry.history().events.last?.action == "promote-forced")

        // Read-only modes; the same weights twice in one minute is the same version id: refused.
        let folder = registry.path(of: id)
        #expect(try FileManager.default.attributesOfItem(atPath: folder)[.posixPermissions] as? Int == 0o555)
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
            #expect(try FileManager.default.attributesOfItem(atPath: folder + "/" + name)[.posixPermissions] as? Int == 0o444, "\(name)")
        }
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: folder))
                == ["plan.json", "weights.safetensors", "metrics.json", "provenance.json"])
        do {
            try registry.register(candidate: bad, parent: id, gate: .accepted, catalog: Support.catalog)
            Issue.record("registered twice")
        } catch { #expect(error.code == .modelVersionExists) }
        #expect(try registry.provenance(of: id).gate == .rejected)   // unchanged

        // Edited behind the registry's back (root ignores the modes): verify and promote refuse it.
        chmod(registry.path(of: "default"), 0o755)
        chmod(registry.path(of: "default") + "/weights.safetensors", 0o644)
        let handle = try #require(FileHandle(forWritingAtPath: registry.path(of: "default") + "/weights.safetensors"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0]))
        try handle.close()
        do { _ = try registry.verify("default"); Issue.record("tampering not seen") } catch { #expect(error.code == .registryInvalid) }
        do { try registry.rollback(); Issue.record("rolled back to a tampered version") } catch { #expect(error.code == .registryInvalid) }
        #expect(registry.currentVersion() == id)
    }

    @Test func recoveryRemovesTemporariesAndCompletesAnInterruptedSwitch() throws {
        let dir = Support.temporaryDirectory("recover")
        defer { Support.cleanUp(dir) }
        let models = dir + "/models"
        let registry = ModelRegistry(directory: models)
        try registry.ensureBase(from: Support.defaultModel, catalog: Support.catalog)
        let id = try registry.register(candidate: try Support.variant(in: dir, name: "c", damage: Support.nudge), parent: "default",
                                       gate: .accepted, catalog: Support.catalog)
        // The state a crash leaves: a half-built version (read-only), a temporary link, a
        // history temporary, and history.json already naming the new version while `current`
        // still points to the old one.
        try FileManager.default.createDirectory(atPath: models + "/.tmp-2026-x-99", withIntermediateDirectories: false)
        try Data([1, 2]).write(to: URL(fileURLWithPath: models + "/.tmp-2026-x-99/weights.safetensors"))
        try FileSteps.makeReadOnly(folder: models + "/.tmp-2026-x-99")
        symlink(id, models + "/.current.tmp-4242")
        try Data("{".utf8).write(to: URL(fileURLWithPath: models + "/.history.json.tmp-1-2"))
        var h = try registry.history()
        h.stack.append(id)
        try FileSteps.write(ModelRegistry.json(h), to: models + "/history.json")
        #expect(registry.currentVersion() == "default")

        let repairs = try registry.recover()
        #expect(repairs.count == 4, "\(repairs)")
        #expect(registry.currentVersion() == id)
        #expect(FileSteps.list(models).filter { $0.hasPrefix(".") } == [".lock"])
        #expect(try registry.recover().isEmpty)   // idempotent

        // A dangling link without history is removed (the daemon then uses the default).
        let bare = ModelRegistry(directory: dir + "/bare")
        try FileManager.default.createDirectory(atPath: bare.directory, withIntermediateDirectories: false)
        symlink("gone", bare.currentPath)
        #expect(try bare.recover() == ["removed a dangling current link"])
        #expect(FileSteps.lstatOrNil(bare.currentPath) == nil)
    }
}

extension RegistryTests {
    /// A diverged candidate (NaN scores) is rejected and its decision is still recorded in full.
    @Test func nanDecisionIsRecorded() throws {
        let dir = Support.temporaryDirectory("nan")
        defer { Support.cleanUp(dir) }
        let registry = ModelRegistry(directory: dir + "/models")
        try registry.ensureBase(from: Support.defaultModel, catalog: Support.catalog)
        let good = GateTests.result(["a": 0.8], volume: 10)
        var diverged = GateTests.result(["a": .nan], volume: .nan)
        diverged.meanDice = .nan
        let decision = try RetrainDecision.apply(candidateFolder: try Support.variant(in: dir, name: "nan", damage: Support.nudge),
                                                 currentResult: good, candidateResult: diverged, registry: registry,
                                                 tolerances: GateTolerances(), logger: LogRecorder().logger, catalog: Support.catalog)
        #expect(!decision.accepted && decision.reasons.count == 3, "\(decision.reasons)")
        let stored = try #require(registry.decision(of: decision.candidateVersion!))
        #expect(stored.candidateMeanDice.isNaN && stored.classes.first?.candidate?.isNaN == true && !stored.accepted)
        #expect(registry.currentVersion() == "default")
    }
}
