import Coffer
import CofferExchange

/// The CLI writes its JSON (every `--json` output, every error on standard error) with the
/// exchange's writer, the one that handles secrets (``JSONValue``).
typealias JSON = JSONValue

extension JSONValue {
    /// Writes the value and a newline to `sink`: indented by two spaces, or on one line when
    /// `compact`. The text is made in locked memory and handed to the sink in one piece.
    func write(to sink: any OutputSink, compact: Bool = false) {
        let buffer = SecretBuffer()
        if compact {
            writeCompact(to: buffer)
            buffer.append(UInt8(ascii: "\n"))
        } else {
            write(to: buffer)
        }
        buffer.withUnsafeBytes { sink.write($0) }
    }
}
