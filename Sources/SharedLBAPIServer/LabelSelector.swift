public import SharedLBCore

/// A parsed `labelSelector` query parameter, in Kubernetes' syntax:
/// `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x,y)`, `a`, `!a`, comma-separated (all must hold).
public struct LabelSelector: Sendable, Equatable {
    public enum Requirement: Sendable, Equatable {
        case equals(String, String)
        case notEquals(String, String)
        case isIn(String, Set<String>)
        case notIn(String, Set<String>)
        case exists(String)
        case doesNotExist(String)
    }

    public var requirements: [Requirement]

    /// The empty selector matches everything.
    public static let everything = LabelSelector(requirements: [])

    public init(requirements: [Requirement]) {
        self.requirements = requirements
    }

    /// Parses a selector; errors carry kube-apiserver's wording for a 400 answer.
    public init(parsing text: String) throws(APIStatus) {
        var requirements: [Requirement] = []
        for clause in Self.splitClauses(text) {
            let trimmed = clause.trimmingSpaces
            guard !trimmed.isEmpty else { continue }
            requirements.append(try Self.parseRequirement(trimmed))
        }
        self.init(requirements: requirements)
    }

    public func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { requirement in
            switch requirement {
            case .equals(let key, let value): labels[key] == value
            case .notEquals(let key, let value): labels[key] != value
            case .isIn(let key, let values): labels[key].map(values.contains) ?? false
            case .notIn(let key, let values): !(labels[key].map(values.contains) ?? false)
            case .exists(let key): labels[key] != nil
            case .doesNotExist(let key): labels[key] == nil
            }
        }
    }

    /// Matches an object's `metadata.labels` (absent labels are an empty set).
    public func matches(object: JSONValue) -> Bool {
        matches(Self.labels(of: object))
    }

    static func labels(of object: JSONValue) -> [String: String] {
        var labels: [String: String] = [:]
        for member in object["metadata"]?["labels"]?.objectValue?.members ?? [] {
            if let value = member.value.stringValue { labels[member.key] = value }
        }
        return labels
    }

    /// Commas separate clauses, except inside `( … )`.
    private static func splitClauses(_ text: String) -> [Substring] {
        var clauses: [Substring] = []
        var depth = 0
        var start = text.startIndex
        for index in text.indices {
            switch text[index] {
            case "(": depth += 1
            case ")": depth -= 1
            case "," where depth == 0:
                clauses.append(text[start..<index])
                start = text.index(after: index)
            default: break
            }
        }
        clauses.append(text[start...])
        return clauses
    }

    private static func parseRequirement(_ clause: String) throws(APIStatus) -> Requirement {
        func fail(_ detail: String) -> APIStatus {
            .badRequest("unable to parse requirement: \(detail)")
        }
        if clause.hasPrefix("!") {
            let key = String(clause.dropFirst()).trimmingSpaces
            try validateKey(key)
            return .doesNotExist(key)
        }
        for (symbol, make) in [("!=", Requirement.notEquals), ("==", Requirement.equals), ("=", Requirement.equals)] {
            if let range = clause.firstRange(of: symbol) {
                let key = String(clause[..<range.lowerBound]).trimmingSpaces
                let value = String(clause[range.upperBound...]).trimmingSpaces
                try validateKey(key)
                try validateValue(value)
                return make(key, value)
            }
        }
        let words = clause.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        if words.count == 2 {
            let key = String(words[0])
            let rest = words[1].trimmingSpaces
            for (keyword, isIn) in [("notin", false), ("in", true)] where rest.hasPrefix(keyword) {
                let list = rest.dropFirst(keyword.count).trimmingSpaces
                guard list.hasPrefix("("), list.hasSuffix(")") else {
                    throw fail("found '\(list)', expected: '('")
                }
                let values = list.dropFirst().dropLast().split(separator: ",", omittingEmptySubsequences: false).map {
                    $0.trimmingSpaces
                }
                guard !values.isEmpty, values.allSatisfy({ !$0.isEmpty }) else {
                    throw fail("for 'in', 'notin' operators, values set can't be empty")
                }
                try validateKey(key)
                for value in values { try validateValue(value) }
                return isIn ? .isIn(key, Set(values)) : .notIn(key, Set(values))
            }
            throw fail("found '\(rest)', expected: in, notin, =, ==, !=, gt, lt")
        }
        try validateKey(clause)
        return .exists(clause)
    }

    /// A label key: an optional DNS-subdomain prefix and `/`, then a name of at most 63 characters.
    private static func validateKey(_ key: String) throws(APIStatus) {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard !key.isEmpty, parts.count <= 2, let name = parts.last, isLabelToken(name, allowEmpty: false),
            parts.count == 1 || (!parts[0].isEmpty && parts[0].count <= 253)
        else {
            throw APIStatus.badRequest("unable to parse requirement: invalid label key \"\(key)\"")
        }
    }

    private static func validateValue(_ value: String) throws(APIStatus) {
        guard isLabelToken(value[...], allowEmpty: true) else {
            throw APIStatus.badRequest("unable to parse requirement: invalid label value: \"\(value)\"")
        }
    }

    /// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, at most 63 characters.
    private static func isLabelToken(_ token: Substring, allowEmpty: Bool) -> Bool {
        if token.isEmpty { return allowEmpty }
        guard token.count <= 63, let first = token.first, let last = token.last,
            first.isASCII, first.isLetter || first.isNumber, last.isASCII, last.isLetter || last.isNumber
        else { return false }
        return token.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        var scalars = Substring(self)
        while scalars.first == " " { scalars.removeFirst() }
        while scalars.last == " " { scalars.removeLast() }
        return String(scalars)
    }
}

extension LabelSelector {
    /// A `metav1.LabelSelector` object (`matchLabels`, `matchExpressions`); absent or empty matches everything.
    public init(json: JSONValue?) {
        var requirements: [Requirement] = []
        for member in json?["matchLabels"]?.objectValue?.members ?? [] {
            if let value = member.value.stringValue { requirements.append(.equals(member.key, value)) }
        }
        for expression in json?["matchExpressions"]?.arrayValue ?? [] {
            guard let key = expression["key"]?.stringValue else { continue }
            let values = Set((expression["values"]?.arrayValue ?? []).compactMap(\.stringValue))
            switch expression["operator"]?.stringValue {
            case "In": requirements.append(.isIn(key, values))
            case "NotIn": requirements.append(.notIn(key, values))
            case "Exists": requirements.append(.exists(key))
            case "DoesNotExist": requirements.append(.doesNotExist(key))
            default: requirements.append(.isIn(key, []))  // an unknown operator matches nothing
            }
        }
        self.init(requirements: requirements)
    }
}
