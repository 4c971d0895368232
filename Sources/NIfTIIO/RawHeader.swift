import ImagingCore

/// The NIfTI datatypes segvol reads (nifti1.h `DT_*` codes).
enum NIfTIDatatype: Int {
    case uint8 = 2, int16 = 4, int32 = 8, float32 = 16, float64 = 64, int8 = 256, uint16 = 512, uint32 = 768

    /// Bytes per voxel.
    var size: Int {
        switch self {
        case .uint8, .int8: 1
        case .int16, .uint16: 2
        case .int32, .uint32, .float32: 4
        case .float64: 8
        }
    }

    var name: String { "\(self)" }
}

/// Reads little- or big-endian scalars from header bytes (no alignment assumed).
struct EndianReader {
    let bytes: [UInt8]
    let bigEndian: Bool

    func u64(_ at: Int, _ n: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<n {
            let b = UInt64(bytes[bigEndian ? at + i : at + n - 1 - i])
            v = (v << 8) | b
        }
        return v
    }
    func i16(_ at: Int) -> Int { Int(Int16(bitPattern: UInt16(u64(at, 2)))) }
    func i32(_ at: Int) -> Int { Int(Int32(bitPattern: UInt32(u64(at, 4)))) }
    func i64(_ at: Int) -> Int64 { Int64(bitPattern: u64(at, 8)) }
    func f32(_ at: Int) -> Double { Double(Float(bitPattern: UInt32(u64(at, 4)))) }
    func f64(_ at: Int) -> Double { Double(bitPattern: u64(at, 8)) }
    func string(_ at: Int, _ n: Int) -> String {
        let slice = bytes[at..<(at + n)].prefix { $0 != 0 }
        return String(decoding: slice, as: UTF8.self)
    }
}

/// The header fields segvol checks itself, read straight from the file's bytes before libnifti
/// sees them (libnifti 3.0.1 accepts vox_offset = +inf and its size arithmetic wraps on huge dims).
struct RawHeader {
    var version: Int
    var bigEndian: Bool
    /// 348 or 540.
    var headerSize: Int
    /// dim[0...7] as stored.
    var dim: [Int64]
    var datatypeCode: Int
    var pixdim: [Double]
    var voxOffset: Double
    var sclSlope: Double
    var sclInter: Double
    var qformCode: Int
    var sformCode: Int
    var intentCode: Int
    var descrip: String

    /// Parses the first bytes of a file; throws when they cannot be a single-file NIfTI header.
    init(bytes: [UInt8], input: String) throws {
        guard bytes.count >= 4 else {
            throw ImagingError(.truncated, input: input, reason: "the file ends before the NIfTI header (\(bytes.count) bytes).",
                               remedy: "Copy the file again; it is cut short.")
        }
        let le = EndianReader(bytes: bytes, bigEndian: false).i32(0)
        let be = EndianReader(bytes: bytes, bigEndian: true).i32(0)
        switch (le, be) {
        case (348, _): (version, bigEndian) = (1, false)
        case (_, 348): (version, bigEndian) = (1, true)
        case (540, _): (version, bigEndian) = (2, false)
        case (_, 540): (version, bigEndian) = (2, true)
        default:
            throw ImagingError.badHeader(.niftiBadHeaderSize, input,
                                         "sizeof_hdr is \(le) (byte-swapped \(be)); NIfTI-1 needs 348 and NIfTI-2 540, so this is not a NIfTI file.")
        }
        headerSize = version == 1 ? 348 : 540
        guard bytes.count >= headerSize else {
            throw ImagingError(.truncated, input: input, reason: "the file ends inside its \(headerSize)-byte NIfTI-\(version) header.",
                               remedy: "Copy the file again; it is cut short.")
        }
        let r = EndianReader(bytes: bytes, bigEndian: bigEndian)
        let magic = version == 1 ? Array(bytes[344..<348]) : Array(bytes[4..<8])
        let expected: [UInt8] = version == 1 ? [0x6E, 0x2B, 0x31, 0] : [0x6E, 0x2B, 0x32, 0]  // "n+1\0", "n+2\0"
        if magic != expected {
            let pair: [UInt8] = version == 1 ? [0x6E, 0x69, 0x31, 0] : [0x6E, 0x69, 0x32, 0]  // "ni1\0", "ni2\0"
            let what = magic == pair ? "a two-file (.hdr/.img) NIfTI header" : "not a NIfTI magic string (ANALYZE 7.5 or damaged)"
            throw ImagingError.badHeader(.niftiBadMagic, input, "the magic field is \(what); segvol reads single-file .nii/.nii.gz only.")
        }
        if version == 1 {
            dim = (0..<8).map { Int64(r.i16(40 + 2 * $0)) }
            datatypeCode = r.i16(70)
            pixdim = (0..<8).map { r.f32(76 + 4 * $0) }
            voxOffset = r.f32(108)
            sclSlope = r.f32(112)
            sclInter = r.f32(116)
            qformCode = r.i16(252)
            sformCode = r.i16(254)
            intentCode = r.i16(68)
            descrip = r.string(148, 80)
        } else {
            dim = (0..<8).map { r.i64(16 + 8 * $0) }
            datatypeCode = r.i16(12)
            pixdim = (0..<8).map { r.f64(104 + 8 * $0) }
            voxOffset = Double(r.i64(168))
            sclSlope = r.f64(176)
            sclInter = r.f64(184)
            qformCode = r.i32(344)
            sformCode = r.i32(348)
            intentCode = r.i32(504)
            descrip = r.string(240, 80)
        }
    }
}

/// Sizes derived from a header that passed `RawHeader.validate`.
struct DataLayout {
    var datatype: NIfTIDatatype
    /// Voxels along i, j, k (dims past dim[0] are 1).
    var shape: [Int]
    /// Number of 3-D volumes: the product of dim[4...dim[0]].
    var volumeCount: Int
    var voxOffset: Int
    /// Bytes of voxel data in the file, all volumes.
    var dataBytes: Int
    /// Scaling in effect, nil when none.
    var scaling: (slope: Double, intercept: Double)?

    var voxelsPerVolume: Int { shape[0] * shape[1] * shape[2] }
    /// Bytes from the start of the file that must exist.
    var requiredFileBytes: Int { voxOffset + dataBytes }
}

extension RawHeader {
    /// The bounded pre-check: everything libnifti would otherwise trust, checked with overflow-safe
    /// arithmetic before anything is allocated from header values.
    func validate(input: String, options: NIfTIReadOptions) throws -> DataLayout {
        let n = dim[0]
        guard (1...7).contains(n) else {
            throw ImagingError.badHeader(.niftiBadDimCount, input, "dim[0] is \(n); NIfTI allows 1 to 7 dimensions.")
        }
        var voxels = 1
        for axis in 1...Int(n) {
            guard dim[axis] > 0 else {
                throw ImagingError.badHeader(.niftiBadDim, input, "dim[\(axis)] is \(dim[axis]); every used dimension must be at least 1.")
            }
            let (product, overflow) = voxels.multipliedReportingOverflow(by: Int(dim[axis]))
            guard !overflow, product <= options.maxDataBytes else { throw tooLarge(input, options) }
            voxels = product
        }
        guard let datatype = NIfTIDatatype(rawValue: datatypeCode) else {
            throw ImagingError(.niftiUnsupportedDatatype, input: input,
                               reason: "datatype \(datatypeCode) is not supported (only uint8, int8, int16, uint16, int32, uint32, float32, float64).",
                               remedy: "Convert the file to float32 or int16, e.g. with nibabel or fslmaths -odt float.")
        }
        let (dataBytes, overflow) = voxels.multipliedReportingOverflow(by: datatype.size)
        guard !overflow, dataBytes <= options.maxDataBytes else { throw tooLarge(input, options) }
        guard voxOffset.isFinite, voxOffset >= Double(headerSize), voxOffset == voxOffset.rounded(),
              voxOffset <= Double(options.maxDecompressedBytes) else {
            throw ImagingError.badHeader(.niftiBadVoxOffset, input,
                                         "vox_offset is \(voxOffset); it must be a whole number of bytes from \(headerSize) up to the end of the file.")
        }
        var scaling: (Double, Double)?
        if !sclSlope.isFinite {
            throw ImagingError.badHeader(.niftiBadScaling, input, "scl_slope is \(sclSlope); a scaling slope must be finite.")
        }
        if sclSlope != 0 {
            guard sclInter.isFinite else {
                throw ImagingError.badHeader(.niftiBadScaling, input, "scl_inter is \(sclInter); a scaling intercept must be finite.")
            }
            if sclSlope != 1 || sclInter != 0 { scaling = (sclSlope, sclInter) }
        }
        let shape = (1...3).map { $0 <= n ? Int(dim[$0]) : 1 }
        let volumes = n >= 4 ? (4...Int(n)).reduce(1) { $0 * Int(dim[$1]) } : 1
        return DataLayout(datatype: datatype, shape: shape, volumeCount: volumes, voxOffset: Int(voxOffset),
                          dataBytes: dataBytes, scaling: scaling)
    }

    private func tooLarge(_ input: String, _ options: NIfTIReadOptions) -> ImagingError {
        let dims = dim[1...Int(max(1, min(7, dim[0])))].map(String.init).joined(separator: "x")
        return ImagingError(.tooLarge, input: input,
                            reason: "dims \(dims) need more than the \(options.maxDataBytes)-byte limit for voxel data.",
                            remedy: "Crop or downsample the scan, or raise maxDataBytes if the file is genuine.")
    }
}
