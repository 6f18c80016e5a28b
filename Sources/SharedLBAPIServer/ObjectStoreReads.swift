import Foundation
public import SharedLBCore
import Synchronization

/// Reads: get, list (paged, by label and field selectors).
extension ObjectStore {
    public func get(_ kind: ResourceKind, namespace: String, name: String) throws(APIStatus) -> JSONValue {
        let key = Key(namespace: kind.namespaced ? namespace : "", name: name)
        guard let object = state.withLock({ $0.objects[kind.storage]?[key] }) else {
            throw APIStatus.notFound(kind.plural, name)
        }
        return EventConversion.fromStorage(object, to: kind)
    }

    /// One page of a list: items in etcd key order after `continue`'s start key.
    public struct Page: Sendable {
        public var items: [JSONValue]
        public var revision: Int
        public var continueToken: String?
    }

    /// `exactRevision` is `resourceVersion=N&resourceVersionMatch=Exact`: the list as it was
    /// at N, read from etcd, so 410 once etcd compacted past N (fixture `17g`).
    public func list(
        _ kind: ResourceKind, namespace: String?, selector: LabelSelector = .everything,
        fieldSelector: [String: String] = [:], limit: Int? = nil, continueToken: String? = nil,
        exactRevision: Int? = nil
    ) throws(APIStatus) -> Page {
        let continuation = try continueToken.map { token throws(APIStatus) in try ListContinuation(token: token) }
        return try state.withLock { state throws(APIStatus) -> Page in
            var objects = state.objects[kind.storage] ?? [:]
            if let exactRevision, exactRevision < state.revision {
                // etcd keeps every revision since its compaction; this store rebuilds them from
                // the history, so an exact list needs both.
                guard exactRevision >= state.compactedRevision, exactRevision >= state.watchCacheStart else {
                    throw APIStatus.expired("The resourceVersion for the provided list is too old.")
                }
                for entry in state.history.reversed() where entry.revision > exactRevision && entry.kind == kind.storage
                {
                    objects[entry.key] = entry.type == .added ? nil : entry.previous
                }
            }
            if let continuation, continuation.revision < state.compactedRevision {
                throw APIStatus.expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                    continueToken: ListContinuation(revision: -1, start: continuation.start).token)
            }
            let revision = continuation?.revision ?? exactRevision.map { min($0, state.revision) } ?? state.revision
            var keys = objects.keys.filter { key in
                namespace.map { $0 == key.namespace } ?? true
            }
            keys.sort()
            if let start = continuation?.start {
                // `start` is the last key returned plus NUL: everything after it.
                keys = keys.filter { $0.path >= start }
            }
            var items: [JSONValue] = []
            var next: String?
            for key in keys {
                let object = EventConversion.fromStorage(objects[key]!, to: kind)
                guard selector.matches(object: object), Self.matches(object, fieldSelector) else { continue }
                if let limit, limit > 0, items.count == limit {
                    next =
                        ListContinuation(
                            revision: revision, start: items.last.map { Self.key(of: $0, kind).path + "\u{0}" } ?? ""
                        ).token
                    break
                }
                items.append(object)
            }
            return Page(items: items, revision: revision, continueToken: next)
        }
    }

    static func matches(_ object: JSONValue, _ fields: [String: String]) -> Bool {
        fields.allSatisfy { field, value in
            switch field {
            case "metadata.name": object["metadata"]?["name"]?.stringValue == value
            case "metadata.namespace": (object["metadata"]?["namespace"]?.stringValue ?? "") == value
            default: false
            }
        }
    }

    static func key(of object: JSONValue, _ kind: ResourceKind) -> Key {
        Key(
            namespace: kind.namespaced ? object["metadata"]?["namespace"]?.stringValue ?? "" : "",
            name: object["metadata"]?["name"]?.stringValue ?? "")
    }
}
