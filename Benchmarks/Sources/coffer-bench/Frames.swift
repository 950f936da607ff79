import BenchSupport
import Foundation

/// The frames of a vault file, read from their 32-byte headers (FORMAT.md §5.1: magic,
/// body length `B = 24 + P + 16`, …), without the key, to the first that has no magic.
struct Frames {
    /// Body length of every frame, in file order.
    let bodyBytes: [Int]

    init(path: String) {
        guard let data = FileManager.default.contents(atPath: path) else {
            bodyBytes = []
            return
        }
        var lengths: [Int] = []
        data.withUnsafeBytes { file in
            var offset = 8192
            // Up to the free space after the last frame (FORMAT.md F-FREE): zeros, no magic.
            while offset + 32 <= file.count, Array(file[offset..<offset + 4]) == Array("CFR1".utf8) {
                let length = Int(file.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self).littleEndian)
                lengths.append(length)
                offset += 32 + length
            }
        }
        bodyBytes = lengths
    }

    /// Padded plaintext sizes (the buckets).
    var paddedBytes: [Int] { bodyBytes.map { $0 - Sealer.overheadBytes } }

    /// The padded size of the median frame: the record size the machine limits are measured at.
    var medianPaddedBytes: Int {
        let sorted = paddedBytes.sorted()
        return sorted.isEmpty ? 512 : sorted[sorted.count / 2]
    }

    var summary: String {
        let frames = bodyBytes.map { $0 + 32 }.sorted()
        guard !frames.isEmpty else { return "no frames" }
        var buckets: [Int: Int] = [:]
        for padded in paddedBytes { buckets[padded, default: 0] += 1 }
        let histogram = buckets.keys.sorted().map { bucket in
            "\(bucket) B: \(String(format: "%.1f", 100 * Double(buckets[bucket]!) / Double(frames.count))) %"
        }.joined(separator: ", ")
        let mean = Double(frames.reduce(0, +)) / Double(frames.count)
        return
            "\(frames.count) frames; frame size (header + sealed body) median \(frames[frames.count / 2]) B, mean \(Int(mean)) B; padded plaintext buckets: \(histogram)"
    }

    /// The machine's limit for an open: XChaCha20-Poly1305 open of every record's sealed body
    /// once (libsodium, straight), with each bucket's body size and count. One sealed sample
    /// per bucket is opened as many times as the vault has records of that bucket.
    func decryptOnce(repetitions: Int, size: Int, workload: String = "decrypt_once") -> Figure {
        decryptOnceFigure(times: decryptTimes(repetitions: repetitions), size: size, workload: workload)
    }

    /// ``decryptOnce(repetitions:size:workload:)``, and from the same times the raw open rate
    /// of this vault's records in their own mix of sizes: what a reveal of a credential picked
    /// at random opens. A reveal opens the record that holds its credential, and the records
    /// of the larger buckets (2 and 4 KiB: private keys, OAuth clients) take most of the
    /// decrypting, so the open of a median-sized record alone is not its cipher's cost.
    func decryptOnceAndOpenRate(repetitions: Int, size: Int) -> [Figure] {
        let times = decryptTimes(repetitions: repetitions)
        let records = Double(bodyBytes.count)
        let meanPadded = paddedBytes.isEmpty ? 0 : paddedBytes.reduce(0, +) / paddedBytes.count
        return [
            decryptOnceFigure(times: times, size: size, workload: "decrypt_once"),
            Figure(
                workload: "aead_open_records", engine: "machine",
                variant:
                    "libsodium XChaCha20-Poly1305 open of one record in the vault's mix of record sizes (mean padded plaintext \(meanPadded) B): decrypt_once's records over its time",
                size: size, unit: "records/s", higherIsBetter: true, operations: bodyBytes.count,
                values: times.map { records / $0 }),
        ]
    }

    private func decryptOnceFigure(times: [Double], size: Int, workload: String) -> Figure {
        Figure(
            workload: workload, engine: "machine",
            variant:
                "libsodium XChaCha20-Poly1305 open of every record of the vault once (\(bodyBytes.count) records, \(bodyBytes.reduce(0, +) >> 20) MiB of sealed bodies)",
            size: size, unit: "s", higherIsBetter: false, operations: bodyBytes.count, values: times)
    }

    /// Seconds to open every record once, each repetition.
    private func decryptTimes(repetitions: Int) -> [Double] {
        var buckets: [Int: Int] = [:]
        for padded in paddedBytes { buckets[padded, default: 0] += 1 }
        let key = Sealer.randomKey()
        let associatedData = [UInt8](repeating: 0xAD, count: MachineLimits.associatedDataBytes)
        let samples = buckets.keys.sorted().map { padded in
            (
                padded, buckets[padded]!,
                Sealer.seal([UInt8](repeating: 0, count: padded), key: key, associatedData: associatedData)
            )
        }
        var output = [UInt8](repeating: 0, count: (buckets.keys.max() ?? 0) + 1)
        let values = repeatRuns(repetitions: repetitions) { _ in
            Clock.seconds {
                key.withUnsafeBytes { keyBytes in
                    associatedData.withUnsafeBytes { aad in
                        output.withUnsafeMutableBytes { target in
                            for (_, count, sealed) in samples {
                                sealed.withUnsafeBytes { body in
                                    for _ in 0..<count {
                                        precondition(
                                            Sealer.open(body, key: keyBytes, associatedData: aad, into: target))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return values
    }
}
