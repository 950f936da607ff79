#if canImport(Glibc)
    import Glibc
#endif

/// The fuzz targets: one body per target, each a plain function of the input bytes, so that
/// libFuzzer (the `Fuzz` package) and `swift test` (`CofferFuzzReplayTests`) run the same code.
///
/// A body must never crash on any input: every error the library reports is an expected
/// outcome. A trap inside the library is a bug; so is a broken oracle, a property the body
/// checks on what the library returned (``FuzzFindings``).
///
/// ```swift
/// let findings = bytes.withUnsafeBytes { FuzzTarget.openVault.run($0) }
/// XCTAssertEqual(findings, [])
/// ```
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// `FrameHeader.decode` on the input, then `SealedRecord.open` of the rest as the body under
    /// a fixed key and position. An input without the frame magic is instead sealed as a
    /// plaintext and opened, which reaches the parsing behind the authentication tag.
    case frameHeader = "FuzzFrameHeader"
    /// `FileHeader.decode` on a 4096-byte copy made from the input, then `unlock` with the
    /// fixed key file; again with the checksum repaired.
    case fileHeader = "FuzzFileHeader"
    /// `TransactionPayload.decode` and `KeyEpochPayload.decode` on the input.
    case transactionPayload = "FuzzTransactionPayload"
    /// The input as a vault file on a `SimulatedDisk`: `VaultFileInfo.read`, read-only opens,
    /// a writer open, appends, a rotation and a reopen; again with checksums and MAC repaired.
    case openVault = "FuzzOpenVault"
    /// The credential model's operations: a transaction payload (or one raw operation, a
    /// `u16` code and its body) through `ModelOperation.decode`, `decodeCredentialFields` and
    /// re-encoding; the decoded list validated and applied to an empty and a populated index,
    /// then compacted and replayed.
    case modelOperation = "FuzzModelOperation"
    /// A little program of vault operations run on a `Vault` on a `SimulatedDisk` and on a
    /// reference model side by side; any disagreement is a broken oracle.
    case operationSequence = "FuzzOperationSequence"
    /// An index checkpoint file (`CCK1`) read and opened under a fixed key; any other input
    /// is the index encoding a checkpoint carries, decoded, re-encoded and queried.
    case checkpoint = "FuzzCheckpoint"

    /// Runs the body on `input` and returns the oracles it broke (empty when all held).
    public func run(_ input: UnsafeRawBufferPointer) -> [String] {
        var findings = FuzzFindings()
        switch self {
        case .frameHeader: FrameHeaderBody.run(input, &findings)
        case .fileHeader: FileHeaderBody.run(input, &findings)
        case .transactionPayload: PayloadBody.run(input, &findings)
        case .openVault: OpenVaultBody.run(input, &findings)
        case .modelOperation: ModelOperationBody.run(input, &findings)
        case .operationSequence: OperationSequenceBody.run(input, &findings)
        case .checkpoint: CheckpointBody.run(input, &findings)
        }
        return findings.violations
    }

    /// Runs the body on `input`; see ``run(_:)-(UnsafeRawBufferPointer)``.
    public func run(_ input: [UInt8]) -> [String] {
        input.withUnsafeBytes { run($0) }
    }
}

/// The oracles a body found broken while running one input.
///
/// An oracle is only ever a real property of the library (for example: a frame header that
/// decodes re-encodes to the same bytes), never a guess, so that every violation is a bug.
public struct FuzzFindings: Sendable {
    public private(set) var violations: [String] = []

    public init() {}

    /// Records `message` when `condition` is false.
    public mutating func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { violations.append(message()) }
    }

    /// Records `message` unconditionally.
    public mutating func fail(_ message: String) {
        violations.append(message)
    }
}

/// The libFuzzer entry points call this from `LLVMFuzzerTestOneInput`.
public enum FuzzEntry {
    /// Runs `target` on libFuzzer's input. A broken oracle traps, so that libFuzzer saves the
    /// input as a crash artifact exactly as it does for a trap inside the library.
    public static func run(_ target: FuzzTarget, _ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
        let violations = target.run(UnsafeRawBufferPointer(start: data, count: size))
        if !violations.isEmpty {
            fatalError("\(target.rawValue): broken oracle:\n" + violations.map { "  - \($0)\n" }.joined())
        }
        return 0
    }
}

/// Byte equality through `memcmp`: in a debug build `Array.==` compares element by element
/// through generic witnesses, which made whole-file comparisons a tenth of a fuzzer's time.
func sameBytes(_ lhs: [UInt8]?, _ rhs: [UInt8]?) -> Bool {
    guard let lhs, let rhs else { return lhs == nil && rhs == nil }
    guard lhs.count == rhs.count else { return false }
    return lhs.withUnsafeBytes { left in
        rhs.withUnsafeBytes { right in left.count == 0 || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0
        }
    }
}
