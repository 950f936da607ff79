import CofferCrypto
import CofferFormat

/// Masked previews of secret values (FORMAT.md, OPS-PREVIEW): enough to recognise a secret,
/// never enough to use it. Previews are not secret and live in the index.
public enum Preview {
    /// The mask that starts every preview. It has a fixed width, so a preview does not tell
    /// the secret's length.
    public static let mask = "••••"

    /// The preview of a field's value by its rule: the value itself when it is not secret.
    public static func of(_ value: SecureBytes, for spec: FieldSpec) -> String {
        value.withUnsafeBytes { of($0, rule: spec.preview) }
    }

    static func of(_ bytes: UnsafeRawBufferPointer, rule: PreviewRule) -> String {
        switch rule {
        case .shownInFull: String(decoding: bytes, as: UTF8.self)
        case .tail: of(bytes)
        case .maskOnly: mask
        case .keyFingerprint: PrivateKeyPreview.of(bytes) ?? mask
        case .memberNames:
            // Stored objects parse (OPS-FIELD-JSON); the names are all a preview shows.
            (try? JSONObjectValidator.topLevelNames(of: bytes).get()).map(ofJSONObject) ?? mask
        }
    }

    /// The preview of a token (OPS-PREVIEW-1): the mask followed by its last 4 Unicode
    /// scalars when it has 16 or more after trailing ASCII whitespace is dropped, else the
    /// mask alone, so a short secret (a password typed where a token goes) shows nothing. When
    /// the shown scalars include a control character, none are shown.
    ///
    /// ```swift
    /// Preview.of(SecureBytes(copying: Array("sk-live-0123456789a1b2".utf8)))  // "••••a1b2"
    /// ```
    public static func of(_ secret: SecureBytes) -> String {
        secret.withUnsafeBytes { of($0) }
    }

    static func of(_ bytes: UnsafeRawBufferPointer) -> String {
        var end = bytes.count
        while end > 0, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[end - 1]) { end -= 1 }
        // Most tokens are ASCII, where a byte is a scalar: nothing to decode.
        let ascii =
            end <= 64
            ? ofASCII(UnsafeRawBufferPointer(rebasing: bytes[..<end]))
            : ofASCIITail(UnsafeRawBufferPointer(rebasing: bytes[(end - 4)..<end]))
        return ascii ?? ofDecoding(bytes, end: end)
    }

    /// The preview of a token of more than 64 bytes, and so of more than 16 scalars, from its
    /// last 4 bytes, as ``ofDecoding(_:end:)`` makes it of valid UTF-8 (what a stored value
    /// is); nil when one is not ASCII. In UTF-8 an ASCII byte is a scalar of its own, never
    /// part of another: 4 ASCII bytes at the end are the last 4 scalars.
    static func ofASCIITail(_ shown: UnsafeRawBufferPointer) -> String? {
        guard UTF8Check.isASCII(shown) else { return nil }
        guard !shown.contains(where: Names.isASCIIControl) else { return mask }
        // Written in one buffer: `mask + String(...)` joined two strings, on every commit of a
        // token.
        var maskCopy = mask
        return maskCopy.withUTF8 { maskBytes in
            String(unsafeUninitializedCapacity: maskBytes.count + shown.count) { buffer in
                _ = buffer.initialize(fromContentsOf: maskBytes)
                UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buffer[maskBytes.count...]))
                    .copyMemory(from: shown)
                return maskBytes.count + shown.count
            }
        }
    }

    /// The preview of a token of ASCII bytes, trailing whitespace dropped, as
    /// ``ofDecoding(_:end:)`` makes it; nil when a byte is not ASCII.
    static func ofASCII(_ token: UnsafeRawBufferPointer) -> String? {
        guard UTF8Check.isASCII(token) else { return nil }
        guard token.count >= 16 else { return mask }
        return ofASCIITail(UnsafeRawBufferPointer(rebasing: token[(token.count - 4)...]))
    }

    /// The preview of the token in `bytes` up to `end` (trailing whitespace dropped), its
    /// scalars decoded.
    static func ofDecoding(_ bytes: UnsafeRawBufferPointer, end: Int) -> String {
        // A scalar is at most 4 bytes, so more than 64 bytes are more than 16 scalars and show
        // the last 4 (at most 16 bytes): decode only from a scalar boundary near the end, not
        // a 3 KiB private key from its first byte. Stored values are valid UTF-8 (OPS-FIELD-TEXT).
        let tailBytes = 4 * 4
        var start = 0
        var countAtLeast16 = false
        if end > 64 {
            start = end - tailBytes
            while start > 0, bytes[start] & 0xC0 == 0x80 { start -= 1 }
            countAtLeast16 = true
        }
        let trimmed = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
        // The last four scalars, kept in a ring on the stack: the secret is never copied
        // into a growable buffer.
        var ring: (Unicode.Scalar, Unicode.Scalar, Unicode.Scalar, Unicode.Scalar) = (" ", " ", " ", " ")
        var count = 0
        var iterator = trimmed.makeIterator()
        var decoder = Unicode.UTF8()
        decoding: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                ring = (ring.1, ring.2, ring.3, scalar)
                count += 1
            case .emptyInput, .error:
                break decoding
            }
        }
        let shown = countAtLeast16 || count >= 16 ? 4 : 0
        var preview = mask
        for position in (4 - shown)..<4 {
            let scalar: Unicode.Scalar
            switch position {
            case 0: scalar = ring.0
            case 1: scalar = ring.1
            case 2: scalar = ring.2
            default: scalar = ring.3
            }
            guard !Names.isControl(scalar) else { return mask }
            preview.unicodeScalars.append(scalar)
        }
        return preview
    }

    /// The preview of a `custom` JSON object (OPS-PREVIEW-2): its top-level member names,
    /// each followed by `: ••••`, in braces. Names are not values, so they are shown; at most
    /// 8 names, each cut to 32 scalars, control characters replaced by U+FFFD.
    ///
    /// `{"api_key": "…", "region": "…"}` previews as `{api_key: ••••, region: ••••}`.
    static func ofJSONObject(names: [String]) -> String {
        let namesMax = 8
        let nameScalarsMax = 32
        var parts: [String] = names.prefix(namesMax).map { name in
            var shown = String.UnicodeScalarView()
            for scalar in name.unicodeScalars.prefix(nameScalarsMax) {
                shown.append(Names.isControl(scalar) ? "\u{FFFD}" : scalar)
            }
            if name.unicodeScalars.count > nameScalarsMax { shown.append("…") }
            return String(shown) + ": " + mask
        }
        if names.count > namesMax { parts.append("…") }
        return "{" + parts.joined(separator: ", ") + "}"
    }
}
