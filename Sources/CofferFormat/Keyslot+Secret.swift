import CofferCrypto
import CofferErrors

extension Keyslot.Secret {
    /// Checks a secret that comes from a caller, before anything is created or derived from
    /// it: a key file's key is exactly ``Keyslot/keyFileBytes`` bytes, a passphrase is not
    /// empty.
    ///
    /// - Throws: `CofferError(.invalidInput)` saying which rule the secret breaks (never its
    ///   bytes).
    public func check() throws(CofferError) {
        switch self {
        case .keyFile(let key):
            guard key.count == Keyslot.keyFileBytes else {
                throw CofferError(
                    .invalidInput,
                    "A key file's key must be exactly \(Keyslot.keyFileBytes) bytes, not \(key.count). "
                        + "Read a key file with Keyslot.Secret.keyFile(contents:), which also accepts 64 hexadecimal characters."
                )
            }
        case .passphrase(let passphrase):
            guard passphrase.count > 0 else { throw CofferError(.invalidInput, "The passphrase is empty.") }
        }
    }

    /// The secret a key file holds, from the file's contents: exactly 32 bytes, or 64
    /// hexadecimal characters followed by at most one line break (`\n` or `\r\n`) — what
    /// `coffer init --generate-key-file` writes and what the CLI reads.
    ///
    /// - Throws: `CofferError(.invalidInput)` for anything else.
    public static func keyFile(contents: SecureBytes) throws(CofferError) -> Keyslot.Secret {
        if contents.count == Keyslot.keyFileBytes { return .keyFile(contents) }
        let key: SecureBytes? = contents.withUnsafeBytes { bytes in
            var end = bytes.count
            if end > 0 && bytes[end - 1] == 0x0A {
                end -= 1
                if end > 0 && bytes[end - 1] == 0x0D { end -= 1 }
            }
            guard end == Keyslot.keyFileBytes * 2 else { return nil }
            var valid = true
            let key = SecureBytes(count: Keyslot.keyFileBytes) { target in
                for index in 0..<Keyslot.keyFileBytes {
                    guard let high = hexValue(bytes[2 * index]), let low = hexValue(bytes[2 * index + 1]) else {
                        valid = false
                        return
                    }
                    target[index] = high << 4 | low
                }
            }
            return valid ? key : nil
        }
        guard let key else {
            throw CofferError(
                .invalidInput,
                "A key file must hold exactly \(Keyslot.keyFileBytes) bytes, or \(Keyslot.keyFileBytes * 2) "
                    + "hexadecimal characters and an optional line break.")
        }
        return .keyFile(key)
    }

    /// The secret a passphrase file holds: its contents without one final line break (`\n`
    /// or `\r\n`), as `coffer --passphrase-file` reads it.
    ///
    /// - Throws: `CofferError(.invalidInput)` when nothing is left.
    public static func passphrase(contents: SecureBytes) throws(CofferError) -> Keyslot.Secret {
        let passphrase = contents.withUnsafeBytes { bytes -> SecureBytes in
            var end = bytes.count
            if end > 0 && bytes[end - 1] == 0x0A {
                end -= 1
                if end > 0 && bytes[end - 1] == 0x0D { end -= 1 }
            }
            return end == bytes.count
                ? contents : SecureBytes(copying: UnsafeRawBufferPointer(rebasing: bytes[0..<end]))
        }
        let secret = Keyslot.Secret.passphrase(passphrase)
        try secret.check()
        return secret
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
