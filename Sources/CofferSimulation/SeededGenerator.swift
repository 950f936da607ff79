/// A deterministic random number generator (SplitMix64), so that a failing simulation can be
/// replayed from the seed it prints.
///
/// The same seed gives the same sequence on every run and platform:
///
/// ```swift
/// var generator = SeededGenerator(seed: 42)
/// let coin = Bool.random(using: &generator)
/// ```
///
/// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014)
/// passes BigCrush and accepts every seed, including 0. It is not cryptographically secure and
/// is meant for tests only.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator whose whole sequence is determined by `seed`.
    public init(seed: UInt64) {
        state = seed
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        // The golden-ratio increment and the two mixing multipliers are SplitMix64's constants.
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}
