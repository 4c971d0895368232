import Anatomy
import Foundation
import ImagingCore
import Segmentation
#if canImport(Glibc)
import Glibc
#endif

extension ModelRegistry {
    /// What a promotion or rollback did.
    public struct Switch: Sendable, Equatable {
        public var from: String?
        public var to: String
        /// False when `to` was already current (nothing changed).
        public var changed: Bool
    }

    /// Makes `version` current. A version the gate rejected needs `force`. The version's
    /// weights and plan are checked against provenance.json first.
    @discardableResult
    public func promote(_ version: String, force: Bool = false) throws(ImagingError) -> Switch {
        try prepareDirectory()
        return try withLock { () throws(ImagingError) in
            _ = try recoverLocked()
            let p = try verify(version)
            if p.gate == .rejected && !force {
                throw ImagingError(.modelVersionRejected, input: version,
                                   reason: "the gate rejected this version: \(p.gateReasons.joined(separator: "; "))",
                                   remedy: "add --force to promote it anyway (recorded in history.json)")
            }
            let current = currentVersion()
            if current == version { return Switch(from: current, to: version, changed: false) }
            var h = try history()
            if h.stack.last != current, let current { h.stack.append(current) }
            h.stack.append(version)
            h.events.append(.init(time: VersionID.iso(now()), action: p.gate == .rejected ? "promote-forced" : "promote", from: current, to: version))
            try FileSteps.write(Self.json(h), to: directory + "/" + Self.historyFile)
            crash("switch-history")
            try switchLink(to: version)
            return Switch(from: current, to: version, changed: true)
        }
    }

    /// Returns to the model that was current before the last promotion (one step; repeated
    /// rollbacks walk further back). `nothing_to_roll_back` when there is no earlier model.
    @discardableResult
    public func rollback() throws(ImagingError) -> Switch {
        try prepareDirectory()
        return try withLock { () throws(ImagingError) in
            _ = try recoverLocked()
            var h = try history()
            guard h.stack.count >= 2, let from = h.stack.last else {
                throw ImagingError(.nothingToRollBack, input: directory,
                                   reason: h.stack.isEmpty ? "no model was ever promoted in this registry" : "\(h.stack[0]) is the first model of the history",
                                   remedy: "promote a version by name instead (`segvol models list`, then `segvol models promote V`)")
            }
            h.stack.removeLast()
            let to = h.stack.last!
            _ = try verify(to)
            h.events.append(.init(time: VersionID.iso(now()), action: "rollback", from: from, to: to))
            try FileSteps.write(Self.json(h), to: directory + "/" + Self.historyFile)
            crash("switch-history")
            try switchLink(to: to)
            return Switch(from: from, to: to, changed: true)
        }
    }

    /// With an empty registry (no version, no `current`), imports the model at `basePath` (the
    /// shipped default) as version `default` and makes it current; returns its id. Otherwise
    /// returns nil and changes nothing.
    @discardableResult
    public func ensureBase(from basePath: String, catalog: LabelCatalog? = nil) throws(ImagingError) -> String? {
        try prepareDirectory()
        return try withLock { () throws(ImagingError) -> String? in
            _ = try recoverLocked()
            guard currentVersion() == nil, versions().isEmpty else { return nil }
            let id = try registerLocked(candidate: basePath, parent: nil, gate: .base, decision: nil, version: VersionID.base, catalog: catalog)
            var h = try history()
            h.stack = [id]
            h.events.append(.init(time: VersionID.iso(now()), action: "base", from: nil, to: id))
            try FileSteps.write(Self.json(h), to: directory + "/" + Self.historyFile)
            try switchLink(to: id)
            return id
        }
    }

    /// The start-up sweep: removes temporaries a crash left (half-built version folders, a
    /// temporary link, history temporaries) and makes `current` agree with the history
    /// (completing a switch that was interrupted after history.json was written). Returns one
    /// line per repair; empty when everything was in order.
    @discardableResult
    public func recover() throws(ImagingError) -> [String] {
        guard FileSteps.isDirectory(directory) else { return [] }
        return try withLock { () throws(ImagingError) in try recoverLocked() }
    }

    func recoverLocked() throws(ImagingError) -> [String] {
        var repairs = try removeTemporaries()
        var h = try history()
        // History entries whose folder is gone (deleted by hand) cannot be current.
        let missing = h.stack.filter { !FileSteps.isDirectory(path(of: $0)) }
        if !missing.isEmpty {
            h.stack.removeAll { missing.contains($0) }
            repairs.append("dropped missing versions from the history: \(missing.joined(separator: ", "))")
        }
        let current = currentVersion()
        if let top = h.stack.last {
            if current != top {
                if !missing.isEmpty { try FileSteps.write(Self.json(h), to: directory + "/" + Self.historyFile) }
                try switchLink(to: top)
                repairs.append("current now points to \(top) (was \(current ?? "missing")): an interrupted switch completed")
            } else if !missing.isEmpty {
                try FileSteps.write(Self.json(h), to: directory + "/" + Self.historyFile)
            }
        } else if let current {
            // A link made by hand (or before the history existed): adopt it as the history's start.
            h.stack = [current]
            h.events.append(.init(time: VersionID.iso(now()), action: "adopt", from: nil, to: current))
            try FileSteps.write(Self.json(h), to: directory + "/" + Self.historyFile)
            repairs.append("history started with the existing current version \(current)")
        } else if FileSteps.isSymlink(currentPath) {
            try FileSteps.remove(currentPath)
            try FileSteps.syncDirectory(directory)
            repairs.append("removed a dangling current link")
        }
        return repairs
    }

    /// Removes `.tmp-*` (half-built versions), `.current.tmp-*` and `.history.json.tmp-*`.
    @discardableResult
    func removeTemporaries() throws(ImagingError) -> [String] {
        var removed: [String] = []
        for name in FileSteps.list(directory) where name.hasPrefix(".tmp-") || name.hasPrefix(".current.tmp-") || name.hasPrefix(".history.json.tmp-") {
            try FileSteps.remove(directory + "/" + name)
            removed.append("removed the leftover temporary \(name)")
        }
        if !removed.isEmpty { try FileSteps.syncDirectory(directory) }
        return removed
    }

    /// The atomic switch: a new relative symlink under a temporary name, renamed over `current`,
    /// then the folder fsynced.
    func switchLink(to version: String) throws(ImagingError) {
        let temp = directory + "/.current.tmp-\(getpid())"
        try FileSteps.remove(temp)
        if symlink(version, temp) != 0 { throw FileSteps.fail("symlink", temp, errno) }
        crash("switch-temp-link")
        if rename(temp, currentPath) != 0 {
            let err = errno
            unlink(temp)
            throw FileSteps.fail("rename", currentPath, err)
        }
        try FileSteps.syncDirectory(directory)
        crash("switch-renamed")
    }
}
