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
    ///
    /// Written straight into bytes: this runs for every converted Service.
    public var encoded: [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(operations.count * 64)
        output.append(UInt8(ascii: "["))
        for (offset, operation) in operations.enumerated() {
            if offset > 0 { output.append(UInt8(ascii: ",")) }
            let (name, value): (StaticString, JSONValue?) =
                switch operation {
                case .add(_, let value): ("add", value)
                case .replace(_, let value): ("replace", value)
                case .remove: ("remove", nil)
                }
            output.append(contentsOf: #"{"op":""#.utf8)
            output.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            output.append(contentsOf: #"","path":""#.utf8)
            operation.path.write(into: &output, escapingForJSON: true)
            output.append(UInt8(ascii: "\""))
            if let value {
                output.append(contentsOf: #","value":"#.utf8)
                JSONWriter.write(value, into: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
        output.append(UInt8(ascii: "]"))
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
        var output: [UInt8] = []
        write(into: &output, escapingForJSON: false)
        return String(decoding: output, as: UTF8.self)
    }

    /// Appends the pointer; with `escapingForJSON`, also escaped for a JSON string literal.
    func write(into output: inout [UInt8], escapingForJSON: Bool) {
        for token in tokens {
            output.append(UInt8(ascii: "/"))
            for byte in token.utf8 {
                switch byte {
                case UInt8(ascii: "~"): output.append(contentsOf: "~0".utf8)
                case UInt8(ascii: "/"): output.append(contentsOf: "~1".utf8)
                default:
                    if escapingForJSON {
                        JSONWriter.writeEscaped(byte, into: &output)
                    } else {
                        output.append(byte)
                    }
                }
            }
        }
    }
}
