// swift-tools-version:6.0
// Coffer's benchmarks: a separate package that depends on the root by path, so the root
// build and `make test` never see it. BENCHMARKS.md says what is measured and how to run it
// (`tools/bench`, or `make bench` through tools/bench.mk).
//
// Three executables, because libsqlcipher and libsqlite3 export the same `sqlite3_*`
// symbols and must never be loaded into one process:
//   coffer-bench            the driver: Coffer and the machine's limits; runs the two helpers
//                           below as child processes, merges their JSON, prints the table
//   coffer-bench-sqlcipher  SQLCipher (libsqlcipher-dev), linked against libsqlcipher only
//   coffer-bench-sqlite     SQLite (libsqlite3-dev) with rows sealed by libsodium, linked
//                           against libsqlite3 only
//   coffer-bench-shared     a vault shared through PostgreSQL: writer processes, follower
//                           staleness (tools/bench-shared)
// The SQL workloads are written once (SQLBench) over a table of C function pointers that
// each helper fills from its own system-library module.
import PackageDescription

let package = Package(
    name: "CofferBenchmarks",
    products: [
        .executable(name: "coffer-bench", targets: ["coffer-bench"]),
        .executable(name: "coffer-bench-sqlcipher", targets: ["coffer-bench-sqlcipher"]),
        .executable(name: "coffer-bench-sqlite", targets: ["coffer-bench-sqlite"]),
        .executable(name: "coffer-bench-shared", targets: ["coffer-bench-shared"]),
    ],
    dependencies: [
        .package(name: "Coffer", path: "..")
    ],
    targets: [
        .systemLibrary(name: "CSQLCipher", pkgConfig: "sqlcipher", providers: [.apt(["libsqlcipher-dev"])]),
        .systemLibrary(name: "CSQLite3", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // libsodium called directly: the machine's AEAD limit, and the sealing a team would
        // write by hand for the SQLite baseline.
        .systemLibrary(name: "BenchSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        // The workload, statistics, timing, results and process plumbing every executable shares.
        .target(name: "BenchSupport", dependencies: ["BenchSodium"]),
        .target(name: "SQLBench", dependencies: ["BenchSupport", "BenchSodium"]),
        .executableTarget(
            name: "coffer-bench",
            dependencies: ["BenchSupport", "BenchSodium", .product(name: "Coffer", package: "Coffer")]
        ),
        .executableTarget(name: "coffer-bench-sqlcipher", dependencies: ["SQLBench", "BenchSupport", "CSQLCipher"]),
        .executableTarget(name: "coffer-bench-sqlite", dependencies: ["SQLBench", "BenchSupport", "CSQLite3"]),
        // Commits with 1, 2 and 4 writer processes on a vault shared through PostgreSQL, and
        // follower staleness (tools/bench-shared starts a throw-away server for it).
        .executableTarget(
            name: "coffer-bench-shared",
            dependencies: [
                "BenchSupport", .product(name: "Coffer", package: "Coffer"),
                .product(name: "CofferPostgres", package: "Coffer"),
            ]
        ),
    ]
)
