import BenchSodium
import BenchSupport
import CofferCrypto
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The limits of this machine, measured in the same run: AEAD seal and open of one record,
/// fdatasync of a small append, sequential write bandwidth, Argon2id.
struct MachineLimits {
    let directory: String
    let repetitions: Int

    /// Associated data of the size Coffer binds into every record (F-AAD: 79 bytes).
    static let associatedDataBytes = 79

    /// XChaCha20-Poly1305 seal (with a fresh random nonce) and open of a `paddedBytes`
    /// plaintext, straight from libsodium, and through CofferCrypto's wrappers.
    func aead(paddedBytes: Int) -> [Figure] {
        let operations = 100_000
        let key = Sealer.randomKey()
        let associatedData = [UInt8](repeating: 0xAD, count: Self.associatedDataBytes)
        let plaintext = [UInt8](repeating: 0x5A, count: paddedBytes)
        var output = [UInt8](repeating: 0, count: paddedBytes + Sealer.overheadBytes)
        var opened = [UInt8](repeating: 0, count: paddedBytes)
        var figures: [Figure] = []
        let variant = "\(paddedBytes) B padded plaintext, \(Self.associatedDataBytes) B associated data"

        let seal = repeatRuns(repetitions: repetitions) { _ in
            let seconds = Clock.seconds {
                key.withUnsafeBytes { keyBytes in
                    associatedData.withUnsafeBytes { aad in
                        plaintext.withUnsafeBytes { message in
                            output.withUnsafeMutableBytes { target in
                                for _ in 0..<operations {
                                    Sealer.seal(message, key: keyBytes, associatedData: aad, into: target)
                                }
                            }
                        }
                    }
                }
            }
            return Double(operations) / seconds
        }
        figures.append(
            Figure(
                workload: "aead_seal", engine: "machine",
                variant: "libsodium XChaCha20-Poly1305 seal + 24 B random nonce, " + variant,
                size: nil, unit: "records/s", higherIsBetter: true, operations: operations, values: seal))

        let open = repeatRuns(repetitions: repetitions) { _ in
            let seconds = Clock.seconds {
                key.withUnsafeBytes { keyBytes in
                    associatedData.withUnsafeBytes { aad in
                        output.withUnsafeBytes { sealed in
                            opened.withUnsafeMutableBytes { target in
                                for _ in 0..<operations {
                                    precondition(Sealer.open(sealed, key: keyBytes, associatedData: aad, into: target))
                                }
                            }
                        }
                    }
                }
            }
            return Double(operations) / seconds
        }
        figures.append(
            Figure(
                workload: "aead_open", engine: "machine", variant: "libsodium XChaCha20-Poly1305 open, " + variant,
                size: nil, unit: "records/s", higherIsBetter: true, operations: operations, values: open))

        // The same through CofferCrypto: a [UInt8] output per seal, a SecureBytes (malloc,
        // mlock, zeroing) per open. Not the machine's limit: Coffer's own cost of the primitive.
        let secureKey = SecureBytes(copying: key)
        let nonce = [UInt8](repeating: 7, count: XChaCha20Poly1305.nonceBytes)
        let wrappedSeal = repeatRuns(repetitions: repetitions) { _ in
            var sink = 0
            let seconds = Clock.seconds {
                plaintext.withUnsafeBytes { message in
                    for _ in 0..<operations {
                        var sealed: [UInt8] = []
                        XChaCha20Poly1305.seal(
                            message, key: secureKey, nonce: RandomBytes.make(XChaCha20Poly1305.nonceBytes),
                            associatedData: associatedData, appendingTo: &sealed)
                        sink &+= sealed.count
                    }
                }
            }
            precondition(sink > 0)
            return Double(operations) / seconds
        }
        figures.append(
            Figure(
                workload: "cofferCrypto_seal", engine: "machine",
                variant: "CofferCrypto XChaCha20Poly1305.seal (+ RandomBytes nonce, [UInt8] output), " + variant,
                size: nil, unit: "records/s", higherIsBetter: true, operations: operations, values: wrappedSeal))
        var wrapped: [UInt8] = []
        plaintext.withUnsafeBytes {
            XChaCha20Poly1305.seal(
                $0, key: secureKey, nonce: nonce, associatedData: associatedData, appendingTo: &wrapped)
        }
        let wrappedOpen = repeatRuns(repetitions: repetitions) { _ in
            let seconds = Clock.seconds {
                wrapped.withUnsafeBytes { sealed in
                    nonce.withUnsafeBytes { nonceBytes in
                        for _ in 0..<operations {
                            precondition(
                                XChaCha20Poly1305.open(
                                    sealed, key: secureKey, nonce: nonceBytes, associatedData: associatedData)
                                    != nil)
                        }
                    }
                }
            }
            return Double(operations) / seconds
        }
        figures.append(
            Figure(
                workload: "cofferCrypto_open", engine: "machine",
                variant: "CofferCrypto XChaCha20Poly1305.open (result in SecureBytes: malloc, mlock, zero on free), "
                    + variant,
                size: nil, unit: "records/s", higherIsBetter: true, operations: operations, values: wrappedOpen))
        return figures
    }

    /// Appends of `recordBytes` at the end of a file, each followed by fdatasync; with
    /// `overZeros`, the same writes over zeros written and synced before (``SyncProbe``).
    func fdatasyncRate(recordBytes: Int, overZeros: Bool = false) -> Figure {
        let probe = SyncProbe(
            directory: directory, recordBytes: recordBytes, overZeros: overZeros, rounds: repetitions + 1)
        _ = probe.round(keepsLatencies: false)
        let values = (0..<repetitions).map { _ in probe.round() }
        return probe.figure(values: values)
    }

    /// The machine's limit for an open from the index checkpoint: reading a file of the
    /// checkpoint's size (`bytes`) into a new buffer, page cache warm, and opening it in place
    /// with one XChaCha20-Poly1305 call, as such an open must at least.
    func readAndOpen(bytes: Int, size: Int) -> Figure {
        let path = "\(directory)/sealed-sample.bin"
        let key = Sealer.randomKey()
        let associatedData = [UInt8](repeating: 0xAD, count: Self.associatedDataBytes)
        let sealed = Sealer.seal(
            [UInt8](repeating: 0x5A, count: max(bytes - Sealer.overheadBytes, 0)), key: key,
            associatedData: associatedData)
        precondition(FileManager.default.createFile(atPath: path, contents: Data(sealed)), "cannot write \(path)")
        defer { ProcessFacts.remove(path) }
        let values = repeatRuns(repetitions: repetitions) { _ in
            Clock.seconds {
                let descriptor = open(path, O_RDONLY)
                precondition(descriptor >= 0, "cannot open \(path)")
                defer { close(descriptor) }
                var buffer = [UInt8](unsafeUninitializedCapacity: sealed.count) { raw, count in
                    while count < sealed.count {
                        let read = Glibc.read(descriptor, raw.baseAddress! + count, sealed.count - count)
                        precondition(read > 0, "cannot read \(path)")
                        count += read
                    }
                }
                key.withUnsafeBytes { keyBytes in
                    associatedData.withUnsafeBytes { aad in
                        buffer.withUnsafeMutableBytes { raw in
                            let body = UnsafeRawBufferPointer(raw)
                            let plaintext = UnsafeMutableRawBufferPointer(
                                rebasing: raw[Sealer.nonceBytes..<raw.count - Sealer.tagBytes])
                            precondition(Sealer.open(body, key: keyBytes, associatedData: aad, into: plaintext))
                        }
                    }
                }
            }
        }
        return Figure(
            workload: "read_and_open_checkpoint", engine: "machine",
            variant:
                "read() of a \(bytes >> 10) KiB file into a new buffer (page cache warm) and one libsodium XChaCha20-Poly1305 open of it in place: the least an open from the checkpoint does",
            size: size, unit: "s", higherIsBetter: false, operations: 1, values: values)
    }

    /// 256 MiB written in 1 MiB writes to a new file, then one fdatasync.
    func sequentialWrite() -> Figure {
        let chunk = [UInt8](repeating: 0x3C, count: 1 << 20)
        let chunks = 256
        let path = "\(directory)/sequential.bin"
        let values = repeatRuns(repetitions: repetitions) { _ in
            ProcessFacts.remove(path)
            let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            precondition(descriptor >= 0, "cannot create \(path)")
            let seconds = Clock.seconds {
                for _ in 0..<chunks {
                    let written = chunk.withUnsafeBytes { write(descriptor, $0.baseAddress, chunk.count) }
                    precondition(written == chunk.count, "short write")
                }
                precondition(fdatasync(descriptor) == 0, "fdatasync failed")
            }
            close(descriptor)
            ProcessFacts.remove(path)
            return Double(chunks * chunk.count) / 1e6 / seconds
        }
        return Figure(
            workload: "sequential_write", engine: "machine",
            variant: "256 MiB in 1 MiB write()s to a new file, then fdatasync",
            size: nil, unit: "MB/s", higherIsBetter: true, operations: chunks, values: values)
    }

    /// Argon2id at libsodium's INTERACTIVE and MODERATE costs: what a passphrase unlock adds.
    func argon2id() -> [Figure] {
        let passphrase = SecureBytes(copying: Array("correct horse battery staple".utf8))
        let salt = [UInt8](repeating: 0x11, count: Argon2id.saltBytes)
        return [("interactive", Argon2id.Cost.interactive), ("moderate", Argon2id.Cost.moderate)].map { name, cost in
            let values = repeatRuns(repetitions: repetitions) { _ in
                Clock.seconds {
                    precondition(Argon2id.deriveKey(passphrase: passphrase, salt: salt, cost: cost) != nil)
                }
            }
            return Figure(
                workload: "kdf_\(name)", engine: "coffer",
                variant:
                    "Argon2id \(name.uppercased()) (\(cost.operations) passes, \(cost.memoryBytes >> 20) MiB), the passphrase slot's KDF",
                size: nil, unit: "s", higherIsBetter: false, operations: 1, values: values)
        }
    }
}

/// A file that measures the machine's sync rate in rounds: appends of `recordBytes` at the
/// end of the file, each followed by fdatasync; with `overZeros`, the same writes over zeros
/// written and synced before (what Coffer's preallocated free space gives its appends,
/// FORMAT.md F-PREALLOCATE): a sync that need not also record a new file size. Rounds can be
/// taken between the rounds of what is compared with them, so that both see the disk alike.
final class SyncProbe {
    static let operations = 500

    let recordBytes: Int
    let overZeros: Bool
    private let path: String
    private let descriptor: Int32
    private let record: [UInt8]
    /// The zeros written and synced before the first round, over zeros: enough for `rounds`.
    private let zeroBytes: Int
    private var end: off_t = 0
    private var samples: [UInt64] = []

    /// A new file in `directory` for at most `rounds` rounds.
    init(directory: String, recordBytes: Int, overZeros: Bool, rounds: Int) {
        self.recordBytes = recordBytes
        self.overZeros = overZeros
        path = "\(directory)/fdatasync-\(overZeros ? "zeros" : "end").bin"
        ProcessFacts.remove(path)
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        precondition(descriptor >= 0, "cannot create \(path)")
        record = [UInt8](repeating: 0xC5, count: recordBytes)
        zeroBytes = overZeros ? recordBytes * Self.operations * rounds : 0
        if overZeros {
            let zeros = [UInt8](repeating: 0, count: zeroBytes)
            let written = zeros.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, zeros.count, 0) }
            precondition(written == zeros.count && fdatasync(descriptor) == 0, "cannot preallocate \(path)")
        }
    }

    deinit {
        close(descriptor)
        ProcessFacts.remove(path)
    }

    /// One round of ``operations`` appends and syncs; its rate, syncs a second. The latency
    /// of each sync is kept for ``figure(values:)`` when `keepsLatencies` (not in a warm-up
    /// round).
    func round(keepsLatencies: Bool = true) -> Double {
        precondition(
            !overZeros || Int(end) + Self.operations * recordBytes <= zeroBytes,
            "more rounds over zeros than the zeros written for")
        let seconds = Clock.seconds {
            for _ in 0..<Self.operations {
                let start = Clock.nanoseconds()
                let written = record.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, recordBytes, end) }
                precondition(written == recordBytes, "short write")
                end += off_t(recordBytes)
                precondition(fdatasync(descriptor) == 0, "fdatasync failed")
                if keepsLatencies { samples.append(Clock.nanoseconds() - start) }
            }
        }
        return Double(Self.operations) / seconds
    }

    /// The figure of the rounds whose rates are `values`, with the latencies kept.
    func figure(values: [Double]) -> Figure {
        Figure(
            workload: overZeros ? "fdatasync_over_zeros" : "fdatasync", engine: "machine",
            variant: overZeros
                ? "pwrite of \(recordBytes) B over zeros written and synced before + fdatasync"
                : "pwrite of \(recordBytes) B at the end of a file + fdatasync",
            size: nil, unit: "syncs/s", higherIsBetter: true, operations: Self.operations, values: values,
            latency: Latency(nanoseconds: samples))
    }
}
