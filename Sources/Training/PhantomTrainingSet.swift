#if canImport(Glibc)
import Glibc
#endif
import Anatomy
import Foundation
import ImagingCore
import NIfTIIO
import Phantoms

/// Phantom case folders on disk: `segvol phantom`'s writer and the builtin phantom data of
/// site retraining (`retrain.phantom_data = "builtin"`, docs/training.md).
public enum PhantomTrainingSet {
    /// The value of `retrain.phantom_data` that means the builtin set.
    public static let builtinSetting = "builtin"
    /// Written last, when every case and split.json are durable: the set is complete.
    public static let completeMarker = ".segvol-phantom-set.json"

    struct Marker: Codable, Equatable {
        var format = "segvol-phantom-set"
        var version = 1
        var cases: [String]
    }

    /// Writes one NIfTI case folder: image.nii.gz, labels.nii.gz (the dataset's label map, with
    /// labels.json), case.json and truth.json, each durably. Same phantom, same bytes.
    public static func write(_ phantom: Phantom, dataset: PhantomDataset, catalog: LabelCatalog, to folder: String) throws(ImagingError) {
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try NIfTIWriter.writeImage(phantom.image, to: folder + "/image.nii.gz", description: phantom.metadata.seriesDescription ?? "segvol phantom")
            try writeAnnotation(phantom, dataset: dataset, catalog: catalog, to: folder)
        } catch let error as ImagingError { throw error } catch {
            throw ImagingError(.writeFailed, input: folder, reason: "\(error)", remedy: "check the folder's permissions and free space")
        }
    }

    /// The label side of a case folder: labels.nii.gz (+ labels.json), case.json, truth.json.
    public static func writeAnnotation(_ phantom: Phantom, dataset: PhantomDataset, catalog: LabelCatalog, to folder: String) throws {
        let (labels, sidecar) = dataset.apply(to: phantom.labels, catalog: catalog, subject: phantom.request.subject,
                                              visit: phantom.request.visit)
        let table = LabelTable(entries: sidecar.labels.sorted { $0.key < $1.key }.map { value, target in
            let first = catalog.class(named: target.names[0])
            return LabelEntry(id: Int32(value), name: target.names.joined(separator: "+"), color: first?.color)
        })
        try NIfTIWriter.writeLabels(labels, table: table, to: folder + "/labels.nii.gz", description: "segvol phantom \(dataset.name)")
        try DurableFile.write(try sidecar.jsonBytes(), to: folder + "/case.json")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try DurableFile.write(Array(try encoder.encode(phantom.truth)), to: folder + "/truth.json")
    }

    /// Makes `directory` hold the complete set `members` (default: the shipped
    /// `DefaultTrainingSet`) with its frozen split.json, and returns how many cases it generated
    /// (0 when the set was complete). Each case is generated into a hidden `.partial-…` folder
    /// and renamed into place, so a run killed half-way leaves only whole cases; the next call
    /// removes the partial folder and generates what is missing. split.json is DataSplit's first
    /// split of all members at `DefaultTrainingSet.validationFraction` (the default model's).
    @discardableResult
    public static func ensure(directory: String, catalog: LabelCatalog,
                              members: [DefaultTrainingSet.Member] = DefaultTrainingSet.members(),
                              log: (String) -> Void = { _ in }) throws(ImagingError) -> Int {
        let wanted = Marker(cases: members.map(\.relativeFolder))
        let markerPath = directory + "/" + completeMarker
        if let bytes = FileManager.default.contents(atPath: markerPath), let marker = try? JSONDecoder().decode(Marker.self, from: bytes) {
            guard marker != wanted else { return 0 }
            throw ImagingError(.trainingDataInvalid, input: directory, reason: "the folder holds another phantom set than this segvol generates",
                               remedy: "move the folder away; the next `segvol train` generates the builtin set again")
        }
        var generated = 0
        for (i, member) in members.enumerated() {
            let final = directory + "/" + member.relativeFolder
            if FileManager.default.fileExists(atPath: final + "/case.json") { continue }
            if generated == 0 { log("generating the builtin phantom data in \(directory) (\(members.count) cases, deterministic; once)") }
            let parent = (final as NSString).deletingLastPathComponent
            let partial = parent + "/.partial-" + (final as NSString).lastPathComponent
            try? FileManager.default.removeItem(atPath: partial)
            try? FileManager.default.removeItem(atPath: final)  // a folder without case.json: not ours to keep
            let phantom = try PhantomGenerator.generate(member.request, catalog: catalog)
            try write(phantom, dataset: member.dataset, catalog: catalog, to: partial)
            guard rename(partial, final) == 0 else {
                throw ImagingError(.writeFailed, input: final, reason: "rename failed: \(String(cString: strerror(errno)))",
                                   remedy: "check the state folder's permissions")
            }
            try syncFolder(parent)
            generated += 1
            if generated % 9 == 0 { log("builtin phantom data: \(i + 1) of \(members.count) cases") }
        }
        _ = try DataSplit.loadOrCreate(path: directory + "/split.json",
                                       cases: members.map { ($0.request.subject, $0.dataset.name) },
                                       validationFraction: DefaultTrainingSet.validationFraction)
        do { try DurableFile.write(prettyJSON(wanted), to: markerPath) } catch let e as ImagingError { throw e } catch {
            throw ImagingError(.writeFailed, input: markerPath, reason: "\(error)", remedy: "check the state folder's permissions")
        }
        if generated > 0 { log("builtin phantom data complete: \(generated) case(s) generated in \(directory)") }
        return generated
    }

    /// The phantom data folder `retrain.phantom_data` names: nil for "" (the store alone), the
    /// builtin set in `stateDirectory/phantom-data` (generated on first use) for "builtin", else
    /// the path as given.
    public static func resolve(setting: String, stateDirectory: String, catalog: LabelCatalog,
                               members: [DefaultTrainingSet.Member] = DefaultTrainingSet.members(),
                               log: (String) -> Void = { _ in }) throws(ImagingError) -> String? {
        let directory = folder(setting: setting, stateDirectory: stateDirectory)
        if setting == builtinSetting, let directory { try ensure(directory: directory, catalog: catalog, members: members, log: log) }
        return directory
    }

    /// The folder `retrain.phantom_data` names, without generating anything (see `resolve`).
    public static func folder(setting: String, stateDirectory: String) -> String? {
        switch setting {
        case "": nil
        case builtinSetting: stateDirectory + "/phantom-data"
        default: setting
        }
    }

    static func syncFolder(_ path: String) throws(ImagingError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { if fd >= 0 { close(fd) } }
        guard fd >= 0, fsync(fd) == 0 else {
            throw ImagingError(.writeFailed, input: path, reason: "fsync of the folder failed: \(String(cString: strerror(errno)))",
                               remedy: "check the disk")
        }
    }
}
