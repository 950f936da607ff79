import CofferCrypto

/// The hash chain over the log (F-CHAIN).
///
/// `chain_0 = BLAKE2b-256("coffer chain v1" || vault id)` for the log a vault was created
/// with, `BLAKE2b-256("coffer chain v1" || vault id || generation)` for the log of its
/// `generation`-th compaction (F-LINEAGE), and
/// `chain_n = BLAKE2b-256(chain_{n-1} || frame_n)`, where `frame_n` is the whole frame as
/// stored. The head `(sequence, chain)` names the log's exact content: a caller that keeps it
/// can detect truncation at a record boundary and rollback of the whole file.
public enum ChainHash {
    public static let genesisLabel = Array("coffer chain v1".utf8)

    public static func genesis(vaultID: [UInt8], generation: UInt32 = 0) -> [UInt8] {
        guard generation > 0 else { return Blake2b.hash(genesisLabel, vaultID) }
        return Blake2b.hash(genesisLabel, vaultID, withUnsafeBytes(of: generation.littleEndian) { Array($0) })
    }

    public static func next(previous: [UInt8], frame: UnsafeRawBufferPointer) -> [UInt8] {
        var hasher = Blake2b()
        hasher.update(previous)
        hasher.update(frame)
        return hasher.finalize()
    }
}

/// The head of a vault's chain: the log's generation (how many compactions made it,
/// F-LINEAGE), the last record's sequence number and the chain hash after it.
public struct ChainHead: Sendable, Hashable, CustomStringConvertible {
    /// The log's generation: 0 for the log the vault was created with, one more for each
    /// compaction since (F-LINEAGE).
    public let generation: UInt32
    /// Sequence number of the last record, 0 for an empty log.
    public let sequence: UInt64
    /// The 32-byte chain hash after that record.
    public let digest: [UInt8]

    public init(sequence: UInt64, digest: [UInt8], generation: UInt32 = 0) {
        self.generation = generation
        self.sequence = sequence
        self.digest = digest
    }

    /// Lower-case hex of the digest.
    public var digestHex: String { Hex.encode(digest) }

    /// `SEQUENCE:HEX` for generation 0, `GENERATION:SEQUENCE:HEX` after a compaction: the
    /// form `verify --expect-head` takes.
    public var description: String {
        generation == 0 ? "\(sequence):\(digestHex)" : "\(generation):\(sequence):\(digestHex)"
    }

    /// Parses `SEQUENCE:HEX` or `GENERATION:SEQUENCE:HEX`. The sequence is required, so that a
    /// rollback to an equal digest is impossible.
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3 else { return nil }
        let generation = parts.count == 3 ? UInt32(parts[0]) : 0
        guard let generation, let sequence = UInt64(parts[parts.count - 2]),
            let digest = Hex.decode(String(parts[parts.count - 1])), digest.count == 32
        else { return nil }
        self.init(sequence: sequence, digest: digest, generation: generation)
    }
}

/// Lower-case hexadecimal, used for digests and test vectors.
public enum Hex {
    public static func encode(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes hex, ignoring ASCII whitespace; `nil` on an odd count or a non-hex character.
    public static func decode(_ text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        var high: UInt8?
        for character in text.utf8 {
            let nibble: UInt8
            switch character {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = character - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = character - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = character - UInt8(ascii: "A") + 10
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\t"), UInt8(ascii: "\r"): continue
            default: return nil
            }
            if let pending = high {
                bytes.append(pending << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return high == nil ? bytes : nil
    }
}
