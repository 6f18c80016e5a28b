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
    static let ignoredMetadata: Set<String> = [
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

    func walk(
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

    func walkMembers(
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
    static func disown(_ fields: Set<FieldPath>, in entries: inout [Entry], except writer: Entry) {
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
    static func matches(_ item: JSONValue, _ element: String) -> Bool {
        let rest = String(element.dropFirst(2))
        if element.hasPrefix("v:") { return JSONWriter.encode(item) == rest }
        guard element.hasPrefix("k:"), let key = try? JSONParser.parse(Array(rest.utf8)).objectValue else {
            return false
        }
        return key.members.allSatisfy { item[$0.key] == $0.value }
    }
}
