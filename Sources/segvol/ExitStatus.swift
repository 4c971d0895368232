import ArgumentParser
import Foundation
import DICOMIO
import ImagingCore

/// Exit statuses of the `segvol` commands (sysexits.h values; documented in docs/errors.md).
enum ExitStatus {
    /// Everything requested was done.
    static let ok: Int32 = 0
    /// Some series were converted, others refused (each refusal printed).
    static let partial: Int32 = 3
    /// Command-line usage error (ArgumentParser's own).
    static let usage: Int32 = 64
    /// The input was read but refused (bad header, not a volume, unsupported encoding…).
    static let dataError: Int32 = 65
    /// The input does not exist or holds nothing segvol can read.
    static let noInput: Int32 = 66
    /// An output could not be written.
    static let cannotCreate: Int32 = 73
    /// Another instance holds the site's lock (`serve`), or the site cannot be used.
    static let unavailable: Int32 = 69
    /// Permission denied (`segvol models`: the registry is not writable by this user).
    static let noPermission: Int32 = 77
    /// Internal software error (a daemon loop failure that is not the input's fault).
    static let software: Int32 = 70
    /// The configuration is invalid (`check-config`, `serve`, `status`).
    static let config: Int32 = 78

    /// The exit status for a refusal.
    static func forError(_ error: ImagingError) -> Int32 {
        switch error.code {
        case .notFound, .noDICOM: noInput
        case .writeFailed: cannotCreate
        default: dataError
        }
    }
}

/// Prints a refusal to stderr in the one format operators see everywhere.
func report(_ error: ImagingError) {
    FileHandle.standardError.write(Data("segvol: \(error.description)\n".utf8))
}

/// Prints a line to stderr.
func note(_ text: String) {
    FileHandle.standardError.write(Data("segvol: \(text)\n".utf8))
}
