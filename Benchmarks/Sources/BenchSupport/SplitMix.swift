/// A small, fast, seeded generator (SplitMix64): every executable of the benchmark draws the
/// same dataset from the same seed, so Coffer and the SQL baselines hold the same rows.
public struct SplitMix: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator; equal seeds give equal sequences.
    public init(seed: UInt64) {
        state = seed
    }

    /// A generator for one item of a stream: `seed` and `item` mixed so that items are
    /// independent and can be drawn in any order.
    public init(seed: UInt64, item: UInt64) {
        var mixer = SplitMix(seed: seed ^ (item &* 0x9E37_79B9_7F4A_7C15))
        state = mixer.next() ^ item
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform integer in `0..<bound`.
    public mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0, "empty range")
        return Int(next() % UInt64(bound))
    }

    /// A uniform integer in `range`.
    public mutating func within(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + below(range.count)
    }

    /// `count` bytes from `alphabet`.
    public mutating func text(_ count: Int, from alphabet: [UInt8] = SplitMix.base62) -> [UInt8] {
        (0..<count).map { _ in alphabet[below(alphabet.count)] }
    }

    /// Letters and digits, as tokens use.
    public static let base62 = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
    /// The base64 alphabet, as keys and JWTs use.
    public static let base64 = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    /// Lower-case hexadecimal.
    public static let hex = Array("0123456789abcdef".utf8)
}
