import CofferCrypto
import CofferErrors
import CofferFormat

#if canImport(Glibc)
    import Glibc
#endif

/// Schema checks of credential fields (FORMAT.md, OPS-FIELD-*) and the display texts the
/// index keeps: the preview of each secret field and the value of each non-secret one.
enum FieldValidation {
    /// Largest value of one field, in bytes (OPS-FIELD-SIZE).
    static let valueBytesMax = 65536
    /// Largest non-secret single-line value, in bytes.
    static let lineBytesMax = 1024
    /// Most fields one operation may carry; more than any type has, fewer than a hostile
    /// count could make a decoder allocate.
    static let fieldCountMax = 16

    /// Checks a complete set of values against `type`'s schema and returns the display text
    /// of each schema field in order (`nil` when absent).
    ///
    /// - Throws: `.invalidInput` naming the first offending field: an unknown field, an empty
    ///   value, a missing required field, or a value that breaks its field's rule.
    static func check(_ fields: FieldValues, of type: CredentialType) throws(CofferError) -> [String?] {
        let specs = type.fields
        // OPS-FIELD-UNKNOWN: every name must belong to the type.
        try checkNames(fields.entries.lazy.map(\.name), of: type)
        var texts: [String?] = []
        texts.reserveCapacity(specs.count)
        for spec in specs {
            guard let value = fields[spec.name] else {
                // OPS-FIELD-REQUIRED
                if spec.isRequired {
                    throw CofferError(
                        .invalidInput, "The `\(spec.name)` field is required for \(type.word) credentials.")
                }
                texts.append(nil)
                continue
            }
            texts.append(try check(value, against: spec))
        }
        // OPS-FIELD-SMTP-AUTH: SMTP authentication needs both halves.
        if type == .smtp, fields["password"] != nil, fields["username"] == nil {
            throw CofferError(
                .invalidInput, "The `username` field is required when an smtp credential has a `password`.")
        }
        return texts
    }

    /// The display texts ``check(_:of:)`` returns, without checking the rules: for values an
    /// authenticated record holds, which its writer checked before sealing it. Names the
    /// type does not have are ignored. A `custom` object is still parsed for its preview.
    ///
    /// - Throws: `.invalidInput` only when a JSON field does not parse, since its preview
    ///   cannot be made.
    static func displayTexts(_ fields: FieldValues, of type: CredentialType) throws(CofferError) -> [String?] {
        var texts: [String?] = []
        texts.reserveCapacity(type.fields.count)
        for spec in type.fields {
            guard let value = fields[spec.name] else {
                texts.append(nil)
                continue
            }
            texts.append(
                try value.withUnsafeBytes { bytes in
                    Result { () throws(CofferError) -> String in try displayText(bytes, of: spec) }
                }.get())
        }
        return texts
    }

    private static func displayText(_ bytes: UnsafeRawBufferPointer, of spec: FieldSpec) throws(CofferError) -> String {
        if spec.rule == .jsonObject {
            switch JSONObjectValidator.topLevelNames(of: bytes) {
            case .success(let names): return Preview.ofJSONObject(names: names)
            case .failure(let error):
                throw CofferError(
                    .invalidInput,
                    "The `\(spec.name)` field is not a JSON object: \(error.reason) at byte \(error.offset).")
            }
        }
        return Preview.of(bytes, rule: spec.preview)
    }

    /// Checks one value and returns its display text.
    static func check(_ value: SecureBytes, against spec: FieldSpec) throws(CofferError) -> String {
        try value.withUnsafeBytes { bytes in
            Result { () throws(CofferError) -> String in try check(bytes, against: spec) }
        }.get()
    }

    private static func check(_ bytes: UnsafeRawBufferPointer, against spec: FieldSpec) throws(CofferError) -> String {
        // Made only for a message: a commit checks every field of every credential it writes.
        var field: String { "The `\(spec.name)` field" }
        // OPS-FIELD-NONEMPTY: an empty value is "not given" and is never stored.
        guard !bytes.isEmpty else { throw CofferError(.invalidInput, "\(field) is empty. Leave it out instead.") }
        // OPS-FIELD-SIZE and OPS-FIELD-TEXT: at most 64 KiB of UTF-8 without NUL.
        guard bytes.count <= valueBytesMax else {
            throw CofferError(.invalidInput, "\(field) is longer than \(valueBytesMax) bytes.")
        }
        guard isValidText(bytes) else {
            throw CofferError(.invalidInput, "\(field) must be UTF-8 text without NUL characters.")
        }
        switch spec.rule {
        case .secretText:
            break
        case .singleLine:
            guard bytes.count <= lineBytesMax, !hasControl(bytes) else {
                throw CofferError(.invalidInput, "\(field) must be one line of at most \(lineBytesMax) bytes.")
            }
        case .hostname:
            // OPS-FIELD-HOST
            guard bytes.count <= 253, isAlphanumeric(bytes[0]) || bytes[0] == UInt8(ascii: "["),
                bytes.allSatisfy({ isAlphanumeric($0) || hostPunctuation.contains($0) })
            else {
                throw CofferError(
                    .invalidInput,
                    "\(field) must be a host name or IP address (letters, digits, '.', '-', ':', '[', ']').")
            }
        case .port:
            // OPS-FIELD-PORT
            guard let port = decimal(bytes, digitsMax: 5), port >= 1, port <= 65535 else {
                throw CofferError(.invalidInput, "\(field) must be a number from 1 to 65535.")
            }
        case .smtpEncryption:
            // OPS-FIELD-ENCRYPTION
            guard ["none", "ssl", "tls", "starttls"].contains(where: { equals(bytes, $0) }) else {
                throw CofferError(.invalidInput, "\(field) must be one of none, ssl, tls, starttls.")
            }
        case .unixSeconds:
            // OPS-FIELD-EXPIRES: up to 9999-12-31T23:59:59Z.
            guard let seconds = decimal(bytes, digitsMax: 12), seconds <= 253_402_300_799 else {
                throw CofferError(.invalidInput, "\(field) must be a Unix time in seconds, such as 1767225600.")
            }
        case .oauthScopes:
            // OPS-FIELD-SCOPES: RFC 6749 scope tokens separated by single spaces.
            guard bytes.count <= 4096, isScopeList(bytes) else {
                throw CofferError(.invalidInput, "\(field) must be scope names separated by single spaces.")
            }
        case .privateKey:
            // OPS-FIELD-PRIVATEKEY
            guard contains(bytes, "-----BEGIN "), contains(bytes, "PRIVATE KEY-----") else {
                throw CofferError(
                    .invalidInput, "\(field) must be a PEM or OpenSSH private key (-----BEGIN … PRIVATE KEY-----).")
            }
        case .publicKey:
            // OPS-FIELD-PUBLICKEY
            guard bytes.count <= 16384, !hasControl(bytes),
                starts(bytes, "ssh-") || starts(bytes, "ecdsa-") || starts(bytes, "sk-"),
                let space = bytes.firstIndex(of: 0x20), space + 1 < bytes.count
            else {
                throw CofferError(
                    .invalidInput, "\(field) must be one OpenSSH public key line, such as `ssh-ed25519 AAAA… comment`.")
            }
        case .jsonObject:
            // OPS-FIELD-JSON
            break
        }
        return try displayText(bytes, of: spec)
    }

    /// OPS-FIELD-UNKNOWN for names alone: each names a field of `type`. A name that does not
    /// is not repeated in the error: it may be a secret typed in its place.
    static func checkNames(_ names: some Sequence<String>, of type: CredentialType) throws(CofferError) {
        for name in names where type.fieldIndex(of: name) == nil {
            throw CofferError(
                .invalidInput,
                "The \(type.word) type has no field of a name given (names that are not fields are not repeated, in case one is a secret). Its fields are: \(type.fields.map(\.name).joined(separator: ", "))."
            )
        }
    }

    /// A field name as it may appear in a message: names are not secret, but a hostile one is
    /// cut short and stripped of control characters.
    static func printable(_ name: String) -> String {
        String(String.UnicodeScalarView(name.unicodeScalars.prefix(64).filter { !Names.isControl($0) }))
    }

    /// Well-formed UTF-8 without NUL (in well-formed UTF-8 a zero byte is U+0000 and nothing
    /// else): eight ASCII bytes a step, where a scalar decoder took one byte — a private key's
    /// 3 KiB were most of a commit's checks.
    private static func isValidText(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        return memchr(base, 0, bytes.count) == nil && UTF8Check.isValid(bytes)
    }

    /// What a host name may hold besides letters and digits (OPS-FIELD-HOST).
    private static let hostPunctuation = Array(".-:[]".utf8)

    private static func hasControl(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var iterator = bytes.makeIterator()
        var decoder = Unicode.UTF8()
        while case .scalarValue(let scalar) = decoder.decode(&iterator) {
            if Names.isControl(scalar) { return true }
        }
        return false
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }

    /// A canonical decimal (no sign, no leading zero) of at most `digitsMax` digits.
    private static func decimal(_ bytes: UnsafeRawBufferPointer, digitsMax: Int) -> UInt64? {
        guard !bytes.isEmpty, bytes.count <= digitsMax, bytes.count == 1 || bytes[0] != UInt8(ascii: "0") else {
            return nil
        }
        var value: UInt64 = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + UInt64(byte - UInt8(ascii: "0"))
        }
        return value
    }

    private static func isScopeList(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var previousWasSpace = true
        for byte in bytes {
            if byte == 0x20 {
                if previousWasSpace { return false }
                previousWasSpace = true
            } else {
                guard byte == 0x21 || (0x23...0x5B).contains(byte) || (0x5D...0x7E).contains(byte) else { return false }
                previousWasSpace = false
            }
        }
        return !previousWasSpace
    }

    private static func equals(_ bytes: UnsafeRawBufferPointer, _ text: String) -> Bool {
        bytes.elementsEqual(text.utf8)
    }

    private static func starts(_ bytes: UnsafeRawBufferPointer, _ text: String) -> Bool {
        bytes.starts(with: text.utf8)
    }

    private static func contains(_ bytes: UnsafeRawBufferPointer, _ text: String) -> Bool {
        let needle = Array(text.utf8)
        guard bytes.count >= needle.count else { return false }
        for start in 0...(bytes.count - needle.count)
        where bytes[start] == needle[0]
            && UnsafeRawBufferPointer(rebasing: bytes[start..<start + needle.count]).elementsEqual(needle)
        {
            return true
        }
        return false
    }
}
