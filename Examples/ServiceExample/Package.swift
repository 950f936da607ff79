// swift-tools-version:6.0
// A small service built on Coffer the way a consumer builds one: a separate package that
// depends on the checkout by path and imports `Coffer` alone. `make test` builds it with
// warnings as errors under Swift 6 strict concurrency and runs it.
import PackageDescription

let package = Package(
    name: "ServiceExample",
    dependencies: [.package(name: "Coffer", path: "../..")],
    targets: [
        .executableTarget(
            name: "ServiceExample", dependencies: [.product(name: "Coffer", package: "Coffer")],
            swiftSettings: [.unsafeFlags(["-warnings-as-errors"])])
    ]
)
