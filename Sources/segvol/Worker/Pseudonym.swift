import Foundation
import ImagingCore
import Spool
#if canImport(Glibc)
import Glibc
#endif

/// Keyed patient pseudonyms for the reports: HMAC-SHA256 (RFC 2104) of the PatientID under the
/// site key `state/pseudonym.key`, as the first 16 hex digits (64 bits). The same patient gets the
/// same pseudonym at one site for as long as the key is kept; without the key a pseudonym cannot
/// be turned back into a PatientID by trying candidate IDs.
enum Pseudonym {
    /// HMAC-SHA256(key, message) as 64 hex digits.
    static func hmacSHA256Hex(key: [UInt8], message: [UInt8]) -> String {
        var k = key
        if k.count > 64 {
            var h = SHA256()
            h.update(k)
            k = hexBytes(h.finalizeHex())
        }
        k += [UInt8](repeating: 0, count: 64 - k.count)
        var inner = SHA256()
        inner.update(k.map { $0 ^ 0x36 })
        inner.update(message)
        var outer = SHA256()
        outer.update(k.map { $0 ^ 0x5c })
        outer.update(hexBytes(inner.finalizeHex()))
        return outer.finalizeHex()
    }

    /// The pseudonym of a PatientID (surrounding spaces, DICOM's padding, ignored); nil when empty.
    static func of(patientID: String?, key: [UInt8]) -> String? {
        guard let id = patientID?.trimmingCharacters(in: .whitespaces), !id.isEmpty else { return nil }
        return String(hmacSHA256Hex(key: key, message: Array(id.utf8)).prefix(16))
    }

    static func hexBytes(_ hex: String) -> [UInt8] {
        let chars = Array(hex.utf8)
        return stride(from: 0, to: chars.count, by: 2).map { i in
            func v(_ c: UInt8) -> UInt8 { c >= 97 ? c - 87 : c - 48 }
            return v(chars[i]) << 4 | v(chars[i + 1])
        }
    }

    /// Reads the site key, creating it first (32 bytes from the system's random source, mode
    /// 0600, written durably) when it does not exist. Only the daemon creates it.
    static func ensureKey(at path: String) throws -> [UInt8] {
        if let existing = FileManager.default.contents(atPath: path), existing.count >= 16 { return Array(existing) }
        var generator = SystemRandomNumberGenerator()
        let key = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let old = umask(0o077)
        defer { umask(old) }
        try Durable.write(key, to: path)
        chmod(path, 0o600)
        return key
    }

    /// Reads the site key (the worker); nil when it is missing or too short.
    static func readKey(at path: String) -> [UInt8]? {
        guard let data = FileManager.default.contents(atPath: path), data.count >= 16 else { return nil }
        return Array(data)
    }
}
