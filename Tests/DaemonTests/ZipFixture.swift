import Foundation

/// Writes zip archives byte by byte (PKWARE APPNOTE layout), including the hostile ones real
/// tools refuse to make: `../` names, symlink entries, lying sizes, bad CRCs.
struct ZipFixture {
    struct Entry {
        var name: String
        var data: [UInt8] = []
        /// 0 stored; 8 deflate (written as one stored deflate block, no compressor needed).
        var method: UInt16 = 0
        var flags: UInt16 = 0
        /// Unix (3) in the high byte: the external attributes carry a mode.
        var madeBy: UInt16 = 0x031E
        var mode: UInt32 = 0o100644
        /// Overrides of the central directory's fields (a lying archive).
        var declaredSize: UInt32? = nil
        var crc: UInt32? = nil
    }

    var entries: [Entry]
    /// Overrides the entry count in the end record (0xFFFF marks ZIP64).
    var countOverride: UInt16? = nil

    static func crc32(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    /// A raw DEFLATE stream of one final stored block (valid input for any inflater).
    static func storedDeflate(_ data: [UInt8]) -> [UInt8] {
        precondition(data.count < 65_536)
        let n = UInt16(data.count)
        return [1, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8(~n >> 8)] + data
    }

    func bytes() -> [UInt8] {
        var out: [UInt8] = [], central: [UInt8] = []
        func le16(_ v: UInt16, _ a: inout [UInt8]) { a += [UInt8(v & 0xFF), UInt8(v >> 8)] }
        func le32(_ v: UInt32, _ a: inout [UInt8]) { le16(UInt16(v & 0xFFFF), &a); le16(UInt16(v >> 16), &a) }
        for e in entries {
            let name = Array(e.name.utf8)
            let packed = e.method == 8 ? Self.storedDeflate(e.data) : e.data
            let crc = e.crc ?? Self.crc32(e.data)
            let usize = e.declaredSize ?? UInt32(e.data.count)
            let offset = UInt32(out.count)
            le32(0x0403_4b50, &out); le16(20, &out); le16(e.flags, &out); le16(e.method, &out); le32(0, &out)
            le32(crc, &out); le32(UInt32(packed.count), &out); le32(usize, &out)
            le16(UInt16(name.count), &out); le16(0, &out)
            out += name + packed
            le32(0x0201_4b50, &central); le16(e.madeBy, &central); le16(20, &central); le16(e.flags, &central); le16(e.method, &central)
            le32(0, &central); le32(crc, &central); le32(UInt32(packed.count), &central); le32(usize, &central)
            le16(UInt16(name.count), &central); le16(0, &central); le16(0, &central); le16(0, &central); le16(0, &central)
            le32(e.mode << 16, &central); le32(offset, &central)
            central += name
        }
        let cdOffset = UInt32(out.count)
        out += central
        le32(0x0605_4b50, &out); le16(0, &out); le16(0, &out)
        le16(countOverride ?? UInt16(entries.count), &out); le16(countOverride ?? UInt16(entries.count), &out)
        le32(UInt32(central.count), &out); le32(cdOffset, &out); le16(0, &out)
        return out
    }

    /// Writes the archive at `path`.
    func write(to path: String) {
        FileManager.default.createFile(atPath: path, contents: Data(bytes()))
    }
}
