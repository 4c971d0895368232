import Anatomy

/// The phantom training set of the shipped default model, the single source of its list:
/// `Scripts/train_default_model.sh` generates it with `segvol phantom --default-set`, and a site
/// retraining run with `retrain.phantom_data = "builtin"` generates the same cases (same seeds,
/// same bytes) into `state/phantom-data/` as its regression guard (docs/training.md).
///
/// Nine partial-label datasets, six subjects each, every dataset its own seeds; 192×192 pixels,
/// 16 slices, one visit. The frozen split is `DataSplit`'s first split of these 54 subjects at
/// `validationFraction` (two validation subjects per dataset), as the default model was trained.
public enum DefaultTrainingSet {
    /// One dataset of the set: its subjects' seeds are `firstSeed ..< firstSeed + subjects`.
    public struct Entry: Sendable, Equatable {
        public var dataset: String
        public var firstSeed: UInt64

        public init(dataset: String, firstSeed: UInt64) {
            self.dataset = dataset
            self.firstSeed = firstSeed
        }
    }

    /// One case of the set: what to generate and where (relative to the set's folder).
    public struct Member: Sendable {
        public var dataset: PhantomDataset
        public var request: PhantomRequest
        /// `<dataset>/<subject>-v1`, the layout `segvol phantom -o DIR/<dataset>` writes.
        public var relativeFolder: String { "\(dataset.name)/\(request.subject)-v\(request.visit)" }
    }

    public static let entries: [Entry] = [
        Entry(dataset: "thigh-full", firstSeed: 101),
        Entry(dataset: "thigh-adductors-imaf", firstSeed: 111),
        Entry(dataset: "calf-full", firstSeed: 201),
        Entry(dataset: "calf-muscle", firstSeed: 211),
        Entry(dataset: "calf-tissue", firstSeed: 221),
        Entry(dataset: "abdomen-full", firstSeed: 301),
        Entry(dataset: "abdomen-liver", firstSeed: 311),
        Entry(dataset: "abdomen-spleen", firstSeed: 321),
        Entry(dataset: "abdomen-pancreas", firstSeed: 331),
    ]
    public static let subjectsPerDataset = 6
    public static let matrix = [192, 192]
    public static let slices = 16
    /// The split fraction the default model was trained with (`segvol train` default).
    public static let validationFraction = 0.2

    /// The cases of the set, in `entries` order. The parameters reduce it (tests, quick looks):
    /// fewer subjects per dataset, some datasets only, a smaller matrix, fewer rays for the
    /// exact volumes; the defaults give the shipped set.
    public static func members(subjectsPerDataset: Int = subjectsPerDataset, datasets: [String]? = nil,
                               matrix: [Int] = matrix, slices: Int = slices, rays: Int = 2048) -> [Member] {
        entries.filter { datasets?.contains($0.dataset) ?? true }.flatMap { entry -> [Member] in
            let dataset = PhantomDataset.named(entry.dataset)!
            return (0..<UInt64(subjectsPerDataset)).map { i in
                Member(dataset: dataset, request: PhantomRequest(region: dataset.region, seed: entry.firstSeed + i,
                                                                 matrix: matrix, slices: slices, rays: rays))
            }
        }
    }
}
