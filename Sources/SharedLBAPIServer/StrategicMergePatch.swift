import SharedLBCore

/// `application/strategic-merge-patch+json` as kube-apiserver applies it for the resources
/// the test server serves (`k8s.io/apimachinery/pkg/util/strategicpatch`): objects merge,
/// `null` deletes, lists with a `patchMergeKey` merge item by item (`spec.ports` by
/// `port`), lists of primitives with the merge strategy are unions (`metadata.finalizers`),
/// every other list is replaced; directives `$patch` (`replace`, `delete`, `merge`),
/// `$retainKeys`, `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>`.
struct StrategicMergePatch {
    let schema: FieldSchema

    func apply(_ patch: JSONValue, to target: JSONValue) throws(APIStatus) -> JSONValue {
        guard case .object(let object) = patch else {
            throw APIStatus.badRequest("the body of the request is not a JSON object")
        }
        return try merge(object, into: target, schemaPath: "") ?? .object(JSONObject())
    }

    /// An object patch; `nil` when the patch deletes the whole object (`$patch: delete`).
    private func merge(_ patch: JSONObject, into target: JSONValue?, schemaPath: String) throws(APIStatus)
        -> JSONValue?
    {
        switch patch["$patch"]?.stringValue {
        case nil, "merge": break
        case "replace": return .object(Self.stripped(patch))
        case "delete": return nil
        case let other?:
            throw APIStatus.badRequest("Unknown patch type: \(other) in map: \(JSONWriter.encode(.object(patch)))")
        }
        var result = target?.objectValue ?? JSONObject()
        var orders: [(field: String, order: [JSONValue])] = []
        for member in patch.members {
            let key = member.key
            if key == "$patch" || key == "$retainKeys" { continue }
            if key.hasPrefix("$setElementOrder/") {
                orders.append((String(key.dropFirst("$setElementOrder/".count)), member.value.arrayValue ?? []))
                continue
            }
            if key.hasPrefix("$deleteFromPrimitiveList/") {
                let field = String(key.dropFirst("$deleteFromPrimitiveList/".count))
                let doomed = member.value.arrayValue ?? []
                if case .array(let items)? = result[field] {
                    result[field] = .array(items.filter { !doomed.contains($0) })
                }
                continue
            }
            if member.value.isNull {
                result[key] = nil
                continue
            }
            let path = FieldSchema.path(schemaPath, key)
            result[key] = try mergeValue(member.value, into: result[key], path: path)
        }
        for (field, order) in orders {
            guard case .array(let items)? = result[field] else { continue }
            result[field] = .array(reorder(items, by: order, path: FieldSchema.path(schemaPath, field)))
        }
        if case .array(let retained)? = patch["$retainKeys"] {
            let keep = Set(retained.compactMap(\.stringValue))
            result.members.removeAll { !keep.contains($0.key) }
        }
        return .object(result)
    }

    private func mergeValue(_ patch: JSONValue, into target: JSONValue?, path: String) throws(APIStatus) -> JSONValue? {
        switch (patch, schema.node(path, patch)) {
        case (.object(let object), _):
            // Maps merge in a strategic patch even when apply treats them as atomic (selector).
            return try merge(object, into: target, schemaPath: path)
        case (.array(let items), .associativeList(_, let mergeKey, _)):
            return try mergeList(items, into: target?.arrayValue ?? [], mergeKey: mergeKey, path: path)
        case (.array(let items), .set):
            var result = target?.arrayValue ?? []
            for item in items where !result.contains(item) { result.append(item) }
            return .array(result)
        case (.array(let items), _):
            return .array(items.map(Self.stripped))
        default:
            return patch
        }
    }

    private func mergeList(_ patch: [JSONValue], into target: [JSONValue], mergeKey: String, path: String)
        throws(APIStatus) -> JSONValue
    {
        if patch.contains(where: { $0["$patch"]?.stringValue == "replace" }) {
            return .array(patch.filter { $0["$patch"]?.stringValue != "replace" }.map(Self.stripped))
        }
        var result = target
        for item in patch {
            guard case .object(let object) = item, let key = object[mergeKey] else {
                throw APIStatus.badRequest(
                    "map: \(JSONWriter.encode(item)) does not contain declared merge key: \(mergeKey)")
            }
            let index = result.firstIndex { $0[mergeKey] == key }
            if object["$patch"]?.stringValue == "delete" {
                if let index { result.remove(at: index) }
                continue
            }
            if let index {
                if let merged = try merge(object, into: result[index], schemaPath: path + "[]") {
                    result[index] = merged
                } else {
                    result.remove(at: index)
                }
            } else {
                result.append(Self.stripped(item))
            }
        }
        return .array(result)
    }

    /// `$setElementOrder`: the listed items first, in that order, then the others as they were.
    private func reorder(_ items: [JSONValue], by order: [JSONValue], path: String) -> [JSONValue] {
        let mergeKey: String? =
            if case .associativeList(_, let key, _) = schema.nodes[path] { key } else { nil }
        func identity(_ value: JSONValue) -> JSONValue { mergeKey.flatMap { value[$0] } ?? value }
        var remaining = items
        var result: [JSONValue] = []
        for wanted in order {
            if let index = remaining.firstIndex(where: { identity($0) == identity(wanted) }) {
                result.append(remaining.remove(at: index))
            }
        }
        return result + remaining
    }

    /// A value with the directives taken out (what a replaced or added part stores).
    static func stripped(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let object): return .object(stripped(object))
        case .array(let items): return .array(items.map(stripped))
        default: return value
        }
    }

    static func stripped(_ object: JSONObject) -> JSONObject {
        JSONObject(
            members: object.members.filter { !$0.key.hasPrefix("$") }.map {
                JSONObject.Member($0.key, stripped($0.value))
            }
        )
    }
}
