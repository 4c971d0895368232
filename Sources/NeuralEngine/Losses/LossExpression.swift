/// Parses a loss config string such as `xent_plus + 0.1*dice_soft` or
/// `mce + mdice + 2*(ece + edice)` into a `WeightedLoss`.
///
/// Grammar (whitespace ignored; columns in errors count characters from 1):
///
///     sum     := product ( "+" product )*
///     product := factor ( "*" factor )*
///     factor  := NUMBER | NAME | "(" sum ")"
///     NUMBER  := digits [ "." digits ] [ ("e"|"E") ["+"|"-"] digits ]   (or "." digits ...)
///     NAME    := [a-z_][a-z0-9_]*   — one of `LossCatalog.names`
///
/// The result must be linear in the losses with positive weights: a product may hold at most one
/// loss, a bare number may not be added to a loss, and there is no subtraction. A loss named
/// twice has its weights added; terms keep the order of first appearance.
public enum LossExpression {
    public static func parse(_ text: String, options: LossOptions = LossOptions()) throws(EngineError) -> WeightedLoss {
        var parser = Parser(text: text)
        let value = try parser.parseAll()
        guard case .linear(let terms) = value else {
            throw parser.error(.lossSyntax, "the expression is a number, not a loss", column: 1,
                               remedy: "name at least one loss, e.g. \"xent_plus + 0.1*dice_soft\"")
        }
        var result: [WeightedLoss.Term] = []
        for t in terms {
            guard t.weight > 0 else {
                throw parser.error(.lossSyntax, "\"\(t.name)\" has weight \(formatWeight(t.weight))", column: t.column,
                                   remedy: "give every loss a positive weight or leave it out")
            }
            guard let loss = LossCatalog.make(t.name, options: options) else {
                throw parser.error(.lossUnknownTerm,
                                   "unknown loss \"\(t.name)\" at column \(t.column); known losses: \(LossCatalog.names.joined(separator: ", "))",
                                   column: t.column, remedy: "use one of the known names (docs/losses.md)")
            }
            result.append(WeightedLoss.Term(name: t.name, weight: t.weight, loss: loss))
        }
        return WeightedLoss(terms: result)
    }
}

extension EngineError.Code {
    /// A loss config string does not follow the grammar (docs/losses.md).
    public static let lossSyntax = Self("loss_syntax")
    /// A loss config string names a loss that does not exist.
    public static let lossUnknownTerm = Self("loss_unknown_term")
}

/// A parsed sub-expression: a plain number or a weighted sum of named losses.
private enum Value {
    case number(Double, column: Int)
    case linear([(name: String, weight: Double, column: Int)])
}

private struct Parser {
    let text: String
    let chars: [Character]
    var pos = 0

    init(text: String) {
        self.text = text
        chars = Array(text)
    }

    func error(_ code: EngineError.Code, _ reason: String, column: Int, remedy: String) -> EngineError {
        let caret = String(repeating: " ", count: max(column - 1, 0)) + "^"
        return EngineError(code, input: "loss expression", reason: "\(reason)\n  \(text)\n  \(caret)", remedy: remedy)
    }

    mutating func skipSpaces() {
        while pos < chars.count, chars[pos].isWhitespace { pos += 1 }
    }

    mutating func parseAll() throws(EngineError) -> Value {
        skipSpaces()
        guard pos < chars.count else {
            throw error(.lossSyntax, "the loss expression is empty", column: 1, remedy: "write e.g. \"xent_plus + 0.1*dice_soft\"")
        }
        let v = try parseSum()
        skipSpaces()
        if pos < chars.count {
            throw unexpected(expected: "\"+\", \"*\" or the end")
        }
        return v
    }

    mutating func unexpected(expected: String) -> EngineError {
        if pos >= chars.count {
            return error(.lossSyntax, "unexpected end of the expression at column \(chars.count + 1), expected \(expected)",
                         column: chars.count + 1, remedy: "complete the expression (grammar in docs/losses.md)")
        }
        let ch = chars[pos]
        if ch == "-" {
            return error(.lossSyntax, "\"-\" at column \(pos + 1): subtraction and negative weights are not supported",
                         column: pos + 1, remedy: "every term adds to the loss; write positive weights only")
        }
        return error(.lossSyntax, "unexpected \"\(ch)\" at column \(pos + 1), expected \(expected)",
                     column: pos + 1, remedy: "fix the expression (grammar in docs/losses.md)")
    }

    mutating func parseSum() throws(EngineError) -> Value {
        var acc = try parseProduct()
        while true {
            skipSpaces()
            guard pos < chars.count, chars[pos] == "+" else { return acc }
            pos += 1
            let rhs = try parseProduct()
            switch (acc, rhs) {
            case (.linear(let a), .linear(let b)): acc = .linear(merge(a, b))
            case (.number(_, let col), _), (_, .number(_, let col)):
                throw error(.lossSyntax, "the number at column \(col) is added, not attached to a loss", column: col,
                            remedy: "write a weight as NUMBER*loss, e.g. 0.1*dice_soft")
            }
        }
    }

    mutating func parseProduct() throws(EngineError) -> Value {
        var acc = try parseFactor()
        while true {
            skipSpaces()
            guard pos < chars.count, chars[pos] == "*" else { return acc }
            let starColumn = pos + 1
            pos += 1
            let rhs = try parseFactor()
            switch (acc, rhs) {
            case (.number(let a, let col), .number(let b, _)): acc = .number(a * b, column: col)
            case (.number(let a, _), .linear(let t)), (.linear(let t), .number(let a, _)):
                acc = .linear(t.map { ($0.name, $0.weight * a, $0.column) })
            case (.linear, .linear):
                throw error(.lossSyntax, "\"*\" at column \(starColumn) multiplies two losses; a weight must be a number",
                            column: starColumn, remedy: "add losses with \"+\" and weight them with numbers")
            }
        }
    }

    mutating func parseFactor() throws(EngineError) -> Value {
        skipSpaces()
        guard pos < chars.count else { throw unexpected(expected: "a number, a loss name or \"(\"") }
        let start = pos
        let ch = chars[pos]
        if ch == "(" {
            pos += 1
            let inner = try parseSum()
            skipSpaces()
            guard pos < chars.count, chars[pos] == ")" else {
                if pos >= chars.count {
                    throw error(.lossSyntax, "missing \")\" for the \"(\" at column \(start + 1)", column: start + 1,
                                remedy: "close every parenthesis")
                }
                throw unexpected(expected: "\"+\", \"*\" or \")\"")
            }
            pos += 1
            return inner
        }
        if ch.isNumber || ch == "." {
            return try parseNumber()
        }
        if ch == "_" || (ch.isASCII && ch.isLetter) {
            while pos < chars.count, chars[pos] == "_" || (chars[pos].isASCII && (chars[pos].isLetter || chars[pos].isNumber)) {
                pos += 1
            }
            return .linear([(String(chars[start..<pos]).lowercased(), 1, start + 1)])
        }
        throw unexpected(expected: "a number, a loss name or \"(\"")
    }

    mutating func parseNumber() throws(EngineError) -> Value {
        let start = pos
        func digits(_ p: inout Int) -> Int {
            let s = p
            while p < chars.count, chars[p].isASCII, chars[p].isNumber { p += 1 }
            return p - s
        }
        var p = pos
        var count = digits(&p)
        if p < chars.count, chars[p] == "." {
            p += 1
            count += digits(&p)
        }
        if count > 0, p < chars.count, chars[p] == "e" || chars[p] == "E" {
            var q = p + 1
            if q < chars.count, chars[q] == "+" || chars[q] == "-" { q += 1 }
            if digits(&q) > 0 { p = q }
        }
        let literal = String(chars[start..<p])
        guard count > 0, let value = Double(literal), value.isFinite else {
            throw error(.lossSyntax, "\"\(literal)\" at column \(start + 1) is not a number", column: start + 1,
                        remedy: "write weights like 2, 0.1 or 1e-3")
        }
        pos = p
        return .number(value, column: start + 1)
    }

    func merge(_ a: [(name: String, weight: Double, column: Int)], _ b: [(name: String, weight: Double, column: Int)])
        -> [(name: String, weight: Double, column: Int)]
    {
        var out = a
        for t in b {
            if let i = out.firstIndex(where: { $0.name == t.name }) { out[i].weight += t.weight } else { out.append(t) }
        }
        return out
    }
}
