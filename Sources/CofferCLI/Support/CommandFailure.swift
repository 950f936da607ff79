import Coffer

/// Why a command failed, with the exit status it maps to. The message is one or two plain
/// sentences that say what to do; it never holds a secret, so it can go to a terminal or a
/// log as it is.
public struct CommandFailure: Error, Sendable {
    /// The exit status.
    public var status: ExitStatus
    /// A short machine word for `--json` errors: an engine code (`wrong_key`) or a CLI one
    /// (`usage`, `no_key`, `not_available`).
    public var code: String
    /// For people.
    public var message: String
    /// Where in the file, when the failure is about the file.
    public var offset: UInt64?
    public var sequence: UInt64?
    /// What a person can pick from, for ambiguities.
    public var candidates: [String]
    /// The `errno` of an I/O failure.
    public var systemError: Int32?
    /// Whether the command already reported everything (a verification report, a dry-run
    /// listing): then nothing more is printed.
    public var isReported: Bool

    public init(
        _ status: ExitStatus, code: String, _ message: String, offset: UInt64? = nil, sequence: UInt64? = nil,
        candidates: [String] = []
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.offset = offset
        self.sequence = sequence
        self.candidates = candidates
        self.systemError = nil
        self.isReported = false
    }

    /// An engine error, with the status ``ExitStatus/init(for:)`` gives it.
    public init(_ error: CofferError, status: ExitStatus? = nil) {
        self.init(
            status ?? ExitStatus(for: error.code), code: error.code.word, error.message, offset: error.offset,
            sequence: error.sequence, candidates: error.candidates)
        if case .io(let number) = error.code { systemError = number }
    }

    /// A command line that cannot work (exit 64).
    static func usage(_ message: String) -> CommandFailure {
        CommandFailure(.usage, code: "usage", message)
    }

    /// A status whose explanation the command has already printed.
    static func reported(_ status: ExitStatus) -> CommandFailure {
        var failure = CommandFailure(status, code: "reported", "")
        failure.isReported = true
        return failure
    }

    /// A feature reserved for a later version (exit 2: the vault cannot be changed that way yet).
    static func notAvailable(_ message: String) -> CommandFailure {
        CommandFailure(.vaultUnavailable, code: "not_available", message)
    }

    /// The error as one JSON document, for standard error under `--json`.
    var json: JSON {
        var object: [String: JSON] = [
            "status": "error", "code": .string(code), "message": .string(message),
            "exit_code": .int(Int64(status.rawValue)),
        ]
        if let offset { object["offset"] = .unsigned(offset) }
        if let sequence { object["seq"] = .unsigned(sequence) }
        if !candidates.isEmpty { object["candidates"] = .array(candidates.map(JSON.string)) }
        if let systemError { object["errno"] = .int(Int64(systemError)) }
        return .object(object)
    }

    /// The error as text for standard error.
    func text(style: Style) -> String {
        var text = style.red("error:") + " " + message
        var location: [String] = []
        if let offset { location.append("offset \(offset)") }
        if let sequence { location.append("sequence \(sequence)") }
        if !location.isEmpty { text += " (" + location.joined(separator: ", ") + ")" }
        for candidate in candidates { text += "\n  " + candidate }
        return text
    }
}
