import Foundation
import SharedLBCore

/// One field of an object in `managedFields`' FieldsV1 form: `f:spec`, `f:ports`,
/// `k:{"port":80,"protocol":"TCP"}` (an associative list item), `v:"a"` (a set member).
typealias FieldPath = [String]

/// The fields of one object, as structured-merge-diff sees them: leaves with their values,
/// and the containers (granular maps, lists, list items) that own a `.` entry.
struct FieldNodes {
    var leaves: [FieldPath: JSONValue] = [:]
    var containers: Set<FieldPath> = []

    var all: Set<FieldPath> { containers.union(leaves.keys) }

    /// What changed from `old` to `self`: added or modified fields, and removed ones.
    func changes(from old: FieldNodes) -> (changed: Set<FieldPath>, removed: Set<FieldPath>) {
        let now = all
        let before = old.all
        var changed = now.subtracting(before)
        for (path, value) in leaves where old.leaves[path].map({ $0 != value }) ?? false {
            changed.insert(path)
        }
        return (changed, before.subtracting(now))
    }
}

/// kube-apiserver's field manager (v1.24) for the test server: `metadata.managedFields`
/// kept on every write, and server-side apply (merge, prune, conflicts) on top of it.
///
/// As in v1.24, ownership is computed from the request after defaulting and before
/// mutating admission: fields a webhook changes are not attributed to anyone (fixture
/// `admission/03-ssa-create-lb`: the converted Service's managedFields are exactly what
/// kubectl applied).
struct FieldManager {
    let kind: ResourceKind
    let subresource: String?
    let schema: FieldSchema

    init(kind: ResourceKind, subresource: String? = nil) {
        self.kind = kind
        self.subresource = subresource
        schema = FieldSchema.of(kind)
    }

    /// Server-set metadata that nobody owns (`fieldmanager`'s stripped fields).
    private static let ignoredMetadata: Set<String> = [
        "name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation", "managedFields",
        "resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
    ]

    // MARK: Field sets

    /// The object's fields; `applied` gives an apply configuration's set (no `.` for maps
    /// and lists themselves, as kubectl's Apply entries show).
    func nodes(_ object: JSONValue?, applied: Bool) -> FieldNodes {
        var nodes = FieldNodes()
        guard case .object(let root)? = object else { return nodes }
        for member in root.members where member.key != "apiVersion" && member.key != "kind" {
            // The main resource owns everything but status; /status owns only status.
            if kind.hasStatus && (member.key == "status") != (subresource == "status") { continue }
            if member.key == "metadata" {
                guard case .object(var metadata) = member.value else { continue }
                metadata.members.removeAll { Self.ignoredMetadata.contains($0.key) }
                walkMembers(metadata, path: ["f:metadata"], schemaPath: "metadata", applied: applied, into: &nodes)
            } else {
                walk(member.value, path: ["f:" + member.key], schemaPath: member.key, applied: applied, into: &nodes)
            }
        }
        return nodes
    }

    private func walk(
        _ value: JSONValue, path: FieldPath, schemaPath: String, applied: Bool, into nodes: inout FieldNodes
    ) {
        let node = schema.node(schemaPath, value)
        switch (node, value) {
        case (.structure, .object(let object)) where !object.isEmpty,
            (.map, .object(let object)) where !object.isEmpty:
            if node == .map && !applied { nodes.containers.insert(path) }
            walkMembers(object, path: path, schemaPath: schemaPath, applied: applied, into: &nodes)
        case (.associativeList(let keys, _, let defaults), .array(let items)):
            if !applied { nodes.containers.insert(path) }
            for item in items {
                let itemPath = path + [Self.keyElement(item, keys: keys, defaults: defaults)]
                if schema.atomicItems.contains(schemaPath) {
                    nodes.leaves[itemPath] = item
                    continue
                }
                nodes.containers.insert(itemPath)
                if case .object(let object) = item {
                    walkMembers(object, path: itemPath, schemaPath: schemaPath + "[]", applied: applied, into: &nodes)
                }
            }
        case (.set, .array(let items)):
            if !applied { nodes.containers.insert(path) }
            for item in items { nodes.leaves[path + ["v:" + JSONWriter.encode(item)]] = item }
        default:
            nodes.leaves[path] = value
        }
    }

    private func walkMembers(
        _ object: JSONObject, path: FieldPath, schemaPath: String, applied: Bool, into nodes: inout FieldNodes
    ) {
        for member in object.members {
            walk(
                member.value, path: path + ["f:" + member.key],
                schemaPath: FieldSchema.path(schemaPath, member.key), applied: applied, into: &nodes)
        }
    }

    /// `k:{"port":80,"protocol":"TCP"}`: the item's key fields, sorted, defaults filled in.
    static func keyElement(_ item: JSONValue, keys: [String], defaults: [String: JSONValue]) -> String {
        var key = JSONObject()
        for name in keys.sorted() {
            if let value = item[name] ?? defaults[name] { key[name] = value }
        }
        return "k:" + JSONWriter.encode(.object(key))
    }

    // MARK: managedFields

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
    private static func compare(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool? {
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

    // MARK: Writes

    /// A create, update or patch by `manager`: it takes every field it added or changed
    /// (from anyone, without conflicts); removed fields leave every manager.
    func update(live: JSONValue?, new: JSONValue, manager: String, now: String) -> JSONValue {
        var entries = Self.entries(of: live)
        let (changed, removed) = nodes(new, applied: false).changes(from: nodes(live, applied: false))
        var updater = Entry(
            manager: manager, operation: "Update", apiVersion: kind.apiVersion, time: now, subresource: subresource)
        Self.disown(changed.union(removed), in: &entries, except: updater)
        if let index = entries.firstIndex(where: { $0.same(as: updater) }) {
            entries[index].fields = entries[index].fields.union(changed).subtracting(removed)
            // The time says when the manager last added or changed something.
            if !changed.isEmpty { entries[index].time = now }
        } else if !changed.isEmpty {
            updater.fields = changed
            entries.append(updater)
        }
        return Self.withEntries(new, entries)
    }

    /// Server-side apply of `config` by `manager` onto `live` (nil: the object is created).
    /// Fields the manager applied before and no longer does are removed unless someone else
    /// owns them; a changed field that another manager owns is a conflict unless `force`.
    func apply(live: JSONValue?, config: JSONValue, manager: String, force: Bool, now: String) throws(APIStatus)
        -> JSONValue
    {
        var entries = Self.entries(of: live)
        var applier = Entry(
            manager: manager, operation: "Apply", apiVersion: kind.apiVersion, time: now, subresource: subresource)
        applier.fields = nodes(config, applied: true).all
        let previous = entries.firstIndex { $0.same(as: applier) }
        let lastApplied = previous.map { entries[$0].fields } ?? []
        var othersOwn = Set<FieldPath>()
        for entry in entries where !entry.same(as: applier) { othersOwn.formUnion(entry.fields) }

        var merged = merge(live ?? .object(JSONObject()), config, node: .structure, schemaPath: "")
        // Outermost first: a removed list item takes its fields with it.
        for path in lastApplied.subtracting(applier.fields).subtracting(othersOwn).sorted(by: { $0.count < $1.count }) {
            merged = Self.remove(path, from: merged)
        }

        let (changed, removed) = nodes(merged, applied: false).changes(from: nodes(live, applied: false))
        var conflicts: [(entry: Entry, paths: [FieldPath])] = []
        for entry in entries where !entry.same(as: applier) {
            let clash = entry.fields.intersection(changed)
            if !clash.isEmpty { conflicts.append((entry, clash.sorted { Self.describe($0) < Self.describe($1) })) }
        }
        if !conflicts.isEmpty && !force { throw Self.conflict(conflicts) }
        Self.disown(changed.union(removed), in: &entries, except: applier)
        if let previous {
            // The time moves only when the apply changed the object.
            if changed.isEmpty && removed.isEmpty { applier.time = entries[previous].time }
            entries[previous] = applier
        } else {
            entries.append(applier)
        }
        return Self.withEntries(merged, entries)
    }

    /// Every manager but `writer` loses `fields` (what the write changed or removed).
    private static func disown(_ fields: Set<FieldPath>, in entries: inout [Entry], except writer: Entry) {
        for index in entries.indices where !entries[index].same(as: writer) {
            entries[index].fields.subtract(fields)
        }
    }

    /// `apierrors.NewApplyConflict` with structured-merge-diff's message.
    static func conflict(_ conflicts: [(entry: Entry, paths: [FieldPath])]) -> APIStatus {
        let causes = conflicts.flatMap { conflict in
            conflict.paths.map {
                APIStatus.Cause(
                    reason: "FieldManagerConflict", message: "conflict with \(conflict.entry.conflictName)",
                    field: describe($0))
            }
        }
        let message: String
        if causes.count == 1 {
            message = "Apply failed with 1 conflict: \(causes[0].message): \(causes[0].field)"
        } else {
            var lines: [String] = []
            for conflict in conflicts.sorted(by: { $0.entry.manager < $1.entry.manager }) {
                lines.append("conflicts with \(conflict.entry.conflictName):")
                lines += conflict.paths.map { "- \(describe($0))" }
            }
            message = "Apply failed with \(causes.count) conflicts: \(lines.joined(separator: "\n"))"
        }
        return APIStatus(code: 409, reason: "Conflict", message: message, causes: causes)
    }

    /// Merges an apply configuration into the live object: structs and maps field by field,
    /// associative lists item by item (new items appended), sets as a union, the rest replaced.
    func merge(_ live: JSONValue?, _ config: JSONValue, node: FieldSchema.Node, schemaPath: String) -> JSONValue {
        switch (node, live, config) {
        case (.structure, .object(var object)?, .object(let applied)),
            (.map, .object(var object)?, .object(let applied)):
            for member in applied.members {
                let path = FieldSchema.path(schemaPath, member.key)
                object[member.key] = merge(
                    object[member.key], member.value, node: schema.node(path, member.value), schemaPath: path)
            }
            return .object(object)
        case (.associativeList(let keys, _, let defaults), .array(var items)?, .array(let applied)):
            for item in applied {
                let key = Self.keyElement(item, keys: keys, defaults: defaults)
                if let index = items.firstIndex(where: { Self.keyElement($0, keys: keys, defaults: defaults) == key }) {
                    items[index] =
                        schema.atomicItems.contains(schemaPath)
                        ? item : merge(items[index], item, node: .structure, schemaPath: schemaPath + "[]")
                } else {
                    items.append(item)
                }
            }
            return .array(items)
        case (.set, .array(var items)?, .array(let applied)):
            for item in applied where !items.contains(item) { items.append(item) }
            return .array(items)
        default:
            return config
        }
    }

    /// The object without the field at `path` (nothing happens when it is not there).
    static func remove(_ path: FieldPath, from value: JSONValue) -> JSONValue {
        guard let first = path.first else { return value }
        let rest = Array(path.dropFirst())
        switch value {
        case .object(var object) where first.hasPrefix("f:"):
            let name = String(first.dropFirst(2))
            guard let child = object[name] else { return value }
            object[name] = rest.isEmpty ? nil : remove(rest, from: child)
            return .object(object)
        case .array(var items):
            guard let index = items.firstIndex(where: { matches($0, first) }) else { return value }
            if rest.isEmpty {
                items.remove(at: index)
            } else {
                items[index] = remove(rest, from: items[index])
            }
            return .array(items)
        default:
            return value
        }
    }

    /// Whether a list item is the one a `k:` or `v:` element names.
    private static func matches(_ item: JSONValue, _ element: String) -> Bool {
        let rest = String(element.dropFirst(2))
        if element.hasPrefix("v:") { return JSONWriter.encode(item) == rest }
        guard element.hasPrefix("k:"), let key = try? JSONParser.parse(Array(rest.utf8)).objectValue else {
            return false
        }
        return key.members.allSatisfy { item[$0.key] == $0.value }
    }
}
