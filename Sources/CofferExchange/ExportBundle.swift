import Coffer
import CofferFormat

/// The encrypted export bundle (FORMAT.md §12.2): a revealed export, compressed with
/// zlib and sealed with XChaCha20-Poly1305 in 64 KiB chunks under a key derived from a
/// passphrase (Argon2id) or a key file, authenticated as a whole.
///
/// ```swift
/// let json = SecretBuffer()
/// try ExportDocument.make(from: vault, revealing: true).write(to: json)
/// let sealed = try json.withUnsafeBytes { try ExportBundle.seal($0, secret: .keyFile(key)) }
/// let opened = try sealed.withUnsafeBytes { try ExportBundle.open($0, secret: .keyFile(key)) }
/// ```
///
/// The chunks form a STREAM (Hoang, Reyhanitabar, Rogaway and Vizár, as age uses it): each
/// chunk's nonce holds its index and, on the last chunk only, a final flag, and every chunk
/// authenticates the whole header. So a chunk moved, repeated, dropped or taken from another
/// bundle fails to open, and so does a bundle cut at a chunk boundary, whose new last chunk
/// was not sealed as the last.
public enum ExportBundle {
    /// Whether `bytes` start with the bundle magic.
    public static func isBundle(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= BundleFormat.magic.count
            && bytes.prefix(BundleFormat.magic.count).elementsEqual(BundleFormat.magic)
    }

    /// Seals `content` (the canonical JSON of a revealed export) into a bundle.
    ///
    /// - Parameters:
    ///   - secret: a passphrase (stretched with Argon2id at `cost`) or a 32-byte key file.
    ///   - cost: the Argon2id cost for a passphrase; MODERATE by default, as for keyslots.
    /// - Returns: the bundle's bytes; they hold nothing in the clear but the header.
    /// - Throws: `.invalidInput` for empty or oversized content or a bad key file.
    public static func seal(
        _ content: UnsafeRawBufferPointer, secret: Vault.Unlock, cost: Argon2id.Cost = .moderate
    ) throws(CofferError) -> [UInt8] {
        try seal(
            content, secret: secret, cost: cost, salt: RandomBytes.make(BundleFormat.saltBytes),
            noncePrefix: RandomBytes.make(BundleFormat.noncePrefixBytes))
    }

    /// ``seal(_:secret:cost:)`` with a given salt and nonce prefix: for test vectors only.
    /// Reusing them with the same secret would reuse nonces under one key.
    static func seal(
        _ content: UnsafeRawBufferPointer, secret: Vault.Unlock, cost: Argon2id.Cost, salt: [UInt8],
        noncePrefix: [UInt8]
    ) throws(CofferError) -> [UInt8] {
        precondition(salt.count == BundleFormat.saltBytes && noncePrefix.count == BundleFormat.noncePrefixBytes)
        guard content.count > 0, UInt64(content.count) <= BundleFormat.contentBytesMax else {
            throw CofferError(.invalidInput, "A bundle holds 1 to \(BundleFormat.contentBytesMax) bytes of content.")
        }
        let kind: BundleFormat.KeyKind
        let headerCost: Argon2id.Cost
        switch secret {
        case .passphrase:
            try cost.checkWithinFormatLimits()
            kind = .passphrase
            headerCost = cost
        case .keyFile:
            kind = .keyFile
            headerCost = Argon2id.Cost(operations: 0, memoryBytes: 0)
        }
        let header = BundleHeader(
            keyKind: kind, cost: headerCost, salt: salt, noncePrefix: noncePrefix, contentLength: UInt64(content.count))
        let keys = try BundleKeys(secret: secret, header: header)
        let headerBytes = header.encoded(mac: keys.mac(header.encoded(mac: [UInt8](repeating: 0, count: 32))))

        // F-COMPRESS allows compression here: an offline bundle has no attacker who chooses
        // part of its content and watches its size (FORMAT.md §12, B-COMPRESS).
        let compressed = Zlib.compress(content)
        var output = headerBytes
        compressed.withUnsafeBytes { stream in
            let count = (stream.count + BundleFormat.chunkBytes - 1) / BundleFormat.chunkBytes
            output.reserveCapacity(headerBytes.count + stream.count + count * XChaCha20Poly1305.tagBytes)
            for index in 0..<count {
                let start = index * BundleFormat.chunkBytes
                let end = min(start + BundleFormat.chunkBytes, stream.count)
                XChaCha20Poly1305.seal(
                    UnsafeRawBufferPointer(rebasing: stream[start..<end]), key: keys.payload,
                    nonce: BundleKeys.nonce(prefix: noncePrefix, index: UInt64(index), isFinal: index == count - 1),
                    associatedData: headerBytes, appendingTo: &output)
            }
        }
        return output
    }

    /// Opens a bundle and returns its content (the export JSON), checking every rule of
    /// FORMAT.md §12.2.4 before any of it is used.
    ///
    /// - Throws: `.invalidInput` when the bytes are not a bundle; `.unsupportedVersion`;
    ///   `.wrongKey` when the secret does not open it (or the header was altered, which
    ///   cannot be told apart); `.corrupted` naming the chunk and offset at fault for a
    ///   truncated, reordered or altered bundle; `.invalidInput` when the content it declares
    ///   is larger than `contentBytesMax` (by default what an import reads, I-LIMITS), before
    ///   any key is derived or anything inflated.
    public static func open(
        _ bundle: UnsafeRawBufferPointer, secret: Vault.Unlock, contentBytesMax: Int = ExchangeLimits.importBytesMax
    ) throws(CofferError) -> SecretBuffer {
        let header = try BundleHeader.decode(bundle)
        guard header.contentLength <= UInt64(contentBytesMax) else {
            throw CofferError(
                .invalidInput,
                "The bundle holds \(header.contentLength) bytes of content, more than the \(contentBytesMax) one import "
                    + "can hold (I-LIMITS); export one organization at a time.")
        }
        let headerBytes = Array(bundle[0..<BundleFormat.headerBytes])
        let keys = try BundleKeys(secret: secret, header: header)
        // B-MAC, in constant time.
        guard constantTimeEquals(keys.mac(headerBytes), Array(headerBytes[BundleFormat.macOffset...])) else {
            throw CofferError(
                .wrongKey,
                "The key does not open this bundle: check the passphrase or key file. (An altered bundle header looks the same.)"
            )
        }
        let body = UnsafeRawBufferPointer(rebasing: bundle[BundleFormat.headerBytes...])
        guard !body.isEmpty else {
            throw CofferError(
                .corrupted, "The bundle has no chunks: it is truncated after its header.", offset: UInt64(bundle.count))
        }
        // B-CHUNK: every chunk but the last is full, so the sizes follow from the length.
        let count = (body.count + BundleFormat.sealedChunkBytesMax - 1) / BundleFormat.sealedChunkBytesMax
        let lastBytes = body.count - (count - 1) * BundleFormat.sealedChunkBytesMax
        guard lastBytes > XChaCha20Poly1305.tagBytes else {
            throw CofferError(
                .corrupted, "The bundle's last chunk is too short to hold anything: it is truncated.",
                offset: UInt64(bundle.count - lastBytes))
        }
        let stream = SecretBuffer(capacity: body.count)
        for index in 0..<count {
            let start = index * BundleFormat.sealedChunkBytesMax
            let end = min(start + BundleFormat.sealedChunkBytesMax, body.count)
            let nonce = BundleKeys.nonce(prefix: header.noncePrefix, index: UInt64(index), isFinal: index == count - 1)
            let opened = nonce.withUnsafeBytes { nonceBytes in
                XChaCha20Poly1305.open(
                    UnsafeRawBufferPointer(rebasing: body[start..<end]), key: keys.payload, nonce: nonceBytes,
                    associatedData: headerBytes)
            }
            guard let opened else {
                let why =
                    index == count - 1
                    ? "the bundle is truncated or has bytes appended, or its chunks were reordered or altered"
                    : "the bundle was altered or its chunks reordered"
                throw CofferError(
                    .corrupted, "Chunk \(index) of \(count) of the bundle does not authenticate: \(why).",
                    offset: UInt64(BundleFormat.headerBytes + start))
            }
            stream.append(opened)
        }
        guard let content = stream.withUnsafeBytes({ Zlib.decompress($0, expectedCount: Int(header.contentLength)) })
        else {
            throw CofferError(
                .corrupted,
                "The bundle's content does not inflate to the \(header.contentLength) bytes its header declares.")
        }
        return content
    }
}
