import Foundation
import SharedLBCore

/// `metadata.managedFields` entries: reading, sorting, encoding field sets.
extension FieldManager {
    struct Entry: Equatable {
        var manager: String
        var operation: String
        var apiVersion: String
        var time: String
        var subresource: String?
        var fields: Set<FieldPath>

        /// structured-merge-diff's manager identity: time and fields are not part of it, nor
        /// an applier's version.
        func same(as other: Entry) -> Bool {
            manager == other.manager && operation == other.operation && subresource == other.subresource
                && (operation == "Apply" || apiVersion == other.apiVersion)
        }

        init(manager: String, operation: String, apiVersion: String, time: String, subresource: String?) {
            self.manager = manager
            self.operation = operation
            self.apiVersion = apiVersion
            self.time = time
            self.subresource = subresource
            fields = []
        }

        init?(json: JSONValue) {
            guard let manager = json["manager"]?.stringValue, let operation = json["operation"]?.stringValue else {
                return nil
            }
            self.init(
                manager: manager, operation: operation, apiVersion: json["apiVersion"]?.stringValue ?? "",
                time: json["time"]?.stringValue ?? "", subresource: json["subresource"]?.stringValue)
            FieldManager.decode(json["fieldsV1"] ?? .null, prefix: [], into: &fields)
        }

        var json: JSONValue {
            var object = JSONObject([
                ("manager", .string(manager)), ("operation", .string(operation)), ("apiVersion", .string(apiVersion)),
                ("time", .string(time)), ("fieldsType", .string("FieldsV1")),
                ("fieldsV1", .object(FieldManager.encode(Array(fields)))),
            ])
            if let subresource { object["subresource"] = .string(subresource) }
            return .object(object)
        }

        /// `"kubectl-client-side-apply" using v1 at 2026-11-27T02:51:22Z`, or `"kubectl"` for an applier.
        var conflictName: String {
            var name = "\"\(manager)\""
            if let subresource { name += " with subresource \"\(subresource)\"" }
            if operation == "Update" {
                name += time.isEmpty ? " using \(apiVersion)" : " using \(apiVersion) at \(time)"
            }
            return name
        }
    }

    static func entries(of object: JSONValue?) -> [Entry] {
        object?["metadata"]?["managedFields"]?.arrayValue?.compactMap(Entry.init(json:)) ?? []
    }

    /// kube-apiserver's order: operation, time, manager, version, subresource.
    static func sorted(_ entries: [Entry]) -> [Entry] {
        entries.sorted {
            ($0.operation, $0.time, $0.manager, $0.apiVersion, $0.subresource ?? "")
                < ($1.operation, $1.time, $1.manager, $1.apiVersion, $1.subresource ?? "")
        }
    }

    static func withEntries(_ object: JSONValue, _ entries: [Entry]) -> JSONValue {
        guard case .object(var root) = object else { return object }
        var metadata = root["metadata"]?.objectValue ?? JSONObject()
        let kept = sorted(entries.filter { !$0.fields.isEmpty })
        metadata["managedFields"] = kept.isEmpty ? nil : .array(kept.map(\.json))
        root["metadata"] = .object(metadata)
        return .object(root)
    }

    static func encode(_ paths: [FieldPath]) -> JSONObject {
        var groups: [String: [FieldPath]] = [:]
        var isMember = false
        for path in paths {
            if let first = path.first {
                groups[first, default: []].append(Array(path.dropFirst()))
            } else {
                isMember = true
            }
        }
        var object = JSONObject()
        if isMember && !groups.isEmpty { object["."] = .object(JSONObject()) }
        for key in groups.keys.sorted(by: precedes) { object[key] = .object(encode(groups[key]!)) }
        return object
    }

    /// structured-merge-diff's order of path elements: `.`, fields by name, then list items by
    /// their key values and set members by value, numbers compared as numbers
    /// (`k:{"port":80,…}` before `k:{"port":443,…}`).
    static func precedes(_ lhs: String, _ rhs: String) -> Bool {
        let (left, right) = (lhs.prefix(2), rhs.prefix(2))
        guard left == right, left == "k:" || left == "v:" else { return lhs < rhs }
        func parsed(_ element: String) -> JSONValue? { try? JSONParser.parse(Array(element.utf8.dropFirst(2))) }
        guard let a = parsed(lhs), let b = parsed(rhs) else { return lhs < rhs }
        return compare(a, b) ?? (lhs < rhs)
    }

    /// `true`/`false` when the values order one way, `nil` when equal or not comparable.
    static func compare(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool? {
        switch (lhs, rhs) {
        case (.number(let a), .number(let b)):
            guard let x = Double(a), let y = Double(b), x != y else { return nil }
            return x < y
        case (.string(let a), .string(let b)):
            return a == b ? nil : a < b
        case (.object(let a), .object(let b)):
            for (x, y) in zip(a.members, b.members) {
                if x.key != y.key { return x.key < y.key }
                if let order = compare(x.value, y.value) { return order }
            }
            return a.members.count == b.members.count ? nil : a.members.count < b.members.count
        default:
            let (a, b) = (JSONWriter.encode(lhs), JSONWriter.encode(rhs))
            return a == b ? nil : a < b
        }
    }

    static func decode(_ value: JSONValue, prefix: FieldPath, into set: inout Set<FieldPath>) {
        guard case .object(let object) = value else { return }
        if object.isEmpty {
            set.insert(prefix)
            return
        }
        for member in object.members {
            if member.key == "." {
                set.insert(prefix)
            } else {
                decode(member.value, prefix: prefix + [member.key], into: &set)
            }
        }
    }

    /// A path as structured-merge-diff prints it: `.spec.ports[port=80,protocol="TCP"].targetPort`.
    static func describe(_ path: FieldPath) -> String {
        path.map { element -> String in
            let rest = String(element.dropFirst(2))
            switch element.prefix(2) {
            case "f:": return "." + rest
            case "k:":
                let members = (try? JSONParser.parse(Array(rest.utf8)))?.objectValue?.members ?? []
                return "[" + members.map { "\($0.key)=\(JSONWriter.encode($0.value))" }.joined(separator: ",") + "]"
            case "v:": return "[=\(rest)]"
            default: return element
            }
        }.joined()
    }
}
