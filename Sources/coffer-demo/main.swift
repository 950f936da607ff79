// `make demo`: creates a throw-away vault in the directory given, writes and reads records,
// rotates the data key, adds a passphrase, reopens it, shows torn-tail recovery and salvage,
// and prints what it did.
import CofferCrypto
import CofferFormat
import CofferStorage

#if canImport(Glibc)
import Glibc
#endif

func say(_ text: String) { print(text) }

func run(directory: String) throws {
    mkdir(directory, 0o700)
    let path = "\(directory)/team.coffer"
    let keyFile = SecureBytes(randomCount: 32)
    let secret = Keyslot.Secret.keyFile(keyFile)

    say("== create \(path) (key-file slot, first key epoch)")
    let store = try VaultStore.create(path: path, secret: secret)
    func transaction(_ actor: String, _ notes: [String]) -> SecureBytes {
        TransactionPayload(
            timeMilliseconds: WallClock.nowMilliseconds(), actor: actor,
            operations: notes.map { Operation(code: 0xF001, bytes: Array($0.utf8)) }
        ).encode()!
    }
    let first = try store.append([transaction("alice", ["org acme", "project web"])])
    say("   committed sequence \(first.records[0].sequence) at offset \(first.records[0].offset)")
    let batch = try store.append([transaction("alice", ["exa api token"]), transaction("bob", ["slack oauth"])])
    say("   committed sequences \(batch.records.map(\.sequence)) in one sync")

    say("== data-key rotation: epoch \(try store.rotateDataKey()) (O(1), nothing rewritten)")
    let later = try store.append([transaction("bob", ["linear api key"])])
    say("   sequence \(later.records[0].sequence) sealed under epoch \(later.records[0].epoch)")

    say("== unlock change: add a passphrase slot (header rewrite only)")
    let passphrase = Keyslot.Secret.passphrase(SecureBytes(copying: Array("demo passphrase".utf8)))
    let slot = try store.addKeyslot(passphrase, cost: .interactive)
    say("   keyslots now: \(store.keyslots.map { "#\($0.id) \($0.kind)" }.joined(separator: ", ")) (added #\(slot))")
    let head = store.head
    say("   head \(head)")
    store.close()

    say("== reopen read-only with the passphrase, expecting that head")
    var count = 0
    let reader = try VaultStore.open(path: path, secret: passphrase, options: .init(readOnly: true, expectedHead: head)) { record in
        guard record.type == .transaction, let payload = record.payload.flatMap(TransactionPayload.decode) else { return }
        count += 1
        let notes = payload.operations.map { String(decoding: $0.body.withUnsafeBytes { Array($0) }, as: UTF8.self) }
        say("   #\(record.sequence) epoch \(record.epoch) by \(payload.actor): \(notes.joined(separator: "; "))")
    }
    say("   \(count) transactions, head \(reader.head)")

    say("== a crash mid-append: cut 50 bytes off a copy and open it as the writer")
    let copy = "\(directory)/torn.coffer"
    let bytes = try readAll(path)
    try writeAll(copy, Array(bytes.dropLast(50)))
    let recovered = try VaultStore.open(path: copy, secret: secret)
    if let torn = recovered.recovery.tornTail { say("   \(torn)") }
    say("   cut: \(recovered.recovery.truncated), head now \(recovered.head)")
    recovered.close()

    say("== damage in the middle: flip one bit, open refuses, salvage copies the valid prefix")
    var damaged = bytes
    damaged[Int(first.records[0].offset) + 100] ^= 0x01
    try writeAll(copy, damaged)
    do {
        _ = try VaultStore.open(path: copy, secret: secret)
    } catch {
        say("   open: \(error)")
    }
    let report = try VaultStore.salvage(path: copy, secret: secret, output: "\(directory)/salvaged.coffer")
    say("   salvage kept \(report.recordsKept) records, dropped \(report.bytesDropped) bytes")

    say("== without any key")
    let info = try VaultFileInfo.read(path: path)
    say("   \(info.fileBytes) bytes, \(info.recordCount) records, epochs \(info.epochs), keyslots \(info.header.keyslots.map { "\($0.kind)\($0.cost.map { " \($0)" } ?? "")" })")
}

func readAll(_ path: String) throws -> [UInt8] {
    guard case .success(let file) = PosixStorage().open(path, mode: .readOnly), case .success(let size) = file.size(),
        case .success(let bytes) = file.read(count: Int(size), at: 0)
    else { throw CofferError(.io(errno: errno), "Reading \(path) failed.") }
    return bytes
}

func writeAll(_ path: String, _ bytes: [UInt8]) throws {
    unlink(path)
    guard case .success(let file) = PosixStorage().open(path, mode: .createNew), case .success = file.write(bytes, at: 0)
    else { throw CofferError(.io(errno: errno), "Writing \(path) failed.") }
}

let directory = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "demo-vault"
do {
    try run(directory: directory)
} catch {
    print("demo failed: \(error)")
    exit(1)
}
