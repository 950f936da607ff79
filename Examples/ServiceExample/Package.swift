// swift-tools-version:6.1
// A small service built on Coffer the way a consumer builds one: a separate package that
// depends on the checkout by path and imports `Coffer` alone, without the PostgreSQL trait, so
// it fetches swift-argument-parser, swift-log and swift-metrics and not the PostgreSQL stack.
// `make test` builds it with warnings as errors under Swift 6 strict concurrency and runs it.
import PackageDescription

let package = Package(
    name: "ServiceExample",
    dependencies: [.package(name: "Coffer", path: "../..", traits: [])],
    targets: [
        .executableTarget(
            name: "ServiceExample", dependencies: [.product(name: "Coffer", package: "Coffer")],
            swiftSettings: [.unsafeFlags(["-warnings-as-errors"])])
    ]
)
