/// Which classes a training image's source dataset annotates: `k[c]` of the masked losses,
/// indexed by catalog id (index 0 is background, always 1: unannotated voxels count as
/// background in every dataset, and the marginal loss folds absent classes into it).
public struct PresenceArray: Equatable, Hashable, Sendable, Codable {
    /// `flags[id]` is 1 when class `id` is annotated, else 0; length `catalog.largestID + 1`.
    public var flags: [UInt8]

    /// All zeros except background.
    public init(size: Int) {
        precondition(size >= 1, "a presence array holds at least background")
        flags = [UInt8](repeating: 0, count: size)
        flags[0] = 1
    }

    /// Presence of the named classes over `catalog`; unknown names trap (check with
    /// `CaseLabels.validate` first).
    public init(catalog: LabelCatalog, present names: some Sequence<String>) {
        self.init(size: catalog.largestID + 1)
        for name in names {
            guard let c = catalog.class(named: name) else { preconditionFailure("unknown class \(name)") }
            flags[c.id] = 1
        }
    }

    /// True when class `id` is annotated.
    public subscript(id: Int) -> Bool { id < flags.count && flags[id] != 0 }

    /// Ids of the annotated classes, background excluded.
    public var presentIDs: [Int] { flags.indices.filter { $0 > 0 && flags[$0] != 0 } }
}
