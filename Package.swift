// swift-tools-version:6.0
import PackageDescription

/// Layers (imports go one way, bottom to top):
/// C system libraries -> MMAttn/Core -> IO -> front-ends (Vision, Audio, Video, Protein, Text)
/// -> Models -> Pipelines -> MMAttnHub (downloads), MMAttnVideo (FFmpeg video decoding),
/// MMAttnServer (HTTP) -> the `mmattn` executable.
let package = Package(
    name: "mmattn",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "MMAttn", targets: ["MMAttn"]),
        .library(name: "MMAttnHub", targets: ["MMAttnHub"]),
        .library(name: "MMAttnVideo", targets: ["MMAttnVideo"]),
        .library(name: "MMAttnServer", targets: ["MMAttnServer"]),
        .executable(name: "mmattn", targets: ["mmattn"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        .systemLibrary(name: "CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"]), .brew(["libpng"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"]), .brew(["openblas"])]),
        .systemLibrary(name: "CSndfile", pkgConfig: "sndfile",
                       providers: [.apt(["libsndfile1-dev"]), .brew(["libsndfile"])]),
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3f",
                       providers: [.apt(["libfftw3-dev"]), .brew(["fftw"])]),
        .systemLibrary(name: "CSoxr", pkgConfig: "soxr",
                       providers: [.apt(["libsoxr-dev"]), .brew(["libsoxr"])]),
        // FFmpeg: libavformat's pkg-config file gives the include path all four share; the
        // module map links the four libraries (pkg-config --libs libavformat names only one).
        .systemLibrary(name: "CFFmpeg", pkgConfig: "libavformat",
                       providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libavutil-dev"]),
                                   .brew(["ffmpeg"])]),
        // CKernels: the attention kernel's element loops in C, on AVX-512 or AVX2 where the CPU
        // has them (per-function target attributes, chosen at run time; no global flags).
        .target(name: "CKernels"),
        .target(
            name: "MMAttn",
            dependencies: ["CPNG", "CZlib", "CBLAS", "CSndfile", "CFFTW", "CSoxr", "CKernels"]
        ),
        // Hub downloads (URLSession) live apart so that `import MMAttn` pulls in no networking.
        // CHubHash: SHA-256 block compression in C, on the CPU's SHA instructions where it has them.
        .target(name: "CHubHash"),
        .target(name: "MMAttnHub", dependencies: ["MMAttn", "CHubHash"]),
        // Video files through FFmpeg live apart so that `import MMAttn` links no FFmpeg.
        .target(name: "MMAttnVideo", dependencies: ["MMAttn", "CFFmpeg"]),
        // The HTTP server (Hummingbird, Prometheus metrics, service lifecycle) lives apart so that
        // `import MMAttn` pulls in no server stack.
        .target(
            name: "MMAttnServer",
            dependencies: [
                "MMAttn",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "mmattn",
            dependencies: ["MMAttn", "MMAttnHub", "MMAttnVideo", "MMAttnServer", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Fuzz targets: every input format through the entry point the CLI or the server uses.
        // `mmattn-fuzz` replays files through them; scripts/fuzz.sh builds it as a libFuzzer binary.
        .target(name: "MMAttnFuzz", dependencies: ["MMAttn", "MMAttnVideo", "MMAttnServer"]),
        .executableTarget(name: "mmattn-fuzz", dependencies: ["MMAttnFuzz"]),
        .executableTarget(name: "image-search", dependencies: ["MMAttn"], path: "Examples/ImageSearch"),
        .executableTarget(name: "text-search", dependencies: ["MMAttn"], path: "Examples/TextSearch"),
        .executableTarget(name: "transcribe-stream", dependencies: ["MMAttn"], path: "Examples/Transcribe"),
        .executableTarget(name: "attention-html-bench", dependencies: ["MMAttn"], path: "Examples/AttentionHTMLBench"),
        .testTarget(name: "MMAttnTests", dependencies: ["MMAttn", "MMAttnHub", "MMAttnVideo", "MMAttnServer", "MMAttnFuzz", "mmattn", "CKernels"]),
    ],
    swiftLanguageModes: [.v6]
)
