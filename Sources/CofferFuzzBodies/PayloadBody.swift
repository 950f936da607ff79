import CofferCrypto
import CofferFormat

/// ``FuzzTarget/transactionPayload``: the payloads inside sealed records (F-REC-TXN, F-REC-KEY).
enum PayloadBody {
    static func run(_ input: UnsafeRawBufferPointer, _ findings: inout FuzzFindings) {
        let payload = SecureBytes(copying: input)
        if let transaction = TransactionPayload.decode(payload) {
            // Oracle: decode takes only the canonical encoding (exact lengths, no trailing
            // bytes, valid UTF-8), so the decoded value encodes back to the input.
            findings.check(
                transaction.encode() == payload, "a decoded transaction payload does not re-encode to its bytes")
            // Each operation takes at least 6 bytes.
            findings.check(
                transaction.operations.count <= input.count / 6,
                "\(transaction.operations.count) operations decoded from \(input.count) bytes")
        }
        if let epoch = KeyEpochPayload.decode(payload) {
            findings.check(
                input.count == KeyEpochPayload.encodedBytes, "a key-epoch payload of \(input.count) bytes decoded")
            findings.check(epoch.encode() == payload, "a decoded key-epoch payload does not re-encode to its bytes")
        }
        // The credential model's operations get their own target
        // (FuzzTarget.modelOperation) rather than joining this one, so that each stays fast.
    }
}
