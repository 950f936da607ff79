import CofferCrypto

/// The preview of a private key (OPS-PREVIEW-3): what kind of key it is and, for an OpenSSH
/// key, the fingerprint of its public half as `ssh-keygen -l` prints it
/// (`ssh-ed25519 SHA256:…`). No character of the key shows. The public key sits unencrypted
/// at the start of an OpenSSH key's blob, so the fingerprint needs no passphrase; the blob is
/// decoded into secure memory, since the private half follows.
enum PrivateKeyPreview {
    static func of(_ bytes: UnsafeRawBufferPointer) -> String? {
        let text = bytes
        if let body = armored(text, label: "OPENSSH PRIVATE KEY") { return openSSH(body) }
        for (label, kind) in [
            ("RSA PRIVATE KEY", "RSA private key (PEM)"), ("EC PRIVATE KEY", "EC private key (PEM)"),
            ("DSA PRIVATE KEY", "DSA private key (PEM)"), ("ENCRYPTED PRIVATE KEY", "encrypted private key (PKCS #8)"),
            ("PRIVATE KEY", "private key (PKCS #8)"),
        ] where armored(text, label: label) != nil {
            return kind
        }
        return nil
    }

    /// The Base64 between `-----BEGIN label-----` and `-----END label-----`.
    private static func armored(_ text: UnsafeRawBufferPointer, label: String) -> UnsafeRawBufferPointer? {
        let begin = Array("-----BEGIN \(label)-----".utf8)
        let end = Array("-----END \(label)-----".utf8)
        guard let start = find(begin, in: text, from: 0), let finish = find(end, in: text, from: start + begin.count)
        else {
            return nil
        }
        return UnsafeRawBufferPointer(rebasing: text[(start + begin.count)..<finish])
    }

    private static func find(_ needle: [UInt8], in haystack: UnsafeRawBufferPointer, from: Int) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var index = from
        while index + needle.count <= haystack.count {
            if needle.indices.allSatisfy({ haystack[index + $0] == needle[$0] }) { return index }
            index += 1
        }
        return nil
    }

    /// Its type (the blob's first string) and `SHA256:` with the unpadded Base64 of the
    /// SHA-256 of the public key blob.
    private static func openSSH(_ body: UnsafeRawBufferPointer) -> String? {
        guard let publicKey = publicKeyBlob(body) else { return nil }
        return publicKey.withUnsafeBytes { publicKey -> String? in
            var inner = Reader(bytes: publicKey)
            guard let type = inner.string(), let typeText = String(validating: type, as: UTF8.self),
                typeText.utf8.count <= 64,
                typeText.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F })
            else { return nil }
            return "\(typeText) SHA256:\(Base64.encode(SHA256.hash(publicKey), padding: false))"
        }
    }

    /// The first public key of an OpenSSH key's blob: `openssh-key-v1\0`, cipher, KDF, KDF
    /// options, key count, then the public key, before anything encrypted.
    private static func publicKeyBlob(_ body: UnsafeRawBufferPointer) -> [UInt8]? {
        guard let (blob, count) = Base64.decodeSecret(body) else { return nil }
        return blob.withUnsafeBytes { all -> [UInt8]? in
            var reader = Reader(bytes: UnsafeRawBufferPointer(rebasing: all[0..<count]))
            let magic = Array("openssh-key-v1\0".utf8)
            guard reader.take(magic.count).map(Array.init) == magic, reader.string() != nil, reader.string() != nil,
                reader.string() != nil, let keys = reader.uint32(), keys >= 1, let publicKey = reader.string()
            else { return nil }
            return Array(publicKey)
        }
    }

    /// Whether an OpenSSH public key line (`type BASE64 [comment]`) is the public half of a
    /// private key: the same key blob for an OpenSSH key; for a PEM RSA, EC or DSA key, whose
    /// public half needs the private one's arithmetic, only whether the algorithms agree. nil
    /// when that cannot be told (PKCS #8, or text that does not parse).
    static func publicKey(_ line: UnsafeRawBufferPointer, matches privateKey: UnsafeRawBufferPointer) -> Bool? {
        for (label, prefix) in [
            ("RSA PRIVATE KEY", "ssh-rsa "), ("EC PRIVATE KEY", "ecdsa-sha2-"), ("DSA PRIVATE KEY", "ssh-dss "),
        ] where armored(privateKey, label: label) != nil {
            return line.starts(with: prefix.utf8) ? nil : false
        }
        guard let body = armored(privateKey, label: "OPENSSH PRIVATE KEY"), let expected = publicKeyBlob(body) else {
            return nil
        }
        let fields = line.split(separator: 0x20, omittingEmptySubsequences: true)
        guard fields.count >= 2, let (given, count) = Base64.decodeSecret(UnsafeRawBufferPointer(rebasing: fields[1]))
        else { return nil }
        return given.withUnsafeBytes { Array($0[0..<count]) == expected }
    }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var offset = 0

        mutating func take(_ count: Int) -> UnsafeRawBufferPointer? {
            guard count >= 0, offset + count <= bytes.count else { return nil }
            defer { offset += count }
            return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
        }

        mutating func uint32() -> UInt32? {
            take(4).map { $0.reduce(0) { $0 << 8 | UInt32($1) } }
        }

        mutating func string() -> UnsafeRawBufferPointer? {
            uint32().flatMap { take(Int($0)) }
        }
    }
}
