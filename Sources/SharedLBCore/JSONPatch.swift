/// One RFC 6902 operation of the kinds the webhook emits.
public enum JSONPatchOperation: Sendable, Equatable {
    case add(path: JSONPointer, value: JSONValue)
    case replace(path: JSONPointer, value: JSONValue)
    case remove(path: JSONPointer)

    public var path: JSONPointer {
        switch self {
        case .add(let path, _), .replace(let path, _), .remove(let path): path
        }
    }

    /// The operation as the JSON object RFC 6902 defines.
    public var json: JSONValue {
        switch self {
        case .add(let path, let value):
            .object(JSONObject([("op", .string("add")), ("path", .string(path.description)), ("value", value)]))
        case .replace(let path, let value):
            .object(JSONObject([("op", .string("replace")), ("path", .string(path.description)), ("value", value)]))
        case .remove(let path):
            .object(JSONObject([("op", .string("remove")), ("path", .string(path.description))]))
        }
    }
}

/// A JSON Patch document (RFC 6902).
public struct JSONPatch: Sendable, Equatable {
    public var operations: [JSONPatchOperation]

    public init(_ operations: [JSONPatchOperation] = []) {
        self.operations = operations
    }

    public var isEmpty: Bool { operations.isEmpty }

    /// The patch as compact JSON bytes, ready to be base64-encoded into an AdmissionReview.
    public var encoded: [UInt8] {
        var output: [UInt8] = []
        JSONWriter.write(.array(operations.map(\.json)), into: &output)
        return output
    }
}

/// A JSON Pointer (RFC 6901) built from unescaped reference tokens.
///
/// ```swift
/// JSONPointer("metadata", "labels", "sharedlb.io/managed").description
/// // "/metadata/labels/sharedlb.io~1managed"
/// ```
public struct JSONPointer: Sendable, Hashable, CustomStringConvertible {
    public var tokens: [String]

    public init(_ tokens: String...) {
        self.tokens = tokens
    }

    public init(tokens: [String]) {
        self.tokens = tokens
    }

    public func appending(_ token: String) -> JSONPointer {
        JSONPointer(tokens: tokens + [token])
    }

    /// The pointer's string form: `~` becomes `~0` and `/` becomes `~1` in each token.
    public var description: String {
        var result = ""
        for token in tokens {
            result += "/"
            result += token.replacing("~", with: "~0").replacing("/", with: "~1")
        }
        return result
    }
}
