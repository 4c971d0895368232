import Resampling

extension ResampleProfile {
    /// The region profiles of the design brief, by the names the command line uses. (The daemon's
    /// configuration takes these over in a later issue.)
    static let byName: [(String, ResampleProfile)] = [("thigh", .thigh), ("calf", .calf), ("abdomen", .abdomen)]
    static var names: [String] { byName.map(\.0) }
    static func named(_ name: String) -> ResampleProfile? { byName.first { $0.0 == name }?.1 }
}
