import Anatomy
import Foundation
import Testing
@testable import Training

@Suite struct CacheTests {
    @Test func secondLoadHitsTheCacheWithIdenticalContent() throws {
        let data = try Fixtures.writeCases("cache")
        defer { Fixtures.remove(data) }
        let cache = data + "/.segvol-cache"
        let plan = Fixtures.thighPlan()
        let cases = try TrainingCase.discover(in: data, catalog: Fixtures.catalog)
        #expect(cases.count == 3)
        let (fresh, hit1) = try CaseLoader.prepare(cases[0], plan: plan, catalog: Fixtures.catalog, cacheDirectory: cache, window: .planSize)
        #expect(!hit1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache).filter { $0.hasSuffix(".slices") }.count == 1)
        let (cached, hit2) = try CaseLoader.prepare(cases[0], plan: plan, catalog: Fixtures.catalog, cacheDirectory: cache, window: .planSize)
        #expect(hit2)
        #expect(cached.images == fresh.images && cached.targets == fresh.targets)
        #expect(cached.hasForeground == fresh.hasForeground && cached.transform == fresh.transform)
        #expect(cached.info == fresh.info && cached.scoredChannels == fresh.scoredChannels && cached.window == fresh.window)
        #expect(fresh.hasForeground.contains(true))
        // The cache folder inside the data folder is not taken for a case.
        #expect(try TrainingCase.discover(in: data, catalog: Fixtures.catalog).count == 3)
        // Another plan (other input size) is another key: a miss.
        let (_, hit3) = try CaseLoader.prepare(cases[0], plan: Fixtures.thighPlan(size: 32), catalog: Fixtures.catalog, cacheDirectory: cache, window: .planSize)
        #expect(!hit3)
        // Changed input bytes: a miss.
        var sidecar = cases[0].labels
        sidecar.visit = 7
        try Data(sidecar.jsonBytes()).write(to: URL(fileURLWithPath: cases[0].sidecarPath))
        let (_, hit4) = try CaseLoader.prepare(cases[0], plan: plan, catalog: Fixtures.catalog, cacheDirectory: cache, window: .planSize)
        #expect(!hit4)
    }

    @Test func corruptCacheFileIsIgnored() throws {
        let data = try Fixtures.writeCases("cache-bad")
        defer { Fixtures.remove(data) }
        let cache = data + "/.segvol-cache"
        let plan = Fixtures.thighPlan()
        let c = try TrainingCase.discover(in: data, catalog: Fixtures.catalog)[1]
        let (fresh, _) = try CaseLoader.prepare(c, plan: plan, catalog: Fixtures.catalog, cacheDirectory: cache, window: .planSize)
        let file = try FileManager.default.contentsOfDirectory(atPath: cache).first { $0.hasSuffix(".slices") }!
        let path = cache + "/" + file
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count - 4).write(to: URL(fileURLWithPath: path))   // truncated
        let (again, hit) = try CaseLoader.prepare(c, plan: plan, catalog: Fixtures.catalog, cacheDirectory: cache, window: .planSize)
        #expect(!hit && again.images == fresh.images)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == bytes)       // rewritten whole
    }

    @Test func superLabelCaseMapsThroughTheWholePath() throws {
        let data = try Fixtures.writeCases("cache-super")
        defer { Fixtures.remove(data) }
        let cases = try TrainingCase.discover(in: data, catalog: Fixtures.catalog)
        let c = cases.first { $0.labels.dataset == "thigh-adductors-imaf" }!
        let plan = Fixtures.thighPlan()
        let p = try CaseLoader.prepareFresh(c, plan: plan, catalog: Fixtures.catalog, window: .planSize)
        let channels = plan.outputs.count
        #expect(p.info.superLabels.count == 1 && p.info.superLabels[0].count == 4)
        #expect(p.targets.contains(Int32(channels)))                      // super-label pixels
        #expect(p.targets.allSatisfy { $0 >= 0 && $0 <= Int32(channels) })
        #expect(!p.targets.contains(Int32(plan.channel(ofID: 1)!)))         // adductor_magnus never alone
    }
}
