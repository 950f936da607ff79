import ArgumentParser
import Coffer

/// A model word as an option value (`--role admin`, `--type api_token`): parsed with the
/// model's own spelling, and listed in help and completions.
struct Word<Value: ModelWord>: ExpressibleByArgument {
    let value: Value

    init(_ value: Value) {
        self.value = value
    }

    init?(argument: String) {
        guard let value = Value(word: argument) else { return nil }
        self.value = value
    }

    static var allValueStrings: [String] { Value.allCases.map(\.word) }

    var defaultValueDescription: String { value.word }
}

/// A scope as an option value: `org` or `organization`, `project`, `user`.
struct ScopeWord: ExpressibleByArgument {
    let value: CredentialScope

    init(_ value: CredentialScope) {
        self.value = value
    }

    init?(argument: String) {
        guard let value = CredentialScope(selectorWord: argument) else { return nil }
        self.value = value
    }

    static var allValueStrings: [String] { ["org", "organization", "project", "user"] }

    var defaultValueDescription: String { value.word }
}

/// The Argon2id cost of a new passphrase keyslot.
enum KDFCost: String, ExpressibleByArgument, CaseIterable {
    case interactive
    case moderate
    case sensitive

    /// Whether this build honours test-only knobs: debug builds, which the tests run; never a
    /// release build.
    static var honoursTestKnobs: Bool {
        #if DEBUG
            true
        #else
            false
        #endif
    }

    /// The cost, unless the test-only environment variable `COFFER_TEST_KDF=minimum` asks
    /// for libsodium's minimum so that tests stay fast. Only a debug build honours it; a
    /// release build refuses to run with it set rather than make a passphrase cheap to guess.
    ///
    /// - Throws: a usage failure when the variable is set in a release build, or set to
    ///   anything but `minimum`.
    func cost(in context: CommandContext, honouringTestKnobs: Bool = KDFCost.honoursTestKnobs) throws(CommandFailure)
        -> Argon2id.Cost
    {
        if let knob = context.variable("COFFER_TEST_KDF") {
            guard honouringTestKnobs else {
                throw CommandFailure.usage(
                    "COFFER_TEST_KDF is for the tests of a debug build; this coffer ignores no such setting. Unset it.")
            }
            guard knob == "minimum" else {
                throw CommandFailure.usage("COFFER_TEST_KDF takes only the value minimum.")
            }
            return .minimum
        }
        switch self {
        case .interactive: return .interactive
        case .moderate: return .moderate
        case .sensitive: return .sensitive
        }
    }
}
