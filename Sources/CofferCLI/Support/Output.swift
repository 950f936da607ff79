import Coffer

/// ANSI styling that is a no-op unless enabled: colour only on a terminal and never when
/// `NO_COLOR` is set (https://no-color.org).
struct Style {
    let enabled: Bool

    private func wrap(_ text: String, _ code: String) -> String {
        enabled ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }

    func bold(_ text: String) -> String { wrap(text, "1") }
    func dim(_ text: String) -> String { wrap(text, "2") }
    func red(_ text: String) -> String { wrap(text, "31") }
    func green(_ text: String) -> String { wrap(text, "32") }
    func yellow(_ text: String) -> String { wrap(text, "33") }
}

/// An aligned text table: columns separated by two spaces, a header row, no trailing spaces.
///
/// ```
/// SLUG  NAME        ID
/// acme  Acme Corp.  org_0t3m…
/// ```
struct Table {
    var headers: [String]
    var rows: [[String]] = []
    /// Columns never cut to fit a terminal, by header: what people copy or read a row by.
    var whole: Set<String> = ["ID"]

    init(_ headers: String...) {
        self.headers = headers
    }

    init(headers: [String]) {
        self.headers = headers
    }

    mutating func append(_ row: String...) {
        rows.append(row)
    }

    mutating func append(row: [String]) {
        rows.append(row)
    }

    /// The table as lines of text; an empty table is its header alone. With `columns` (a
    /// terminal's width), columns are narrowed until lines fit (``fitting(_:into:whole:)``)
    /// and their longer cells cut with `…`.
    func render(style: Style, columns: Int? = nil) -> String {
        var widths = headers.map(\.count)
        for row in rows {
            for (column, cell) in row.enumerated() where column < widths.count {
                widths[column] = max(widths[column], cell.count)
            }
        }
        if let columns {
            widths = Self.fitting(
                widths, into: columns, whole: Set(headers.indices.filter { whole.contains(headers[$0]) }))
        }
        func fitted(_ cell: String, _ width: Int) -> String {
            cell.count <= width ? cell : String(cell.prefix(width - 1)) + "…"
        }
        func line(_ cells: [String], header: Bool) -> String {
            var text = ""
            for (column, whole) in cells.enumerated() {
                let isLast = column == cells.count - 1
                let cell = column < widths.count ? fitted(whole, widths[column]) : whole
                let padded = isLast ? cell : cell + String(repeating: " ", count: widths[column] - cell.count)
                text += header ? style.bold(padded) : padded
                if !isLast { text += "  " }
            }
            return text
        }
        var lines = [line(headers, header: true)]
        lines += rows.map { line($0, header: false) }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The fewest characters the last column keeps before others are narrowed.
    static let lastColumnFloor = 16
    /// The fewest characters any other narrowed column keeps: seven and the `…`.
    static let columnFloor = 8

    /// Column widths whose line, with two spaces between columns, is at most `columns` long.
    /// The last column (free text: fields, labels) gives up room first, down to
    /// ``lastColumnFloor``; then the widest column, each down to ``columnFloor``, to the width
    /// of the next widest or by what is still too much. Columns in `whole` are never
    /// narrowed, and none goes below its floor, so a terminal too narrow for the columns at
    /// their floors still wraps rather than make rows unreadable.
    static func fitting(_ natural: [Int], into columns: Int, whole: Set<Int> = []) -> [Int] {
        var widths = natural
        var excess = widths.reduce(0, +) + 2 * max(widths.count - 1, 0) - columns
        if excess > 0, let last = widths.indices.last, !whole.contains(last), widths[last] > lastColumnFloor {
            let narrowed = max(lastColumnFloor, widths[last] - excess)
            excess -= widths[last] - narrowed
            widths[last] = narrowed
        }
        let cuttable = widths.indices.filter { !whole.contains($0) }
        while excess > 0 {
            guard let widest = cuttable.max(by: { widths[$0] < widths[$1] }), widths[widest] > columnFloor else {
                break
            }
            let next = cuttable.filter { $0 != widest }.map { widths[$0] }.max() ?? 0
            let narrowed = max(
                columnFloor, next < widths[widest] ? max(next, widths[widest] - excess) : widths[widest] - 1)
            excess -= widths[widest] - narrowed
            widths[widest] = narrowed
        }
        return widths
    }
}

/// Aligned `name  value` lines, for one object (`credentials get`, `inspect`).
struct Fields {
    var pairs: [(String, String)] = []

    mutating func append(_ name: String, _ value: String) {
        pairs.append((name, value))
    }

    func render(style: Style) -> String {
        let width = pairs.map(\.0.count).max() ?? 0
        return pairs.map { name, value in
            style.bold(name + ":") + String(repeating: " ", count: width - name.count + 2) + value
        }.joined(separator: "\n") + "\n"
    }
}

/// Writes a command's answer: one JSON document under `--json`, text otherwise.
struct Output {
    let context: CommandContext
    let json: Bool
    /// `--quiet`: no notes.
    var quiet = false

    var style: Style { context.outputStyle }

    /// Writes the answer: `document` under `--json`, `text()` otherwise.
    func emit(_ document: @autoclosure () -> JSON, text: () -> String) {
        if json {
            document().write(to: context.standardOutput)
        } else {
            let rendered = text()
            if !rendered.isEmpty { context.print(rendered) }
        }
    }

    /// A note for people on standard error (never under `--json`, where the document says
    /// it, nor with `--quiet`).
    func note(_ text: String) {
        guard !json && !quiet else { return }
        context.printError(text)
    }

    /// A warning on standard error, also under `--json` (it is not part of the answer).
    func warn(_ text: String) {
        var context = context
        context.wantsJSON = json
        context.warn(text)
    }
}
