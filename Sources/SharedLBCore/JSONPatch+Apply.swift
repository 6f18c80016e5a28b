/// Why a patch did not apply; the API server answers such a patch with an error.
public struct JSONPatchError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

extension JSONPatch {
    /// Decodes an RFC 6902 document (`[{"op":…,"path":…}]`), as a client or the API server receives it.
    public init(json: JSONValue) throws(JSONPatchError) {
        guard case .array(let elements) = json else { throw JSONPatchError("a JSON patch must be an array") }
        var operations: [JSONPatchOperation] = []
        for element in elements {
            guard let op = element["op"]?.stringValue else { throw JSONPatchError("operation without \"op\"") }
            guard let path = element["path"]?.stringValue else { throw JSONPatchError("operation without \"path\"") }
            let pointer = try JSONPointer(parsing: path)
            switch op {
            case "add", "replace":
                guard let value = element["value"] else { throw JSONPatchError("\(op) operation without \"value\"") }
                operations.append(
                    op == "add" ? .add(path: pointer, value: value) : .replace(path: pointer, value: value))
            case "remove":
                operations.append(.remove(path: pointer))
            default:
                // move, copy and test are valid RFC 6902 but nothing in SharedLB sends them.
                throw JSONPatchError("unsupported operation \"\(op)\"")
            }
        }
        self.init(operations)
    }

    /// Applies the patch to `document` as RFC 6902 says: all or nothing, and `remove` or
    /// `replace` of a missing member fails (kube-apiserver then rejects the request).
    public func apply(to document: JSONValue) throws(JSONPatchError) -> JSONValue {
        var result = document
        for operation in operations {
            try Self.apply(operation, tokens: operation.path.tokens[...], to: &result)
        }
        return result
    }

    private static func apply(
        _ operation: JSONPatchOperation, tokens: ArraySlice<String>, to node: inout JSONValue
    ) throws(JSONPatchError) {
        guard let token = tokens.first else {
            // The whole document.
            switch operation {
            case .add(_, let value), .replace(_, let value): node = value
            case .remove: throw JSONPatchError("cannot remove the whole document")
            }
            return
        }
        let last = tokens.count == 1
        switch node {
        case .object(var object):
            if last {
                switch operation {
                case .add(_, let value):
                    object[token] = value
                case .replace(_, let value):
                    guard object[token] != nil else {
                        throw JSONPatchError("replace operation does not apply: doc is missing key: \(operation.path)")
                    }
                    object[token] = value
                case .remove:
                    guard object[token] != nil else {
                        throw JSONPatchError("Unable to remove nonexistent key: \(token): missing value")
                    }
                    object[token] = nil
                }
            } else {
                guard var child = object[token] else {
                    throw JSONPatchError("doc is missing path: \(operation.path): missing value")
                }
                try apply(operation, tokens: tokens.dropFirst(), to: &child)
                object[token] = child
            }
            node = .object(object)
        case .array(var array):
            let index: Int
            if token == "-", last, case .add = operation {
                index = array.count
            } else if let parsed = Int(token), parsed >= 0, String(parsed) == token {
                index = parsed
            } else {
                throw JSONPatchError("invalid array index \"\(token)\" in \(operation.path)")
            }
            if last {
                switch operation {
                case .add(_, let value):
                    guard index <= array.count else {
                        throw JSONPatchError("index \(index) out of range in \(operation.path)")
                    }
                    array.insert(value, at: index)
                case .replace(_, let value):
                    guard index < array.count else {
                        throw JSONPatchError("index \(index) out of range in \(operation.path)")
                    }
                    array[index] = value
                case .remove:
                    guard index < array.count else {
                        throw JSONPatchError("index \(index) out of range in \(operation.path)")
                    }
                    array.remove(at: index)
                }
            } else {
                guard index < array.count else {
                    throw JSONPatchError("index \(index) out of range in \(operation.path)")
                }
                try apply(operation, tokens: tokens.dropFirst(), to: &array[index])
            }
            node = .array(array)
        default:
            throw JSONPatchError("cannot apply \(operation.path): \(node.kindName) has no members")
        }
    }
}

extension JSONPointer {
    /// Parses `/a/b~1c` (RFC 6901): `~1` is `/`, `~0` is `~`; `""` is the whole document.
    public init(parsing pointer: String) throws(JSONPatchError) {
        guard !pointer.isEmpty else {
            self.init(tokens: [])
            return
        }
        guard pointer.hasPrefix("/") else { throw JSONPatchError("JSON pointer \"\(pointer)\" does not start with /") }
        var tokens: [String] = []
        for raw in pointer.utf8.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            var token: [UInt8] = []
            var iterator = raw.makeIterator()
            while let byte = iterator.next() {
                guard byte == UInt8(ascii: "~") else {
                    token.append(byte)
                    continue
                }
                switch iterator.next() {
                case UInt8(ascii: "0"): token.append(UInt8(ascii: "~"))
                case UInt8(ascii: "1"): token.append(UInt8(ascii: "/"))
                default: throw JSONPatchError("invalid escape in JSON pointer \"\(pointer)\"")
                }
            }
            tokens.append(String(decoding: token, as: UTF8.self))
        }
        self.init(tokens: tokens)
    }
}

/// JSON Merge Patch (RFC 7386), what `application/merge-patch+json` requests carry.
public enum JSONMergePatch {
    /// Objects merge member by member, `null` deletes a member, anything else replaces.
    public static func apply(_ patch: JSONValue, to target: JSONValue) -> JSONValue {
        guard case .object(let patchObject) = patch else { return patch }
        var result = target.objectValue ?? JSONObject()
        for member in patchObject.members {
            if member.value.isNull {
                result[member.key] = nil
            } else {
                result[member.key] = apply(member.value, to: result[member.key] ?? .null)
            }
        }
        return .object(result)
    }
}
