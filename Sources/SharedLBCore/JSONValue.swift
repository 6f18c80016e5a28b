/// A JSON document as parsed from the wire.
///
/// The webhook reads Kubernetes objects through this type instead of a typed model:
/// it must see exactly which keys are present (a JSON Patch `remove` of a missing
/// key fails the whole API request) and must never re-encode an object it did not
/// build. Numbers keep their source text so that recording them (for example a
/// `nodePort` in `sharedlb.io/requested`) reproduces the bytes the API server sent.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    /// A number, kept as its literal text (`30080`, `1.5e3`).
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in document order; lookups take the last duplicate, as Go's `encoding/json` does.
    case object(JSONObject)
}

/// The members of a JSON object, in document order.
public struct JSONObject: Sendable, Hashable {
    /// One `"key": value` member.
    public struct Member: Sendable, Hashable {
        public var key: String
        public var value: JSONValue

        public init(_ key: String, _ value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    public var members: [Member]

    public init(members: [Member] = []) {
        self.members = members
    }

    /// An object from `(key, value)` pairs, in order: `JSONObject([("op", .string("add"))])`.
    public init(_ pairs: [(String, JSONValue)]) {
        members = pairs.map { Member($0.0, $0.1) }
    }

    /// The value of the last member named `key`, if any.
    public subscript(key: String) -> JSONValue? {
        get {
            members.last(where: { $0.key == key })?.value
        }
        set {
            // Replace in place, so a member keeps its position; duplicates of the key go.
            guard let index = members.firstIndex(where: { $0.key == key }) else {
                if let newValue { members.append(Member(key, newValue)) }
                return
            }
            if members[(index + 1)...].contains(where: { $0.key == key }) {
                members = Array(members[...index]) + members[(index + 1)...].filter { $0.key != key }
            }
            if let newValue {
                members[index].value = newValue
            } else {
                members.remove(at: index)
            }
        }
    }

    public var isEmpty: Bool { members.isEmpty }

    /// Objects are equal when they have the same members, in any order (RFC 8259: unordered).
    /// A duplicated key counts once, with its last value, as ``subscript(key:)`` reads it (and
    /// as Go's decoder does), so every object equals itself.
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        // The usual case, the same keys in the same order and none twice: one pass, each child
        // compared once (comparing children again after a failed pass would be exponential in
        // the nesting depth).
        if lhs.members.count == rhs.members.count,
            zip(lhs.members, rhs.members).allSatisfy({ $0.key == $1.key }), !lhs.hasDuplicateKeys
        {
            return zip(lhs.members, rhs.members).allSatisfy { $0.value == $1.value }
        }
        let keys = Set(lhs.members.map(\.key))
        guard keys == Set(rhs.members.map(\.key)) else { return false }
        return keys.allSatisfy { lhs[$0] == rhs[$0] }
    }

    private var hasDuplicateKeys: Bool {
        if members.count < 2 { return false }
        if members.count <= 16 {
            for (index, member) in members.enumerated()
            where members[(index + 1)...].contains(where: { $0.key == member.key }) {
                return true
            }
            return false
        }
        return Set(members.map(\.key)).count != members.count
    }

    public func hash(into hasher: inout Hasher) {
        // Order-independent and last-value-wins, to agree with `==`.
        var seen = Set<String>()
        var combined = 0
        for member in members.reversed() where seen.insert(member.key).inserted {
            var memberHasher = Hasher()
            memberHasher.combine(member.key)
            memberHasher.combine(member.value)
            combined ^= memberHasher.finalize()
        }
        hasher.combine(seen.count)
        hasher.combine(combined)
    }
}

extension JSONValue {
    /// The value without what `skip` names: what `JSONParser.parse(_:skipping:)` gives
    /// where a full parse gives `self`.
    public func removing(_ skip: JSONParser.Skip, key: String? = nil) -> JSONValue {
        switch self {
        case .object(let object):
            let doomed = key == skip.parent ? skip.member : nil
            return .object(
                JSONObject(
                    members: object.members.filter { $0.key != doomed }.map {
                        JSONObject.Member($0.key, $0.value.removing(skip, key: $0.key))
                    }))
        case .array(let items): return .array(items.map { $0.removing(skip) })
        default: return self
        }
    }

    /// The member `key` of an object; `nil` for other kinds or a missing key.
    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var objectValue: JSONObject? {
        if case .object(let value) = self { return value }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// A number that is a whole `Int` (`80`, not `80.5` or `8e1`).
    public var intValue: Int? {
        if case .number(let text) = self { return Int(text) }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// A short name of the kind, for messages such as "spec.ports is a string, not an array".
    public var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
