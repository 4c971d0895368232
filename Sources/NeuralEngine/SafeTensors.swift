import Foundation

/// The element types the engine reads and writes in safetensors files.
public enum SafeTensorsDType: String, Sendable, Equatable {
    case f32 = "F32"
    case i64 = "I64"

    var byteSize: Int { self == .f32 ? 4 : 8 }
}

/// One tensor of a safetensors file: dtype, shape and the raw little-endian bytes.
public struct SafeTensor: Sendable, Equatable {
    public var dtype: SafeTensorsDType
    public var shape: [Int]
    public var bytes: [UInt8]

    public init(floats: [Float], shape: [Int]) {
        precondition(floats.count == shape.reduce(1, *))
        dtype = .f32
        self.shape = shape
        bytes = floats.withUnsafeBytes { Array($0) }
    }

    public init(int64s: [Int64], shape: [Int]) {
        precondition(int64s.count == shape.reduce(1, *))
        dtype = .i64
        self.shape = shape
        bytes = int64s.withUnsafeBytes { Array($0) }
    }

    init(dtype: SafeTensorsDType, shape: [Int], bytes: [UInt8]) {
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// The values as Float (a bug to ask of an I64 tensor).
    public var floats: [Float] {
        precondition(dtype == .f32)
        return bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// The values as Int64 (a bug to ask of an F32 tensor).
    public var int64s: [Int64] {
        precondition(dtype == .i64)
        return bytes.withUnsafeBytes { Array($0.bindMemory(to: Int64.self)) }
    }
}

#if !_endian(little)
#error("safetensors data are little-endian; the engine copies bytes as they are in memory")
#endif

/// A safetensors file (https://github.com/huggingface/safetensors): an 8-byte little-endian header
/// length, a JSON header `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`
/// padded with spaces to a multiple of 8 bytes, then the raw little-endian data.
public struct SafeTensorsFile: Sendable {
    /// Tensors in file order.
    public var names: [String] = []
    public var tensors: [String: SafeTensor] = [:]
    /// Free-form string metadata (`__metadata__`).
    public var metadata: [String: String] = [:]

    public init() {}

    /// Adds (or replaces) a tensor, keeping the first insertion's order.
    public mutating func set(_ name: String, _ tensor: SafeTensor) {
        if tensors[name] == nil { names.append(name) }
        tensors[name] = tensor
    }

    /// Reads and validates a file.
    public init(contentsOf path: String) throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw EngineError(.unreadable, input: path, reason: "cannot read the file (\(error.localizedDescription))",
                              remedy: "check that the path exists and is readable by the segvol user")
        }
        func malformed(_ why: String) -> EngineError {
            EngineError(.malformed, input: path, reason: "not a valid safetensors file: \(why)",
                        remedy: "use a checkpoint written by segvol or by safetensors.torch.save_file")
        }
        let bytes = [UInt8](data)
        guard bytes.count >= 8 else { throw malformed("shorter than 8 bytes") }
        var headerLength = 0
        for i in 0..<8 { headerLength |= Int(bytes[i]) << (8 * i) }
        guard headerLength > 0, headerLength <= bytes.count - 8, headerLength < 100_000_000 else {
            throw malformed("header length \(headerLength) does not fit the file size \(bytes.count)")
        }
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + headerLength)])) } catch {
            throw malformed("header is not JSON")
        }
        guard let header = json as? [String: Any] else { throw malformed("header is not a JSON object") }
        let dataStart = 8 + headerLength
        var entries: [(begin: Int, name: String, tensor: SafeTensor)] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let meta = value as? [String: String] else { throw malformed("__metadata__ is not a string map") }
                metadata = meta
                continue
            }
            guard let info = value as? [String: Any], let dtypeName = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2
            else { throw malformed("entry \(name) lacks dtype, shape or data_offsets") }
            guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
                throw malformed("tensor \(name) has dtype \(dtypeName); only F32 and I64 are supported")
            }
            let begin = offsets[0], end = offsets[1]
            let expected = shape.reduce(1, *) * dtype.byteSize
            guard begin >= 0, end >= begin, end - begin == expected, dataStart + end <= bytes.count else {
                throw malformed("tensor \(name) has data_offsets [\(begin), \(end)] for \(expected) bytes in a \(bytes.count - dataStart)-byte body")
            }
            entries.append((begin, name, SafeTensor(dtype: dtype, shape: shape, bytes: Array(bytes[(dataStart + begin)..<(dataStart + end)]))))
        }
        for e in entries.sorted(by: { ($0.begin, $0.name) < ($1.begin, $1.name) }) { set(e.name, e.tensor) }
    }

    /// The file's bytes: header with tensors in `names` order, padded to 8 bytes, then the data.
    public func serialized() -> [UInt8] {
        var parts: [String] = []
        if !metadata.isEmpty {
            let items = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            parts.append("\"__metadata__\":{\(items.joined(separator: ","))}")
        }
        var offset = 0
        for name in names {
            let t = tensors[name]!
            parts.append("\(jsonString(name)):{\"dtype\":\"\(t.dtype.rawValue)\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + t.bytes.count)]}")
            offset += t.bytes.count
        }
        var header = Array("{\(parts.joined(separator: ","))}".utf8)
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
        var out: [UInt8] = []
        out.reserveCapacity(8 + header.count + offset)
        for i in 0..<8 { out.append(UInt8((header.count >> (8 * i)) & 0xFF)) }
        out += header
        for name in names { out += tensors[name]!.bytes }
        return out
    }

    /// Writes the file atomically (a temporary file renamed into place).
    public func write(to path: String) throws {
        do { try Data(serialized()).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw EngineError(.writeFailed, input: path, reason: "cannot write the checkpoint (\(error.localizedDescription))",
                              remedy: "check free disk space and that the folder is writable by the segvol user")
        }
    }
}

/// A JSON string literal (quotes, backslashes and control characters escaped).
private func jsonString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        default:
            if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
        }
    }
    return out + "\""
}
