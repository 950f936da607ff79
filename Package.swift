// swift-tools-version:6.1
// Coffer: an encrypted vault storage engine with its own file format (FORMAT.md).
//
// Layers, each depending only on the ones above it:
//   CSodium, CZlib      system libraries (libsodium, zlib)
//   CofferErrors        the one public error type, CofferError, and its closed set of codes
//   CofferCrypto        safe wrappers: secrets in memory, AEAD, hashes, KDFs
//   CofferFormat        pure encode/decode of the bytes FORMAT.md specifies (no I/O, no Foundation)
//   CofferStorage       file I/O behind a small protocol, the log writer and reader, locking, recovery
//   CofferModel         the credential model: records, operations, the in-memory index, resolution
//   Coffer              the public engine
//   CofferExchange      export, import, the encrypted export bundle
//   CofferCLI, coffer   the admin command-line tool (CProcessControl: prctl for it, and for
//                       naming the library's threads)
//   CofferSimulation    an in-memory disk that can crash, for tests and fuzzers only
//   CofferReferenceModel the credential rules restated from FORMAT.md, for tests and fuzzers only
//   CofferTesting       an in-memory vault over it, for a service's own tests
//   CofferPostgres      a PostgreSQL store of sealed frames and headers shared by several services
import PackageDescription

let package = Package(
    name: "Coffer",
    products: [
        .library(name: "Coffer", targets: ["Coffer"]),
        .library(name: "CofferPostgres", targets: ["CofferPostgres"]),
        .library(name: "CofferSimulation", targets: ["CofferSimulation"]),
        .library(name: "CofferTesting", targets: ["CofferTesting"]),
        .library(name: "CofferFuzzBodies", targets: ["CofferFuzzBodies"]),
        .executable(name: "coffer", targets: ["coffer"]),
    ],
    // A service that links only `Coffer` (or `CofferTesting`) and depends on this package with
    // `traits: []` does not fetch the PostgreSQL stack (postgres-nio and its dozen packages):
    // only CofferPostgres, the CLI and their tests need it, and they need this trait.
    traits: [
        .trait(
            name: "PostgreSQL",
            description:
                "CofferPostgres (a vault shared through PostgreSQL) and the coffer CLI, which opens postgres:// vaults."
        ),
        .default(enabledTraits: ["PostgreSQL"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // TLS to PostgreSQL (`sslmode`); postgres-nio builds it already.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // Diagnostics the Swift server ecosystem expects; no-ops unless the service bootstraps
        // them (the same URLs postgres-nio names, so one copy of each resolves).
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // The one public error type and its closed set of codes, below everything else.
        .target(name: "CofferErrors"),
        .target(name: "CofferCrypto", dependencies: ["CofferErrors", "CSodium", "CZlib"]),
        // prctl(2) for the CLI's process hardening and for naming the library's threads: Swift
        // cannot call a variadic C function.
        .target(name: "CProcessControl"),
        .target(name: "CofferFormat", dependencies: ["CofferCrypto"]),
        .target(name: "CFileSystem"),
        .target(name: "CofferStorage", dependencies: ["CofferFormat", "CofferCrypto", "CFileSystem"]),
        .target(name: "CofferModel", dependencies: ["CofferFormat", "CofferCrypto"]),
        .target(
            name: "Coffer",
            dependencies: [
                "CofferModel", "CofferStorage", "CofferFormat", "CofferCrypto", "CProcessControl",
                .product(name: "Logging", package: "swift-log"), .product(name: "Metrics", package: "swift-metrics"),
            ]),
        .target(name: "CofferSimulation", dependencies: ["CofferStorage"]),
        // An in-memory vault for a service's own tests (MemoryVault).
        .target(name: "CofferTesting", dependencies: ["Coffer", "CofferSimulation", "CofferStorage"]),
        // The credential rules restated from FORMAT.md in plain arrays: the oracle the
        // randomized model tests and the operation-sequence fuzz target both compare against.
        .target(name: "CofferReferenceModel", dependencies: ["CofferModel", "CofferCrypto", "CofferErrors"]),
        // The bodies of the fuzz targets in Fuzz/, as plain functions so tests replay the corpus.
        .target(
            name: "CofferFuzzBodies",
            dependencies: [
                "CofferStorage", "CofferSimulation", "CofferFormat", "CofferCrypto", "CofferModel", "Coffer",
                "CofferReferenceModel",
            ]),
        // Export, import and the encrypted export bundle.
        .target(
            name: "CofferExchange", dependencies: ["Coffer", "CofferStorage", "CofferFormat", "CofferCrypto", "CZlib"]),
        // The admin CLI: command logic in a library so tests can drive it, a thin executable.
        .target(
            name: "CofferCLI",
            dependencies: [
                "Coffer", "CofferExchange", "CofferStorage", "CofferFormat", "CofferPostgres", "CProcessControl",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "coffer", dependencies: ["CofferCLI"]),
        // Sealed frames and headers in PostgreSQL, byte for byte; the engine does not depend on it.
        .target(
            name: "CofferPostgres",
            dependencies: [
                "CofferCrypto", "CofferStorage",
                .product(name: "PostgresNIO", package: "postgres-nio", condition: .when(traits: ["PostgreSQL"])),
                .product(name: "NIOSSL", package: "swift-nio-ssl", condition: .when(traits: ["PostgreSQL"])),
            ]
        ),
        // The README's library example, built and run by `make test`.
        .executableTarget(name: "coffer-readme-example", dependencies: ["Coffer"], path: "Examples/ReadmeExample"),
        // Crash states of the real binary, built from strace traces (tools/crash-states).
        .target(
            name: "CofferCrashStates", dependencies: ["Coffer", "CofferStorage", "CofferFormat", "CofferSimulation"]),
        .executableTarget(name: "coffer-crash-states", dependencies: ["CofferCrashStates", "CofferSimulation"]),
        // A second process for lock and SIGKILL tests.
        .executableTarget(name: "coffer-test-writer", dependencies: ["CofferStorage"]),
        // Writer processes on a vault shared through PostgreSQL, for the multi-process tests.
        .executableTarget(
            name: "coffer-shared-writer", dependencies: ["Coffer", "CofferModel", "CofferPostgres", "CofferStorage"]),
        // Assertions every test target shares.
        .target(
            name: "CofferTestSupport",
            dependencies: ["CofferCrypto", "CofferFormat", "CofferSimulation", "CofferStorage"],
            path: "Tests/CofferTestSupport"),
        .testTarget(name: "CofferCryptoTests", dependencies: ["CofferCrypto", "CofferTestSupport"]),
        .testTarget(
            name: "CofferFormatTests",
            dependencies: ["CofferFormat", "CofferCrypto", "CofferTestSupport"],
            resources: [.copy("Vectors")]
        ),
        .testTarget(name: "CofferCLITests", dependencies: ["CofferCLI", "Coffer", "CofferTestSupport"]),
        .testTarget(
            name: "CofferExchangeTests",
            dependencies: ["CofferExchange", "Coffer", "CofferSimulation", "CofferTestSupport"],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "CofferModelTests",
            dependencies: ["CofferModel", "CofferFormat", "CofferCrypto", "CofferTestSupport", "CofferReferenceModel"]),
        .testTarget(name: "CofferFuzzReplayTests", dependencies: ["CofferFuzzBodies"]),
        .testTarget(name: "CofferCrashStatesTests", dependencies: ["CofferCrashStates", "CofferSimulation"]),
        .testTarget(
            name: "CofferPostgresTests",
            dependencies: [
                "CofferPostgres", "Coffer", "CofferModel", "CofferStorage", "CofferCrypto", "CofferTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio", condition: .when(traits: ["PostgreSQL"])),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(name: "CofferSimulationTests", dependencies: ["CofferSimulation", "CofferStorage"]),
        .testTarget(name: "CofferTestingTests", dependencies: ["CofferTesting"]),
        .testTarget(
            name: "CofferStorageTests",
            dependencies: ["CofferStorage", "CofferFormat", "CofferCrypto", "CofferSimulation", "CofferTestSupport"]
        ),
        .testTarget(
            name: "CofferTests",
            dependencies: [
                "Coffer", "CofferSimulation", "CofferStorage", "CofferFormat", "CofferCrypto", "CofferTestSupport",
                "CProcessControl", .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
    ]
)
