// swift-tools-version:6.0
// libFuzzer targets for Coffer. A separate package, so that the root build and tests never see
// the sanitizer flags; docs/fuzzing.md says how to run them (tools/fuzz, tools/fuzz-smoke).
//
// Each executable's main.swift holds only the LLVMFuzzerTestOneInput entry; the bodies live
// in the root package's CofferFuzzBodies module, which CofferFuzzReplayTests also runs over
// corpus/ and regressions/ without libFuzzer.
import PackageDescription

let fuzzTargets = [
    "FuzzFrameHeader",
    "FuzzFileHeader",
    "FuzzTransactionPayload",
    "FuzzOpenVault",
    "FuzzModelOperation",
    "FuzzOperationSequence",
    "FuzzCheckpoint",
]

let package = Package(
    name: "CofferFuzz",
    products: fuzzTargets.map { .executable(name: $0, targets: [$0]) } + [
        .executable(name: "FuzzSeedCorpus", targets: ["FuzzSeedCorpus"])
    ],
    dependencies: [
        .package(name: "Coffer", path: "..")
    ],
    targets: fuzzTargets.map {
        .executableTarget(name: $0, dependencies: [.product(name: "CofferFuzzBodies", package: "Coffer")])
    } + [
        // Writes the seed corpus; built without sanitizers (tools/make-seed-corpus).
        .executableTarget(name: "FuzzSeedCorpus", dependencies: [.product(name: "CofferFuzzBodies", package: "Coffer")])
    ]
)
