import ImagingCore

/// A NIfTI file's bytes from offset 0 up to the end of its voxel data (or of its extensions
/// for header-only reads), after the bounded pre-check.
struct LoadedNIfTI {
    var header: RawHeader
    var layout: DataLayout
    /// File bytes `[0, layout.requiredFileBytes)`, or `[0, voxOffset)` when header-only.
    var bytes: [UInt8]
}

enum FileLoader {
    /// Opens `path` (gzip recognised by its magic bytes; a `.gz` name without them is refused),
    /// checks the header, and reads exactly the bytes the checks allowed.
    ///
    /// For `.nii.gz`, a header-only read inflates just the header and extensions; a full read
    /// inflates the whole stream (so a bad CRC or cut trailer is always caught) while keeping only
    /// the bytes it needs, and stops at `maxDecompressedBytes + 1`. A full read first tries
    /// libdeflate on the whole file (`GzipWhole`, into a buffer of exactly the header-derived size);
    /// when that declines, the zlib stream below runs from the start and decides. `decoder: .zlib`
    /// forces the reference (tests compare the two).
    static func load(path: String, options: NIfTIReadOptions, headerOnly: Bool, decoder: GzipDecoder = .libdeflate) throws -> LoadedNIfTI {
        let file = try ReadableFile(path: path)
        let size = try file.size(input: path)
        let magic = try file.read(offset: 0, count: 2, input: path)
        let isGzip = magic == [0x1F, 0x8B]
        if !isGzip && path.lowercased().hasSuffix(".gz") {
            throw ImagingError.badHeader(.niftiCorruptGzip, path, "the file is named .gz but does not start with the gzip magic bytes.")
        }
        if !isGzip {
            let head = try file.read(offset: 0, count: min(size, 540), input: path)
            let header = try RawHeader(bytes: head, input: path)
            let layout = try header.validate(input: path, options: options)
            if layout.voxOffset > size {
                throw ImagingError.badHeader(.niftiBadVoxOffset, path, "vox_offset \(layout.voxOffset) is past the end of the \(size)-byte file.")
            }
            if layout.requiredFileBytes > size {
                throw truncated(path, layout: layout, have: size)
            }
            let bytes = try file.read(offset: 0, count: headerOnly ? layout.voxOffset : layout.requiredFileBytes, input: path)
            return LoadedNIfTI(header: header, layout: layout, bytes: bytes)
        }
        let gz = try GzipInflater(file: file, input: path, cap: options.maxDecompressedBytes)
        var bytes: [UInt8] = []
        try gz.fill(&bytes, to: 540)
        let header = try RawHeader(bytes: bytes, input: path)
        let layout = try header.validate(input: path, options: options)
        if layout.requiredFileBytes > options.maxDecompressedBytes {
            throw ImagingError(.tooLarge, input: path,
                               reason: "the header describes \(layout.requiredFileBytes) bytes, more than the \(options.maxDecompressedBytes)-byte limit.",
                               remedy: "Crop or downsample the scan, or raise maxDecompressedBytes if the file is genuine.")
        }
        if !headerOnly && decoder == .libdeflate && GzipWhole.worthTrying(compressedBytes: size, expected: layout.requiredFileBytes) {
            let whole = try file.read(offset: 0, count: size, input: path)
            if let fast = GzipWhole.decode(whole, expected: layout.requiredFileBytes) {
                return LoadedNIfTI(header: header, layout: layout, bytes: fast)
            }
            return try load(path: path, options: options, headerOnly: false, decoder: .zlib)
        }
        try gz.fill(&bytes, to: headerOnly ? layout.voxOffset : layout.requiredFileBytes)
        if !headerOnly { try gz.drain() }
        if layout.voxOffset > bytes.count {
            throw ImagingError.badHeader(.niftiBadVoxOffset, path, "vox_offset \(layout.voxOffset) is past the end of the \(bytes.count)-byte decompressed file.")
        }
        if !headerOnly && bytes.count < layout.requiredFileBytes {
            throw truncated(path, layout: layout, have: bytes.count)
        }
        if bytes.count > (headerOnly ? layout.voxOffset : layout.requiredFileBytes) {
            bytes.removeLast(bytes.count - (headerOnly ? layout.voxOffset : layout.requiredFileBytes))
        }
        return LoadedNIfTI(header: header, layout: layout, bytes: bytes)
    }

    private static func truncated(_ path: String, layout: DataLayout, have: Int) -> ImagingError {
        ImagingError(.truncated, input: path,
                     reason: "the file holds \(have) bytes but its header needs \(layout.requiredFileBytes) (vox_offset \(layout.voxOffset) + \(layout.dataBytes) bytes of voxels).",
                     remedy: "Copy the file again; it is cut short.")
    }
}
