import Foundation
import ImagingCore
import NIfTIIO
import NeuralEngine

/// One validation of a run.
public struct ValidationRecord: Codable, Sendable, Equatable {
    public var step: Int
    public var meanDice: Double
    public var medianAbsVolumeErrorPercent: Double?
    /// Mean training loss over the steps since the previous validation.
    public var meanTrainingLoss: Double
    /// The rate the schedule chose after this validation.
    public var learningRate: Float
}

/// The resumable progress of a run, stored as JSON in the training-state file's safetensors
/// metadata (key `segvol.progress`), so weights, Adam's moments and progress are one file,
/// replaced atomically.
struct RunProgress: Codable {
    /// Hash of plan, loss, trajectory options and data snapshot: a resume must match it.
    var runKey: String
    /// Steps done.
    var step = 0
    var validations: [ValidationRecord] = []
    var bestStep: Int?
    var bestResult: ValidationResult?
    /// Losses of the steps since the last validation.
    var pendingLosses: [Double] = []
    /// Last 50 step losses, for the running mean of the progress line.
    var recentLosses: [Double] = []
    /// Training seconds over every invocation (validation included).
    var seconds: Double = 0

    init(runKey: String) { self.runKey = runKey }

    static let metadataKey = "segvol.progress"
}

/// Files of a run under `OUT/training/`: `state.safetensors` (resume) and `best.safetensors`.
struct RunFiles {
    let directory: String
    var state: String { directory + "/state.safetensors" }
    var best: String { directory + "/best.safetensors" }

    init(output: String) { directory = output + "/training" }

    func prepare() throws(ImagingError) {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw ImagingError(.writeFailed, input: directory, reason: "cannot create the training folder", remedy: "check the output folder's permissions")
        }
    }

    /// Writes the training state durably: the engine writes a temporary file, which is then
    /// replaced into place with fsync of file and folder (`DurableFile`).
    func saveState(net: UNet, adam: Adam, progress: RunProgress) throws(ImagingError) {
        let json = String(decoding: (try? JSONEncoder().encode(progress)) ?? Data(), as: UTF8.self)
        try durably(state) { tmp in try net.saveTrainingState(to: tmp, optimizer: adam, metadata: [RunProgress.metadataKey: json]) }
    }

    /// Writes the model weights (PyTorch state_dict) durably.
    func saveWeights(net: UNet, to path: String) throws(ImagingError) {
        try durably(path) { tmp in try net.saveCheckpoint(to: tmp) }
    }

    /// The saved progress, or nil when there is no state file.
    func readProgress() throws(ImagingError) -> RunProgress? {
        guard FileManager.default.fileExists(atPath: state) else { return nil }
        do {
            let file = try SafeTensorsFile(contentsOf: state)
            guard let json = file.metadata[RunProgress.metadataKey] else { throw CocoaError(.fileReadCorruptFile) }
            return try JSONDecoder().decode(RunProgress.self, from: Data(json.utf8))
        } catch {
            throw ImagingError(.trainingStateInvalid, input: state, reason: "the training state cannot be read (\(error))",
                               remedy: "remove the output folder's training/ folder to start over")
        }
    }
}

/// Runs `write` on a temporary path next to `path`, then replaces `path` with its bytes
/// durably and removes the temporary file.
func durably(_ path: String, _ write: (String) throws -> Void) throws(ImagingError) {
    let tmp = path + ".partial"
    do {
        try write(tmp)
        guard let data = FileManager.default.contents(atPath: tmp) else { throw CocoaError(.fileReadUnknown) }
        try DurableFile.write(Array(data), to: path)
        try? FileManager.default.removeItem(atPath: tmp)
    } catch let e as ImagingError {
        throw e
    } catch {
        try? FileManager.default.removeItem(atPath: tmp)
        throw ImagingError(.writeFailed, input: path, reason: "\(error)", remedy: "check free disk space and permissions")
    }
}

/// Writes bytes durably, mapping errors to `write_failed`.
func writeDurably(_ bytes: [UInt8], to path: String) throws(ImagingError) {
    do { try DurableFile.write(bytes, to: path) } catch let e as ImagingError { throw e } catch {
        throw ImagingError(.writeFailed, input: path, reason: "\(error)", remedy: "check free disk space and permissions")
    }
}

/// Pretty, key-sorted JSON.
func prettyJSON<T: Encodable>(_ value: T) -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return ((try? encoder.encode(value)).map(Array.init) ?? []) + [10]
}
