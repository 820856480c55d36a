/// A plain fixed-width table for terminal output: left-aligned text, right-aligned numbers.
public struct TextTable: Sendable {
    public let header: [String]
    public let rows: [[String]]

    public init(header: [String], rows: [[String]]) {
        self.header = header
        self.rows = rows
    }

    /// The table's lines: header, a rule, then the rows.
    public func lines() -> [String] {
        let columns = header.count
        var widths = header.map(\.count)
        for row in rows {
            for (i, cell) in row.prefix(columns).enumerated() { widths[i] = max(widths[i], cell.count) }
        }
        let numeric = (0..<columns).map { c in
            !rows.isEmpty && rows.allSatisfy { c < $0.count && TextTable.looksNumeric($0[c]) }
        }
        func format(_ cells: [String]) -> String {
            (0..<columns).map { i in
                let cell = i < cells.count ? cells[i] : ""
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return numeric[i] ? pad + cell : cell + pad
            }.joined(separator: "  ").replacingTrailingSpaces()
        }
        return [format(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")]
            + rows.map(format)
    }

    static func looksNumeric(_ s: String) -> Bool {
        guard let first = s.first else { return false }
        return first.isNumber || first == "-" && s.count > 1
    }
}

extension String {
    fileprivate func replacingTrailingSpaces() -> String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}

extension TextTable {
    /// The table as text, one line each, ending in a newline.
    public var text: String { lines().joined(separator: "\n") + "\n" }
}
