import SharedLBCore

/// The subset of CEL that admission `matchConditions` are written in here: `object`,
/// `oldObject` (null on CREATE) and `request` as JSON; field selection `a.b` and `a['b']`,
/// `has(a.b)`, `==`, `!=`, `!`, `&&`, `||`, parentheses, and string, integer, bool and null
/// literals. `&&` and `||` absorb an error on one side when the other decides, as CEL does;
/// selecting a missing field is an error; comparing values of different types is false
/// (heterogeneous equality). Anything else fails to parse, which kube-apiserver would treat as
/// an evaluation error: the webhook's failurePolicy decides.
struct MatchCondition {
    struct EvaluationError: Error, CustomStringConvertible {
        var description: String
    }

    indirect enum Expression {
        case literal(JSONValue)
        case variable(String)
        case select(Expression, String)
        case has(Expression, String)
        case not(Expression)
        case equal(Expression, Expression, negated: Bool)
        case and(Expression, Expression)
        case or(Expression, Expression)
    }

    let expression: Expression

    init(_ text: String) throws(EvaluationError) {
        var parser = Parser(tokens: try Self.tokens(text))
        expression = try parser.parseOr()
        guard parser.position == parser.tokens.count else {
            throw EvaluationError(description: "unexpected \(parser.tokens[parser.position]) in \(text)")
        }
    }

    /// The condition's value for these variables; an error when it is not a bool.
    func matches(_ variables: [String: JSONValue]) throws(EvaluationError) -> Bool {
        guard case .bool(let value) = try Self.evaluate(expression, variables) else {
            throw EvaluationError(description: "the expression does not evaluate to a bool")
        }
        return value
    }

    static func evaluate(_ expression: Expression, _ variables: [String: JSONValue]) throws(EvaluationError)
        -> JSONValue
    {
        switch expression {
        case .literal(let value):
            return value
        case .variable(let name):
            guard let value = variables[name] else {
                throw EvaluationError(description: "undeclared reference to '\(name)'")
            }
            return value
        case .select(let base, let field):
            guard case .object(let object) = try evaluate(base, variables) else {
                throw EvaluationError(description: "no such key: \(field) (not a map)")
            }
            guard let value = object[field] else { throw EvaluationError(description: "no such key: \(field)") }
            return value
        case .has(let base, let field):
            guard case .object(let object) = try evaluate(base, variables) else {
                throw EvaluationError(description: "has(): not a map")
            }
            return .bool(object[field] != nil)
        case .not(let operand):
            guard case .bool(let value) = try evaluate(operand, variables) else {
                throw EvaluationError(description: "no matching overload for '!'")
            }
            return .bool(!value)
        case .equal(let lhs, let rhs, let negated):
            let equal = try evaluate(lhs, variables) == evaluate(rhs, variables)
            return .bool(equal != negated)
        case .and(let lhs, let rhs):
            return try logical(lhs, rhs, variables, deciding: false)
        case .or(let lhs, let rhs):
            return try logical(lhs, rhs, variables, deciding: true)
        }
    }

    /// `&&` (deciding value false) and `||` (true): either side's deciding value wins, even
    /// over an error on the other side.
    private static func logical(
        _ lhs: Expression, _ rhs: Expression, _ variables: [String: JSONValue], deciding: Bool
    ) throws(EvaluationError) -> JSONValue {
        func side(_ expression: Expression) -> Result<Bool, EvaluationError> {
            do {
                guard case .bool(let value) = try evaluate(expression, variables) else {
                    return .failure(EvaluationError(description: "no matching overload for a logical operator"))
                }
                return .success(value)
            } catch {
                return .failure(error)
            }
        }
        let left = side(lhs)
        if case .success(deciding) = left { return .bool(deciding) }
        let right = side(rhs)
        if case .success(deciding) = right { return .bool(deciding) }
        if case .failure(let error) = left { throw error }
        if case .failure(let error) = right { throw error }
        return .bool(!deciding)
    }

    // MARK: Parsing

    enum Token: Equatable, CustomStringConvertible {
        case identifier(String)
        case string(String)
        case integer(String)
        case symbol(String)

        var description: String {
            switch self {
            case .identifier(let text), .integer(let text), .symbol(let text): "'\(text)'"
            case .string(let text): "'\(text)'"
            }
        }
    }

    static func tokens(_ text: String) throws(EvaluationError) -> [Token] {
        var tokens: [Token] = []
        let characters = Array(text)
        var index = 0
        while index < characters.count {
            let character = characters[index]
            if character.isWhitespace {
                index += 1
            } else if character.isLetter || character == "_" {
                var end = index
                while end < characters.count,
                    characters[end].isLetter || characters[end].isNumber || characters[end] == "_"
                {
                    end += 1
                }
                tokens.append(.identifier(String(characters[index..<end])))
                index = end
            } else if character.isNumber {
                var end = index
                while end < characters.count, characters[end].isNumber { end += 1 }
                tokens.append(.integer(String(characters[index..<end])))
                index = end
            } else if character == "'" || character == "\"" {
                var end = index + 1
                while end < characters.count, characters[end] != character {
                    guard characters[end] != "\\" else {
                        throw EvaluationError(description: "escapes are not supported")
                    }
                    end += 1
                }
                guard end < characters.count else { throw EvaluationError(description: "unterminated string") }
                tokens.append(.string(String(characters[(index + 1)..<end])))
                index = end + 1
            } else if index + 1 < characters.count,
                ["&&", "||", "==", "!="].contains(String(characters[index...(index + 1)]))
            {
                tokens.append(.symbol(String(characters[index...(index + 1)])))
                index += 2
            } else if "!().[]".contains(character) {
                tokens.append(.symbol(String(character)))
                index += 1
            } else {
                throw EvaluationError(description: "unsupported character '\(character)'")
            }
        }
        return tokens
    }

    struct Parser {
        let tokens: [Token]
        var position = 0

        mutating func take(_ symbol: String) -> Bool {
            guard position < tokens.count, tokens[position] == .symbol(symbol) else { return false }
            position += 1
            return true
        }

        mutating func expect(_ symbol: String) throws(EvaluationError) {
            guard take(symbol) else { throw EvaluationError(description: "expected '\(symbol)'") }
        }

        mutating func parseOr() throws(EvaluationError) -> Expression {
            var expression = try parseAnd()
            while take("||") { expression = .or(expression, try parseAnd()) }
            return expression
        }

        mutating func parseAnd() throws(EvaluationError) -> Expression {
            var expression = try parseRelation()
            while take("&&") { expression = .and(expression, try parseRelation()) }
            return expression
        }

        mutating func parseRelation() throws(EvaluationError) -> Expression {
            let lhs = try parseUnary()
            if take("==") { return .equal(lhs, try parseUnary(), negated: false) }
            if take("!=") { return .equal(lhs, try parseUnary(), negated: true) }
            return lhs
        }

        mutating func parseUnary() throws(EvaluationError) -> Expression {
            if take("!") { return .not(try parseUnary()) }
            return try parsePostfix()
        }

        mutating func parsePostfix() throws(EvaluationError) -> Expression {
            var expression = try parsePrimary()
            while true {
                if take(".") {
                    guard position < tokens.count, case .identifier(let field) = tokens[position] else {
                        throw EvaluationError(description: "expected a field name after '.'")
                    }
                    position += 1
                    expression = .select(expression, field)
                } else if take("[") {
                    guard position < tokens.count, case .string(let field) = tokens[position] else {
                        throw EvaluationError(description: "only string keys are supported in [...]")
                    }
                    position += 1
                    try expect("]")
                    expression = .select(expression, field)
                } else {
                    return expression
                }
            }
        }

        mutating func parsePrimary() throws(EvaluationError) -> Expression {
            guard position < tokens.count else { throw EvaluationError(description: "unexpected end of expression") }
            let token = tokens[position]
            position += 1
            switch token {
            case .string(let text): return .literal(.string(text))
            case .integer(let text): return .literal(.number(text))
            case .identifier("true"): return .literal(.bool(true))
            case .identifier("false"): return .literal(.bool(false))
            case .identifier("null"): return .literal(.null)
            case .identifier("has"):
                try expect("(")
                guard case .select(let base, let field) = try parsePostfix() else {
                    throw EvaluationError(description: "has() needs a field selection")
                }
                try expect(")")
                return .has(base, field)
            case .identifier(let name): return .variable(name)
            case .symbol("("):
                let inner = try parseOr()
                try expect(")")
                return inner
            default: throw EvaluationError(description: "unexpected \(token)")
            }
        }
    }
}
