/// An error from ``JSONParser``, with the byte offset where parsing stopped.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var offset: Int

    public var description: String { "invalid JSON at byte \(offset): \(message)" }
}

/// A strict RFC 8259 parser from UTF-8 bytes to ``JSONValue``.
///
/// Written for untrusted input: it never traps on any byte sequence, bounds nesting
/// depth (deep `[[[[…` input cannot exhaust the stack of a server thread), rejects
/// invalid UTF-8 and unpaired surrogates, and allows only white space after the value.
public struct JSONParser {
    /// Kubernetes objects nest a few dozen levels at most (managedFields included).
    public static let defaultMaximumDepth = 128

    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    private let maximumDepth: Int
    /// Members checked as strictly as the rest but not kept.
    private let skipped: Skip?
    /// Where skipped strings' escapes and UTF-8 sequences are checked.
    var scratch: [UInt8] = []

    private init(bytes: UnsafeBufferPointer<UInt8>, maximumDepth: Int, skipped: Skip?) {
        self.bytes = bytes
        self.maximumDepth = maximumDepth
        self.skipped = skipped
    }

    /// Members named `member` of any object that is the value of a member named `parent`.
    public struct Skip: Sendable {
        public var parent: String
        public var member: String

        public init(parent: String, member: String) {
            self.parent = parent
            self.member = member
        }

        /// `metadata.managedFields`, which the webhook never reads: a quarter of a typical
        /// review's bytes, and thousands of entries in a large one.
        public static let managedFields = Skip(parent: "metadata", member: "managedFields")
    }

    /// Parses one JSON document.
    ///
    /// ```swift
    /// let value = try JSONParser.parse(Array(#"{"spec":{"type":"LoadBalancer"}}"#.utf8))
    /// value["spec"]?["type"]?.stringValue  // "LoadBalancer"
    /// ```
    ///
    /// With `skipping`, the members it names are validated as strictly as everything else
    /// (the same error at the same offset) but left out of the result.
    public static func parse<Bytes: Collection<UInt8>>(
        _ input: Bytes,
        maximumDepth: Int = defaultMaximumDepth,
        skipping: Skip? = nil
    ) throws(JSONParseError) -> JSONValue {
        let result: Result<JSONValue, JSONParseError>? = input.withContiguousStorageIfAvailable {
            Self.parse(buffer: $0, maximumDepth: maximumDepth, skipped: skipping)
        }
        switch result
            ?? Array(input).withUnsafeBufferPointer({
                Self.parse(buffer: $0, maximumDepth: maximumDepth, skipped: skipping)
            })
        {
        case .success(let value): return value
        case .failure(let error): throw error
        }
    }

    private static func parse(
        buffer: UnsafeBufferPointer<UInt8>,
        maximumDepth: Int,
        skipped: Skip?
    ) -> Result<JSONValue, JSONParseError> {
        var parser = JSONParser(bytes: buffer, maximumDepth: maximumDepth, skipped: skipped)
        return Result { () throws(JSONParseError) -> JSONValue in
            parser.skipWhitespace()
            let value = try parser.parseValue(depth: 0)
            parser.skipWhitespace()
            guard parser.index == parser.bytes.count else {
                throw parser.error("unexpected data after the document")
            }
            return value
        }
    }

    func error(_ message: String) -> JSONParseError {
        JSONParseError(message: message, offset: index)
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    /// `key`: the member name this value belongs to (`nil` at the top and in arrays).
    private mutating func parseValue(depth: Int, key: String? = nil) throws(JSONParseError) -> JSONValue {
        guard index < bytes.count else { throw error("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1, key: key)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .number(try parseNumber())
        default:
            throw error("unexpected character")
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - index >= count else { throw error("unexpected end of input") }
        for offset in 0..<count where bytes[index + offset] != literal.utf8Start[offset] {
            throw error("invalid literal")
        }
        index += count
    }

    private mutating func parseObject(depth: Int, key objectKey: String?) throws(JSONParseError) -> JSONValue {
        let skippedMember = objectKey != nil && objectKey == skipped?.parent ? skipped?.member : nil
        guard depth <= maximumDepth else { throw error("nesting deeper than \(maximumDepth) levels") }
        index += 1
        var members: [JSONObject.Member] = []
        members.reserveCapacity(8)
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(JSONObject(members: members))
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                throw error("expected a string key")
            }
            let key = try parseString()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
            index += 1
            skipWhitespace()
            if let skippedMember, key == skippedMember {
                try skipValue(depth: depth)
            } else {
                members.append(JSONObject.Member(key, try parseValue(depth: depth, key: key)))
            }
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(JSONObject(members: members))
            } else {
                throw error("expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= maximumDepth else { throw error("nesting deeper than \(maximumDepth) levels") }
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            } else {
                throw error("expected ',' or ']'")
            }
        }
    }

    /// Checks one value as ``parseValue(depth:)`` would, keeping nothing.
    private mutating func skipValue(depth: Int) throws(JSONParseError) {
        guard index < bytes.count else { throw error("unexpected end of input") }
        let close: UInt8
        switch bytes[index] {
        case UInt8(ascii: "{"): close = UInt8(ascii: "}")
        case UInt8(ascii: "["): close = UInt8(ascii: "]")
        case UInt8(ascii: "\""):
            try skipString()
            return
        default:
            _ = try parseValue(depth: depth)  // a scalar: nothing worth skipping
            return
        }
        guard depth + 1 <= maximumDepth else { throw error("nesting deeper than \(maximumDepth) levels") }
        index += 1
        skipWhitespace()
        if index < bytes.count, bytes[index] == close {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            if close == UInt8(ascii: "}") {
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                    throw error("expected a string key")
                }
                try skipString()
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
                index += 1
                skipWhitespace()
            }
            try skipValue(depth: depth + 1)
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == close {
                index += 1
                return
            } else {
                throw error(close == UInt8(ascii: "}") ? "expected ',' or '}'" : "expected ',' or ']'")
            }
        }
    }

    private mutating func parseNumber() throws(JSONParseError) -> String {
        let start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            skipDigits()
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number") }
            skipDigits()
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number") }
            skipDigits()
        }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
    }

    private func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private mutating func skipDigits() {
        while index < bytes.count, isDigit(bytes[index]) { index += 1 }
    }

}
