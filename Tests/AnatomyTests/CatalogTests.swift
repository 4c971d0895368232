import Foundation
import ImagingCore
import Testing
@testable import Anatomy

/// The package's own catalog, found the way a development build finds it.
func packageCatalog() throws -> LabelCatalog {
    try LabelCatalog.load(path: ConfigDirectory.sourceTreeDirectory + "/" + LabelCatalog.fileName)
}

@Suite struct CatalogTests {
    @Test func shippedCatalogHasTheDesignClasses() throws {
        let catalog = try packageCatalog()
        let required = ["adductor_magnus", "biceps_femoris_long_head", "biceps_femoris_short_head", "gracilis",
                        "rectus_femoris", "sartorius", "semimembranosus", "semitendinosus", "vastus_intermedius",
                        "vastus_lateralis", "vastus_medialis", "tibialis_anterior", "tibialis_posterior", "soleus",
                        "gastrocnemius", "flexor_digitorum_longus", "peroneus_longus", "extensor_digitorum_longus",
                        "subcutaneous_fat", "imaf", "bone", "bone_marrow", "vessel", "liver", "spleen", "pancreas",
                        "kidney_left", "kidney_right", "visceral_fat", "psoas", "paraspinal_muscle"]
        for name in required { #expect(catalog.class(named: name) != nil, "missing \(name)") }
        #expect(catalog.class(named: "vastus_lateralis")?.id == 12)
        #expect(catalog.class(id: 60)?.name == "liver")
        #expect(catalog.class(named: "liver")?.group == .organ)
        let calf = Set(catalog.classes(in: .calf).map(\.name))
        #expect(calf.contains("soleus") && calf.contains("imaf") && !calf.contains("liver") && !calf.contains("gracilis"))
        #expect(catalog.classes(in: .abdomen).allSatisfy { $0.regions.contains(.abdomen) })
        #expect(catalog.classes.map(\.id) == catalog.classes.map(\.id).sorted())
    }

    static let good = """
        format_version = 1
        [[class]]
        id = 1
        name = "liver"
        regions = ["abdomen"]
        group = "organ"
        color = [1, 2, 3]
        """

    func parseError(_ text: String) -> String? {
        do { _ = try LabelCatalog.parse(text, source: "t.toml"); return nil } catch { return error.reason }
    }

    @Test func validationNamesTheEntry() throws {
        #expect(try LabelCatalog.parse(Self.good, source: "t").classes.count == 1)
        let dupID = Self.good + "\n[[class]]\nid = 1\nname = \"spleen\"\nregions = [\"abdomen\"]\ngroup = \"organ\"\ncolor = [1, 2, 3]\n"
        #expect(parseError(dupID)?.contains("id already used by class 'liver'") == true)
        let dupName = Self.good + "\n[[class]]\nid = 2\nname = \"liver\"\nregions = [\"abdomen\"]\ngroup = \"organ\"\ncolor = [1, 2, 3]\n"
        #expect(parseError(dupName)?.contains("name already used") == true)
        let region = Self.good.replacingOccurrences(of: "[\"abdomen\"]", with: "[\"forearm\"]")
        #expect(parseError(region)?.contains("class 'liver' (id 1): unknown region 'forearm'") == true)
        let group = Self.good.replacingOccurrences(of: "\"organ\"", with: "\"gland\"")
        #expect(parseError(group)?.contains("unknown group 'gland'") == true)
        let zero = Self.good.replacingOccurrences(of: "id = 1", with: "id = 0")
        #expect(parseError(zero)?.contains("0 is background") == true)
        let caps = Self.good.replacingOccurrences(of: "\"liver\"", with: "\"Liver\"")
        #expect(parseError(caps)?.contains("snake_case") == true)
        let colour = Self.good.replacingOccurrences(of: "[1, 2, 3]", with: "[1, 2, 300]")
        #expect(parseError(colour)?.contains("color") == true)
        #expect(parseError("format_version = 1\n[[class]\n")?.contains("not valid TOML") == true)
        #expect(parseError(Self.good.replacingOccurrences(of: "group = \"organ\"\n", with: ""))?.contains("group") == true)
    }

    @Test func configDirectoryOrder() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("segvol-catalog-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try Self.good.write(toFile: tmp + "/labels.toml", atomically: true, encoding: .utf8)
        #expect(try ConfigDirectory.locate(explicit: tmp, environment: [:]) == tmp)
        #expect(try ConfigDirectory.locate(environment: ["SEGVOL_CONFIG_DIR": tmp]) == tmp)
        #expect(try ConfigDirectory.locate(environment: [:], systemDirectory: tmp) == tmp)
        #expect(try ConfigDirectory.locate(environment: [:], systemDirectory: "/nonexistent") == ConfigDirectory.sourceTreeDirectory)
        #expect(throws: ImagingError.self) { try ConfigDirectory.locate(environment: ["SEGVOL_CONFIG_DIR": "/nonexistent"]) }
    }

    @Test func caseLabelsRoundTripAndValidation() throws {
        let catalog = try packageCatalog()
        let labels = CaseLabels(subject: "s1", visit: 2, dataset: "thigh-adductors-imaf", region: .thigh,
                                labels: [7: .single("rectus_femoris"), 200: .superLabel(["adductor_magnus", "imaf"])],
                                present: ["rectus_femoris", "adductor_magnus", "imaf"])
        try labels.validate(against: catalog)
        let bytes = try labels.jsonBytes()
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains("\"200\" : [") && text.contains("\"7\" : \"rectus_femoris\""))
        let back = try JSONDecoder().decode(CaseLabels.self, from: Data(bytes))
        #expect(back == labels)
        let k = labels.presence(in: catalog)
        #expect(k[0] && k[7] && k[1] && k[41] && !k[12] && k.presentIDs == [1, 7, 41])

        var wrongRegion = labels
        wrongRegion.labels[20] = .single("soleus")
        #expect(throws: ImagingError.self) { try wrongRegion.validate(against: catalog) }
        var twice = labels
        twice.labels[8] = .single("rectus_femoris")
        #expect(throws: ImagingError.self) { try twice.validate(against: catalog) }
        var unknown = labels
        unknown.present.append("hamstrings")
        #expect(throws: ImagingError.self) { try unknown.validate(against: catalog) }
    }
}
