import CSodium

extension XChaCha20Poly1305 {
    /// Opens one sealed message in place a piece at a time, front to back, with the very
    /// construction libsodium's `crypto_aead_xchacha20poly1305_ietf_decrypt` runs (the subkey
    /// from HChaCha20, Poly1305 keyed by the first block of the stream, the stream from block 1
    /// on): each piece is added to the tag's computation and then decrypted where it lies.
    ///
    /// For a reader that can start on the front of a large message (an index checkpoint)
    /// while a second thread opens the rest. **Nothing opened is authentic until
    /// ``verify(tag:)`` answers true**: a reader of opened pieces must treat them as hostile
    /// (its decoder holds to any bytes) and discard what it made of them when the tag fails.
    ///
    /// ```swift
    /// var opening = XChaCha20Poly1305.PiecewiseOpen(
    ///     key: key, nonce: nonce, associatedData: aad, ciphertextCount: ciphertext.count)
    /// opening.open(ciphertext[0..<65_536])       // every piece but the last: whole blocks
    /// opening.open(ciphertext[65_536...])
    /// guard opening.verify(tag: tag) else { discard() }
    /// ```
    public struct PiecewiseOpen: ~Copyable {
        /// Bytes of the stream cipher's block: every piece but the last is whole blocks.
        public static let blockBytes = 64

        // One allocation, zeroed and freed by deinit: the subkey, the short nonce and the
        // Poly1305 state (which C declares 16-byte aligned).
        private let memory: UnsafeMutableRawPointer
        private let memoryBytes: Int
        private static let subkeyOffset = 0
        private static let nonceOffset = 32
        private static let stateOffset = 64
        private let ciphertextCount: Int
        private let associatedDataCount: Int
        /// Ciphertext bytes opened so far.
        public private(set) var openedCount = 0

        public init(key: SecureBytes, nonce: [UInt8], associatedData: [UInt8], ciphertextCount: Int) {
            precondition(key.count == keyBytes, "XChaCha20-Poly1305 key must be 32 bytes")
            precondition(nonce.count == nonceBytes, "XChaCha20-Poly1305 nonce must be 24 bytes")
            precondition(ciphertextCount >= 0)
            Sodium.ensureReady()
            self.ciphertextCount = ciphertextCount
            associatedDataCount = associatedData.count
            memoryBytes = Self.stateOffset + crypto_onetimeauth_poly1305_statebytes()
            memory = .allocate(byteCount: memoryBytes, alignment: 64)
            memory.initializeMemory(as: UInt8.self, repeating: 0, count: memoryBytes)
            let subkey = memory.advanced(by: Self.subkeyOffset).assumingMemoryBound(to: UInt8.self)
            let shortNonce = memory.advanced(by: Self.nonceOffset).assumingMemoryBound(to: UInt8.self)
            nonce.withUnsafeBufferPointer { nonce in
                key.withUnsafeBytes { key in
                    _ = crypto_core_hchacha20(
                        subkey, nonce.baseAddress!, key.baseAddress!.assumingMemoryBound(to: UInt8.self), nil)
                }
                // The IETF construction's 12-byte nonce: four zeros, then the last 8 of the 24.
                for index in 0..<8 { shortNonce[4 + index] = nonce[16 + index] }
            }
            // Poly1305's one-time key is the first 32 bytes of the stream's block 0.
            var block0 = [UInt8](repeating: 0, count: Self.blockBytes)
            block0.withUnsafeMutableBufferPointer { block0 in
                _ = crypto_stream_chacha20_ietf(block0.baseAddress!, UInt64(Self.blockBytes), shortNonce, subkey)
                _ = crypto_onetimeauth_poly1305_init(state, block0.baseAddress!)
                sodium_memzero(block0.baseAddress!, Self.blockBytes)
            }
            associatedData.withUnsafeBytes { associatedData in
                associatedData.withNonNullBase { base, count in
                    _ = crypto_onetimeauth_poly1305_update(state, base, UInt64(count))
                }
            }
            Self.pad(state, after: associatedData.count)
        }

        deinit {
            sodium_memzero(memory, memoryBytes)
            memory.deallocate()
        }

        private var state: UnsafeMutablePointer<crypto_onetimeauth_poly1305_state> {
            memory.advanced(by: Self.stateOffset).assumingMemoryBound(to: crypto_onetimeauth_poly1305_state.self)
        }

        /// Authenticates and then decrypts, in place, the next `piece.count` bytes of the
        /// ciphertext: whole blocks unless it is the last piece.
        public mutating func open(_ piece: UnsafeMutableRawBufferPointer) {
            precondition(openedCount % Self.blockBytes == 0, "only the last piece may end inside a block")
            precondition(openedCount + piece.count <= ciphertextCount, "more pieces than the ciphertext")
            guard let base = piece.baseAddress?.assumingMemoryBound(to: UInt8.self), piece.count > 0 else { return }
            _ = crypto_onetimeauth_poly1305_update(state, base, UInt64(piece.count))
            let block = UInt32(1 + openedCount / Self.blockBytes)
            _ = crypto_stream_chacha20_ietf_xor_ic(
                base, base, UInt64(piece.count),
                memory.advanced(by: Self.nonceOffset).assumingMemoryBound(to: UInt8.self),
                block, memory.advanced(by: Self.subkeyOffset).assumingMemoryBound(to: UInt8.self))
            openedCount += piece.count
        }

        /// Whether `tag` is the tag of the whole ciphertext, every piece of which has been
        /// opened: only then is the plaintext authentic.
        public consuming func verify(tag: UnsafeRawBufferPointer) -> Bool {
            precondition(openedCount == ciphertextCount, "the tag is of the whole ciphertext")
            guard tag.count == tagBytes else { return false }
            Self.pad(state, after: ciphertextCount)
            var lengths = (UInt64(0), UInt64(0))
            withUnsafeMutableBytes(of: &lengths) { lengths in
                lengths.storeBytes(of: UInt64(associatedDataCount).littleEndian, toByteOffset: 0, as: UInt64.self)
                lengths.storeBytes(of: UInt64(ciphertextCount).littleEndian, toByteOffset: 8, as: UInt64.self)
                _ = crypto_onetimeauth_poly1305_update(
                    state, lengths.baseAddress!.assumingMemoryBound(to: UInt8.self), 16)
            }
            var computed = [UInt8](repeating: 0, count: tagBytes)
            return computed.withUnsafeMutableBufferPointer { computed in
                _ = crypto_onetimeauth_poly1305_final(state, computed.baseAddress!)
                defer { sodium_memzero(computed.baseAddress!, tagBytes) }
                return crypto_verify_16(computed.baseAddress!, tag.baseAddress!.assumingMemoryBound(to: UInt8.self))
                    == 0
            }
        }

        /// Zeros up to the next multiple of 16 after `count` bytes, as the construction pads.
        private static func pad(_ state: UnsafeMutablePointer<crypto_onetimeauth_poly1305_state>, after count: Int) {
            let zeros = [UInt8](repeating: 0, count: 16)
            let padding = (16 - count % 16) % 16
            if padding > 0 { _ = crypto_onetimeauth_poly1305_update(state, zeros, UInt64(padding)) }
        }
    }
}
