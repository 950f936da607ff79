import BenchSupport
import Foundation

/// The shared `main` of the two SQL helper executables:
///
///     coffer-bench-sqlcipher run --size 100000 --dir /tmp/x --repetitions 5 --seed 1 --out result.json
///     coffer-bench-sqlcipher memory --db /tmp/x/sqlcipher-100000.db --size 100000 --seed 1 --key HEX
public enum SQLHelper {
    public static func main(engine: String, calls: SQLiteCalls, encrypts: Bool) {
        Sealer.prepare()
        let arguments = Arguments()
        let command = arguments.positional.first ?? "run"
        let rawKey = encrypts ? (arguments.values["key"].map(bytes(fromHex:)) ?? Sealer.randomKey()) : nil
        let setup = SQLEngineSetup(
            engine: engine, calls: calls, rawKey: rawKey, sealingKey: encrypts ? nil : Sealer.randomKey(),
            measuresPassphraseOpen: encrypts)
        do {
            switch command {
            case "memory":
                try SQLBenchmark.memoryChild(setup: setup, arguments: arguments)
            case "run":
                let dataset = Dataset(
                    size: arguments.int("size", default: 10_000), seed: UInt64(arguments.int("seed", default: 1)))
                let benchmark = SQLBenchmark(
                    setup: setup, dataset: dataset, directory: arguments.string("dir", default: "/tmp"),
                    repetitions: arguments.int("repetitions", default: 5))
                let report = try benchmark.run()
                try report.write(to: arguments.string("out", default: "/dev/stdout"))
            default:
                FileHandle.standardError.write(Data("usage: \(engine) run|memory [options]\n".utf8))
                exit(2)
            }
        } catch {
            FileHandle.standardError.write(Data("\(engine): \(error)\n".utf8))
            exit(1)
        }
    }
}
