import Configuration
import Testing

/// The `[retrain]` keys of the model registry and the gate.
@Suite struct RetrainConfigTests {
    @Test func registryAndGateKeysParseAndResolveAgainstTheSiteRoot() throws {
        let c = try ConfigLoader.parse("""
            [site]
            root = "/srv/segvol"
            [retrain]
            models_dir = "registry"
            gate_mean_dice_tolerance = 0
            gate_class_dice_tolerance = 0.05
            gate_volume_error_tolerance = 5
            """)
        #expect(SitePaths.models(c) == "/srv/segvol/registry")
        #expect(c.retrain.gateMeanDiceTolerance == 0 && c.retrain.gateClassDiceTolerance == 0.05 && c.retrain.gateVolumeErrorTolerance == 5)
        let d = SegvolConfig()
        #expect(SitePaths.models(d) == "/var/lib/segvol/models")
        #expect(d.retrain.gateMeanDiceTolerance == 0.005 && d.retrain.gateClassDiceTolerance == 0.02 && d.retrain.gateVolumeErrorTolerance == 2)
    }

    @Test(arguments: [
        ("[retrain]\nmodels_dir = \"\"\n", "retrain.models_dir"),
        ("[retrain]\nmodels_dir = \"../elsewhere\"\n", "retrain.models_dir"),
        ("[retrain]\nmodels_dir = \"outbox\"\n", "retrain.models_dir"),
        ("[retrain]\nmodels_dir = \"/var/lib/segvol\"\n", "retrain.models_dir"),
        ("[retrain]\ngate_mean_dice_tolerance = -0.1\n", "retrain.gate_mean_dice_tolerance"),
        ("[retrain]\ngate_class_dice_tolerance = 1.5\n", "retrain.gate_class_dice_tolerance"),
        ("[retrain]\ngate_volume_error_tolerance = 101\n", "retrain.gate_volume_error_tolerance"),
    ])
    func invalidValuesNameTheKey(text: String, key: String) {
        do {
            _ = try ConfigLoader.parse(text, file: "test.toml")
            Issue.record("accepted an invalid configuration: \(text)")
        } catch {
            #expect(error.key == key, "\(error)")
        }
    }
}
