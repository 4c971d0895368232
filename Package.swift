// swift-tools-version:6.0
// segvol: a systemd daemon that segments and measures muscles, tissues and organs in MRI/CT.
import PackageDescription

/// libnifti's headers live in /usr/include/nifti and include <znzlib.h> with angle brackets,
/// and the library ships no pkg-config file: every target that imports CNIfTI needs this path.
let niftiInclude: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-I/usr/include/nifti"])]

let package = Package(
    name: "segvol",
    products: [
        .executable(name: "segvol", targets: ["segvol"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.0"),
    ],
    targets: [
        // MARK: C libraries, one module each, each imported by exactly one Swift module.
        .target(
            name: "CNIfTI",
            path: "Sources/CNIfTI",
            cSettings: [.unsafeFlags(["-I/usr/include/nifti"])],
            linkerSettings: [.linkedLibrary("nifti2"), .linkedLibrary("znz"), .linkedLibrary("z"), .linkedLibrary("deflate"), .linkedLibrary("m")]
        ),
        .target(
            name: "CDCMTK",
            path: "Sources/CDCMTK",
            cxxSettings: [.unsafeFlags(["-I/usr/include/openjpeg-2.5", "-std=c++17"])],
            linkerSettings: [
                // pkg-config dcmtk fails on Debian 12 (it requires sndfile): link explicitly.
                .linkedLibrary("dcmjpls"), .linkedLibrary("dcmtkcharls"),
                .linkedLibrary("dcmjpeg"), .linkedLibrary("ijg8"), .linkedLibrary("ijg12"), .linkedLibrary("ijg16"),
                .linkedLibrary("dcmimage"), .linkedLibrary("dcmimgle"),
                .linkedLibrary("dcmdata"), .linkedLibrary("oflog"), .linkedLibrary("ofstd"),
                .linkedLibrary("openjp2"), .linkedLibrary("z"), .linkedLibrary("stdc++"),
            ]
        ),
        // Hand-written CPU kernels (intrinsics behind runtime CPU checks), imported by NeuralEngine.
        .target(name: "CKernels", path: "Sources/CKernels", linkerSettings: [.linkedLibrary("m")]),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas"),
        .systemLibrary(name: "CSystemd", path: "Sources/CSystemd", pkgConfig: "libsystemd"),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng"),
        .systemLibrary(name: "CDeflate", path: "Sources/CDeflate", pkgConfig: "libdeflate"),
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),

        // MARK: Imaging layer.
        .target(name: "ImagingCore"),
        .target(name: "NIfTIIO", dependencies: ["ImagingCore", "CNIfTI"], swiftSettings: niftiInclude),
        .target(name: "DICOMIO", dependencies: ["ImagingCore", "CDCMTK"]),
        .target(name: "Resampling", dependencies: ["ImagingCore"]),

        // MARK: Learning layer.
        .target(name: "NeuralEngine", dependencies: ["COpenBLAS", "CKernels"]),

        // MARK: Anatomy, phantoms and measurement.
        .target(
            name: "Anatomy",
            dependencies: ["ImagingCore", .product(name: "TOMLKit", package: "TOMLKit")]
        ),
        .target(name: "Phantoms", dependencies: ["ImagingCore", "Anatomy"]),
        .target(
            name: "Volumetry",
            dependencies: ["ImagingCore", "Anatomy", "CPNG", "CDeflate", "NIfTIIO", .product(name: "CSV", package: "CSV.swift")]
        ),
        .target(name: "Segmentation", dependencies: ["ImagingCore", "Anatomy", "Resampling", "NeuralEngine"]),
        // Annotation intake and the dataset store (site retraining); settling via Spool's public helpers.
        .target(
            name: "Annotations",
            dependencies: ["ImagingCore", "Anatomy", "NIfTIIO", "DICOMIO", "Spool"],
            swiftSettings: niftiInclude
        ),
        .target(
            name: "Training",
            dependencies: ["ImagingCore", "Anatomy", "Resampling", "NeuralEngine", "Segmentation", "NIfTIIO", "Annotations", "Phantoms"],
            swiftSettings: niftiInclude
        ),

        // MARK: Retraining: the model registry and the promotion gate.
        .target(
            name: "ModelRegistry",
            dependencies: ["ImagingCore", "Anatomy", "Segmentation", "Training", "Configuration", "Spool", .product(name: "Logging", package: "swift-log")],
            swiftSettings: niftiInclude
        ),

        // MARK: The daemon: configuration, systemd integration, the spool.
        .target(name: "Configuration", dependencies: [.product(name: "TOMLKit", package: "TOMLKit")]),
        .target(name: "SystemdSupport", dependencies: ["CSystemd", .product(name: "Logging", package: "swift-log")]),
        .target(name: "Spool", dependencies: ["Configuration", "ImagingCore", "CDeflate", .product(name: "Logging", package: "swift-log")]),

        // MARK: The one executable.
        .executableTarget(
            name: "segvol",
            dependencies: [
                "ImagingCore", "NIfTIIO", "DICOMIO", "Resampling", "NeuralEngine", "Anatomy", "Phantoms", "Volumetry",
                "Segmentation", "Training", "Annotations", "ModelRegistry",
                "Configuration", "SystemdSupport", "Spool", "CMalloc",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // MARK: Tests, one target per module.
        .testTarget(name: "ImagingCoreTests", dependencies: ["ImagingCore"]),
        .testTarget(name: "NIfTIIOTests", dependencies: ["NIfTIIO", "ImagingCore"], swiftSettings: niftiInclude),
        .testTarget(name: "DICOMIOTests", dependencies: ["DICOMIO", "ImagingCore", "NIfTIIO"], swiftSettings: niftiInclude),
        .testTarget(name: "ResamplingTests", dependencies: ["Resampling", "ImagingCore"]),
        // Runs the built executable; depending on it makes `swift build --build-tests` build it.
        // Shared by several test targets: an in-memory log and the tiny test model.
        .target(name: "TestSupport", dependencies: ["NeuralEngine", .product(name: "Logging", package: "swift-log")], path: "Tests/TestSupport"),
        .testTarget(name: "segvolTests", dependencies: ["segvol", "NeuralEngine", "Segmentation", "TestSupport"]),
        .testTarget(name: "NeuralEngineTests", dependencies: ["NeuralEngine"], resources: [.copy("Fixtures")]),
        .testTarget(
            name: "SegmentationTests",
            dependencies: ["Segmentation", "Anatomy", "ImagingCore", "Resampling", "NeuralEngine", "Phantoms"]
        ),
        .testTarget(
            name: "TrainingTests",
            dependencies: ["Training", "Annotations", "Segmentation", "Phantoms", "NeuralEngine", "Anatomy", "ImagingCore", "Resampling", "NIfTIIO"],
            swiftSettings: niftiInclude
        ),
        .testTarget(
            name: "AnnotationsTests",
            dependencies: ["Annotations", "Anatomy", "ImagingCore", "NIfTIIO", "DICOMIO", "Phantoms"],
            swiftSettings: niftiInclude
        ),
        .testTarget(name: "AnatomyTests", dependencies: ["Anatomy", "ImagingCore"]),
        .testTarget(name: "VolumetryTests", dependencies: ["Volumetry", "Anatomy", "ImagingCore", "Phantoms"]),
        .testTarget(
            name: "PhantomsTests",
            dependencies: ["Phantoms", "Anatomy", "ImagingCore", "DICOMIO", "NIfTIIO"],
            swiftSettings: niftiInclude
        ),
        .testTarget(name: "ConfigurationTests", dependencies: ["Configuration"]),
        .testTarget(name: "SystemdSupportTests", dependencies: ["SystemdSupport", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "SpoolTests", dependencies: ["Spool", "Configuration", "ImagingCore", "TestSupport", .product(name: "Logging", package: "swift-log")]),
        .testTarget(
            name: "ModelRegistryTests",
            dependencies: ["ModelRegistry", "Training", "Segmentation", "Phantoms", "NeuralEngine", "Anatomy", "ImagingCore", "NIfTIIO",
                           "Resampling", "Configuration", "TestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: niftiInclude
        ),
        .testTarget(
            name: "DaemonTests", dependencies: ["Configuration", "Spool", "NIfTIIO", "ImagingCore", "Anatomy", "NeuralEngine", "Segmentation", "TestSupport"], swiftSettings: niftiInclude),
    ]
)
