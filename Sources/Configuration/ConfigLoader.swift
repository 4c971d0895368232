import Foundation
import TOMLKit

/// A configuration the daemon refuses, naming the exact key (`inbox.quiet_file_s`) or the
/// TOML syntax position, with what to do about it.
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Dotted key path (`worker.max_attempts`, `inbox.regions[1]`), or "" for a syntax error.
    public var key: String
    public var message: String
    /// The file it came from.
    public var file: String

    public init(key: String, message: String, file: String) {
        self.key = key
        self.message = message
        self.file = file
    }

    public var description: String {
        key.isEmpty ? "\(file): \(message)" : "\(file): \(key): \(message)"
    }
}

/// Reads and validates `SegvolConfig` from TOML.
///
/// Keys left out take the defaults of `SegvolConfig()`; unknown keys, wrong types and values out
/// of range throw `ConfigError` naming the key. The TOML is parsed with TOMLKit, turned into a
/// JSON tree, laid over the defaults and decoded with `JSONDecoder` (whose errors carry the key path).
public enum ConfigLoader {
    /// Loads and validates the file at `path`.
    public static func load(path: String) throws(ConfigError) -> SegvolConfig {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(key: "", message: "cannot read the file (missing, unreadable or not UTF-8); check the path given with --config", file: path)
        }
        return try parse(text, file: path)
    }

    /// Parses and validates TOML text; `file` only names the source in errors.
    public static func parse(_ text: String, file: String = "<config>") throws(ConfigError) -> SegvolConfig {
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch let error as TOMLParseError {
            throw ConfigError(key: "", message: "TOML syntax error at line \(error.source.begin.line), column \(error.source.begin.column): \(error.description)", file: file)
        } catch {
            throw ConfigError(key: "", message: "TOML syntax error: \(error)", file: file)
        }
        let jsonText = table.convert(to: .json)
        guard let given = (try? JSONSerialization.jsonObject(with: Data(jsonText.utf8))) as? [String: Any] else {
            throw ConfigError(key: "", message: "the document is not a TOML table", file: file)
        }
        let defaults = defaultTree()
        let merged = try overlay(given, on: defaults, path: "", file: file)
        let config: SegvolConfig
        do {
            let json = try JSONSerialization.data(withJSONObject: merged)
            config = try JSONDecoder().decode(SegvolConfig.self, from: json)
        } catch let error as DecodingError {
            throw decodingError(error, file: file)
        } catch {
            throw ConfigError(key: "", message: "\(error)", file: file)
        }
        try validate(config, file: file)
        return config
    }

    /// The default configuration as a JSON tree (the schema for unknown-key checks).
    static func defaultTree() -> [String: Any] {
        let data = try! JSONEncoder().encode(SegvolConfig())
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    /// Lays the file's tables over the defaults; a key the defaults do not have is an error.
    static func overlay(_ given: [String: Any], on base: [String: Any], path: String, file: String) throws(ConfigError) -> [String: Any] {
        var out = base
        for (key, value) in given {
            let keyPath = path.isEmpty ? key : "\(path).\(key)"
            guard let defaultValue = base[key] else {
                let known = base.keys.sorted().joined(separator: ", ")
                throw ConfigError(key: keyPath, message: "unknown key; the keys here are: \(known)", file: file)
            }
            if let table = defaultValue as? [String: Any] {
                guard let givenTable = value as? [String: Any] else {
                    throw ConfigError(key: keyPath, message: "must be a table ([\(keyPath)])", file: file)
                }
                out[key] = try overlay(givenTable, on: table, path: keyPath, file: file)
            } else {
                if value is [String: Any] {
                    throw ConfigError(key: keyPath, message: "must be a value, not a table", file: file)
                }
                // Foundation's JSONDecoder reports 2.5-for-an-Int without a key path: check here.
                if integerKeys.contains(keyPath), let number = value as? Double, number.rounded() != number || !number.isFinite {
                    throw ConfigError(key: keyPath, message: "wrong type; expected an integer", file: file)
                }
                out[key] = value
            }
        }
        return out
    }

    /// Keys whose values are integers (every other number may have a fraction).
    static let integerKeys: Set<String> = ["worker.memory_limit_mb", "worker.cpu_limit_s", "worker.max_attempts", "disk.min_free_mb",
                                          "zip.max_uncompressed_mb", "zip.max_entries",
                                          "retrain.steps", "retrain.batch", "retrain.validate_every"]

    static func decodingError(_ error: DecodingError, file: String) -> ConfigError {
        func path(_ keys: [any CodingKey]) -> String {
            keys.reduce("") { acc, key in
                if let index = key.intValue { return acc + "[\(index)]" }
                return acc.isEmpty ? key.stringValue : acc + "." + key.stringValue
            }
        }
        switch error {
        case .typeMismatch(let type, let context):
            return ConfigError(key: path(context.codingPath), message: "wrong type; expected \(typeName(type))", file: file)
        case .valueNotFound(let type, let context):
            return ConfigError(key: path(context.codingPath), message: "missing value; expected \(typeName(type))", file: file)
        case .keyNotFound(let key, let context):
            return ConfigError(key: path(context.codingPath + [key]), message: "missing key", file: file)
        case .dataCorrupted(let context):
            return ConfigError(key: path(context.codingPath), message: "invalid value: \(context.debugDescription)", file: file)
        @unknown default:
            return ConfigError(key: "", message: "\(error)", file: file)
        }
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Double.Type: "a number"
        case is Int.Type: "an integer"
        case is Bool.Type: "true or false"
        case is String.Type: "a string"
        default: "\(type)"
        }
    }
}
