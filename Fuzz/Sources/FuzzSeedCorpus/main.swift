// Writes the seed corpus of every fuzz target into <directory>/<Target>/, replacing what is
// there: `FuzzSeedCorpus ../Fuzz/corpus`. Run through tools/make-seed-corpus.
import CofferFuzzBodies
import Foundation

let arguments = CommandLine.arguments
guard arguments.count == 2 else {
    FileHandle.standardError.write(Data("usage: FuzzSeedCorpus <corpus directory>\n".utf8))
    exit(2)
}
let root = URL(fileURLWithPath: arguments[1], isDirectory: true)

// Seeds that do not behave as intended would silently weaken the fuzzers: refuse to write them.
let problems = SeedCorpus.verify()
guard problems.isEmpty else {
    FileHandle.standardError.write(Data(("seed corpus check failed:\n" + problems.map { "  \($0)\n" }.joined()).utf8))
    exit(1)
}

let seeds = SeedCorpus.make()
let files = FileManager.default
var totalBytes = 0
for target in FuzzTarget.allCases {
    let directory = root.appendingPathComponent(target.rawValue, isDirectory: true)
    try? files.removeItem(at: directory)
    try files.createDirectory(at: directory, withIntermediateDirectories: true)
    let mine = seeds.filter { $0.target == target }
    for seed in mine {
        try Data(seed.bytes).write(to: directory.appendingPathComponent(seed.name))
        totalBytes += seed.bytes.count
    }
    print("\(target.rawValue): \(mine.count) seeds, \(mine.reduce(0) { $0 + $1.bytes.count }) bytes")
}
print("total: \(seeds.count) seeds, \(totalBytes) bytes")
