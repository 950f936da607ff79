import CofferCrypto

/// One operation of a transaction: an operation code and its encoded body (F-REC-TXN).
/// The codes and bodies are defined by the engine (FORMAT.md, "Operations").
public struct Operation: Sendable {
    public let code: UInt16
    /// The body may hold secrets, so it lives in protected memory.
    public let body: SecureBytes

    public init(code: UInt16, body: SecureBytes) {
        self.code = code
        self.body = body
    }

    public init(code: UInt16, bytes: [UInt8]) {
        self.init(code: code, body: SecureBytes(copying: bytes))
    }
}

/// The payload of a transaction record (F-REC-TXN):
/// `u64 time || string actor || u32 count || count × (u16 code || u32 length || body)`.
public struct TransactionPayload: Sendable {
    /// Commit time in milliseconds since the Unix epoch.
    public let timeMilliseconds: UInt64
    /// Who made the change, as recorded in history. Not a secret.
    public let actor: String
    public let operations: [Operation]

    public init(timeMilliseconds: UInt64, actor: String, operations: [Operation]) {
        self.timeMilliseconds = timeMilliseconds
        self.actor = actor
        self.operations = operations
    }

    /// Encodes into protected memory; `nil` when a field is too long for its length prefix.
    public func encode() -> SecureBytes? {
        let actorBytes = Array(actor.utf8)
        guard actorBytes.count <= Int(UInt16.max), operations.count <= Int(UInt32.max) else { return nil }
        var total = 8 + 2 + actorBytes.count + 4
        for operation in operations {
            guard operation.body.count <= Int(UInt32.max) else { return nil }
            total += 2 + 4 + operation.body.count
        }
        return SecureBytes(count: total) { target in
            var cursor = 0
            func put(_ source: UnsafeRawBufferPointer) {
                guard source.count > 0 else { return }
                (target.baseAddress! + cursor).copyMemory(from: source.baseAddress!, byteCount: source.count)
                cursor += source.count
            }
            func put<Integer: FixedWidthInteger>(_ value: Integer) {
                withUnsafeBytes(of: value.littleEndian) { put($0) }
            }
            put(timeMilliseconds)
            put(UInt16(actorBytes.count))
            actorBytes.withUnsafeBytes { put($0) }
            put(UInt32(operations.count))
            for operation in operations {
                put(operation.code)
                put(UInt32(operation.body.count))
                operation.body.withUnsafeBytes { put($0) }
            }
            precondition(cursor == total)
        }
    }

    /// Operation `index` of a payload, the only one copied; `nil` when the payload is
    /// malformed (as ``decode(_:)`` judges it: the whole payload is checked) or has no such
    /// operation: one operation of a transaction that may hold many.
    public static func operation(at index: Int, in payload: SecureBytes) -> Operation? {
        guard let found = payload.withUnsafeBytes({ operationPlace(at: index, in: $0) }) else { return nil }
        return Operation(
            code: found.code,
            body: payload.withUnsafeBytes { SecureBytes(copying: UnsafeRawBufferPointer(rebasing: $0[found.body])) })
    }

    /// The code of operation `index` of a payload and where its body lies in it, checked as
    /// ``operation(at:in:)`` checks the payload; `nil` when it is malformed or has no such
    /// operation. What a reveal reads, where it lies in the decrypted record.
    package static func operationPlace(at index: Int, in payload: UnsafeRawBufferPointer) -> (
        code: UInt16, body: Range<Int>
    )? {
        var reader = ByteReader(payload)
        guard reader.read(UInt64.self) != nil, let actorLength = reader.read(UInt16.self),
            let actor = reader.readView(Int(actorLength)), UTF8Check.isValid(actor),
            let count = reader.read(UInt32.self), Int(count) <= reader.remaining / 6, index >= 0, index < Int(count)
        else { return nil }
        var found: (code: UInt16, body: Range<Int>)?
        for position in 0..<Int(count) {
            guard let code = reader.read(UInt16.self), let length = reader.read(UInt32.self) else { return nil }
            let start = reader.offset
            guard reader.readView(Int(length)) != nil else { return nil }
            if position == index { found = (code, start..<reader.offset) }
        }
        return reader.remaining == 0 ? found : nil
    }

    /// Decodes a payload; `nil` when it is malformed (short, trailing bytes, invalid UTF-8).
    public static func decode(_ payload: SecureBytes) -> TransactionPayload? {
        payload.withUnsafeBytes { bytes in
            var reader = ByteReader(bytes)
            guard let time = reader.read(UInt64.self), let actor = reader.readString(),
                let count = reader.read(UInt32.self)
            else { return nil }
            // Each operation takes at least 6 bytes: a hostile count cannot make us allocate.
            guard Int(count) <= reader.remaining / 6 else { return nil }
            var operations: [Operation] = []
            operations.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let code = reader.read(UInt16.self), let length = reader.read(UInt32.self),
                    let body = reader.readView(Int(length))
                else { return nil }
                operations.append(Operation(code: code, body: SecureBytes(copying: body)))
            }
            guard reader.remaining == 0 else { return nil }
            return TransactionPayload(timeMilliseconds: time, actor: actor, operations: operations)
        }
    }
}
