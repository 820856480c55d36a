// swift-tools-version:6.0
//
// The USO cluster trainer: one `uso` executable that mpirun starts on every rank.
// Module layout and dependency rules: ../shared/DESIGN.md section 8 and README.md.
import PackageDescription

/// Kernel tier modules are optimised in every configuration.
let optimised: [SwiftSetting] = [.unsafeFlags(["-O"])]

/// Compiles a tier for `cpu` on x86-64 hosts; elsewhere every tier is the portable build
/// (KernelTier never selects AVX tiers off x86-64).
func targetCPU(_ cpu: String) -> [SwiftSetting] {
    #if arch(x86_64)
    return [.unsafeFlags(["-target-cpu", cpu])]
    #else
    return []
    #endif
}

let package = Package(
    name: "uso",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "uso", targets: ["uso"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        // C libraries: module map + shim header, nothing else.
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg-dev"])]),
        .systemLibrary(name: "CWebP", pkgConfig: "libwebp", providers: [.apt(["libwebp-dev"])]),
        .systemLibrary(name: "CCPUID"),

        // Swift modules. Only Comm imports CMPI, only TensorCore imports CBLAS,
        // only HDF5Kit imports CHDF5 (TripletData and Checkpoint build on HDF5Kit).
        // The vector kernels: bodies written once (VectorKernels), compiled per tier for the
        // CPU each targets (one shared source file, VectorKernelTier/Tier.swift), always
        // optimised (a debug build's tests then run the same code, and fast); TensorCore
        // picks the tier this CPU runs at start (KernelTier). An incremental build does not
        // recompile the tiers when only a kernel's @inlinable body changes (seen with Swift
        // 6.3.1: the tests then run the old body): touch Sources/VectorKernelTier/Tier.swift.
        .target(name: "VectorKernels", swiftSettings: optimised),
        .target(name: "VectorKernelsBaseline", dependencies: ["VectorKernels"], swiftSettings: optimised),
        .target(name: "VectorKernelsAVX2", dependencies: ["VectorKernels"], swiftSettings: optimised + targetCPU("haswell")),
        .target(name: "VectorKernelsAVX512", dependencies: ["VectorKernels"], swiftSettings: optimised + targetCPU("skylake-avx512")),
        .target(name: "TensorCore", dependencies: ["CBLAS", "CCPUID", "VectorKernels", "VectorKernelsBaseline", "VectorKernelsAVX2",
                                                   "VectorKernelsAVX512"]),
        .target(name: "HDF5Kit", dependencies: ["CHDF5"]),
        .target(name: "SafeTensors"),
        .target(name: "USOModel", dependencies: ["TensorCore", "SafeTensors"]),
        .target(name: "ImageIO", dependencies: ["CPNG", "CJPEG", "CWebP"]),
        .target(name: "TripletData", dependencies: ["HDF5Kit", "CZlib", "TensorCore", "ImageIO", "USOModel"]),
        .target(name: "Config", dependencies: ["TOMLKit", "USOModel"]),
        .target(name: "SynthWorld", dependencies: ["TripletData", "TensorCore", "ImageIO", "Comm"]),
        .target(name: "FlightRecorder"),
        .target(name: "Comm", dependencies: ["CMPI", "FlightRecorder"]),
        .target(name: "Reward", dependencies: ["Comm", "FlightRecorder", "TensorCore", "USOModel"]),
        .target(name: "Training", dependencies: ["FlightRecorder", "Comm", "TensorCore", "USOModel", "TripletData", "Config", "SafeTensors", "ImageIO", "Reward"]),
        .target(name: "Inference", dependencies: ["Training", "USOModel", "TensorCore", "TripletData", "ImageIO"]),
        .target(name: "Diagnostics", dependencies: ["FlightRecorder", "Comm", "TensorCore", "HDF5Kit"]),
        .target(name: "Bench", dependencies: ["FlightRecorder", "Comm", "TensorCore", "Diagnostics", "USOModel", "TripletData", "Training", "Config", "Reward"]),
        .executableTarget(
            name: "uso",
            dependencies: [
                "Comm", "Config", "Diagnostics", "Bench", "USOModel", "TripletData", "SynthWorld", "ImageIO", "Training", "Inference", "Reward",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Test support and the MPI programs that tests start with mpirun.
        .target(name: "USOTestSupport", path: "Tests/USOTestSupport"),
        .executableTarget(name: "uso-comm-check", dependencies: ["Comm", "USOTestSupport"], path: "Tests/CommCheck"),
        .executableTarget(name: "uso-reward-check", dependencies: ["Comm", "Reward", "USOModel", "TensorCore", "USOTestSupport"],
                          path: "Tests/RewardCheck"),
        .executableTarget(name: "uso-data-check", dependencies: ["Comm", "TripletData", "USOTestSupport"], path: "Tests/DataCheck"),

        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "VectorKernels", "USOTestSupport"]),
        .testTarget(name: "HDF5KitTests", dependencies: ["HDF5Kit", "USOTestSupport"]),
        .testTarget(name: "USOModelTests", dependencies: ["USOModel", "TensorCore", "SafeTensors", "USOTestSupport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "TripletDataTests", dependencies: ["TripletData", "SynthWorld", "HDF5Kit", "ImageIO", "USOModel", "USOTestSupport", "uso-data-check"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "USOModel", "TensorCore", "TripletData", "Config", "USOTestSupport"]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "USOTestSupport"]),
        .testTarget(name: "RewardTests", dependencies: ["Reward", "USOModel", "TensorCore", "Training", "USOTestSupport", "uso-reward-check"]),
        .testTarget(name: "SafeTensorsTests", dependencies: ["SafeTensors", "USOTestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ConfigTests", dependencies: ["Config"]),
        .testTarget(name: "CommTests", dependencies: ["Comm", "USOTestSupport", "uso-comm-check"]),
        .testTarget(name: "CLITests", dependencies: ["USOTestSupport", "Diagnostics", "FlightRecorder", "Config", "TensorCore", "SafeTensors", "uso", "uso-comm-check"]),
    ]
)
