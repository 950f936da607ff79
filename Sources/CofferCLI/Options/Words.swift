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

    /// The cost, unless the test-only environment variable `COFFER_TEST_KDF=minimum` asks
    /// for libsodium's minimum so that tests stay fast. Never set it for a real vault: the
    /// minimum cost makes a passphrase cheap to guess.
    func cost(in context: CommandContext) -> Argon2id.Cost {
        if context.environment["COFFER_TEST_KDF"] == "minimum" { return .minimum }
        switch self {
        case .interactive: return .interactive
        case .moderate: return .moderate
        case .sensitive: return .sensitive
        }
    }
}
