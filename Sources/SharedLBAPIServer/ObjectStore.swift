import Foundation
public import SharedLBCore
import Synchronization

/// The API test server's storage: every object of every resource, one cluster-wide
/// monotonically increasing resourceVersion, a bounded event history for watches, and
/// the watchers themselves. Synchronous and lock-protected, so each write, its event
/// and its delivery to watchers happen at one resourceVersion, in order.
public final class ObjectStore: Sendable {
    struct Key: Hashable, Comparable {
        var namespace: String
        var name: String

        /// etcd order: `namespace/name`.
        static func < (lhs: Key, rhs: Key) -> Bool {
            (lhs.namespace, lhs.name) < (rhs.namespace, rhs.name)
        }

        var path: String { namespace.isEmpty ? name : "\(namespace)/\(name)" }
    }

    struct HistoryEntry {
        var revision: Int
        var kind: ResourceKind
        var key: Key
        var type: WatchEvent.EventType
        var object: JSONValue
        /// The object before this change (for selector transitions).
        var previous: JSONValue?
    }

    struct Watcher {
        var kind: ResourceKind
        var namespace: String?
        var selector: LabelSelector
        var continuation: AsyncStream<WatchEvent>.Continuation
        /// Set when the consumer went away; the next write drops the watcher.
        var ended: EndedFlag
    }

    /// Written from an `AsyncStream`'s termination handler, which must not take the store's
    /// lock: a task being cancelled runs it while holding its own status lock, and a write
    /// yielding to that task under the store's lock needs that status lock (a lock-order
    /// inversion that deadlocked a CI run).
    final class EndedFlag: Sendable {
        let value = Atomic(false)

        func set() { value.store(true, ordering: .relaxed) }
        var isSet: Bool { value.load(ordering: .relaxed) }
    }

    struct State {
        var revision: Int
        var objects: [ResourceKind: [Key: JSONValue]] = [:]
        var history: [HistoryEntry] = []
        /// The watch cache's window: the history holds every change after this revision.
        var watchCacheStart: Int
        /// etcd's compaction: continue tokens and exact-revision lists older than this get 410.
        var compactedRevision: Int
        var watchers: [Int: Watcher] = [:]
        var nextWatcherID = 0
        var allocator = ServiceAllocator()
    }

    /// How many changes watches can replay; older resourceVersions get 410 Expired.
    public let historyLimit: Int
    let state: Mutex<State>

    public init(historyLimit: Int = 100_000, initialRevision: Int = 100) {
        self.historyLimit = historyLimit
        // Like kube-apiserver's watch cache for built-in types, the history starts with the
        // server: a watch from resourceVersion=1 replays everything (fixture 17d).
        state = Mutex(State(revision: initialRevision, watchCacheStart: 0, compactedRevision: 0))
        for namespace in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            _ = try? create(
                .namespaces,
                object: .object(
                    JSONObject([
                        ("apiVersion", .string("v1")), ("kind", .string("Namespace")),
                        ("metadata", .object(JSONObject([("name", .string(namespace))]))),
                    ])))
        }
    }

    /// The newest resourceVersion.
    public var revision: Int {
        state.withLock { $0.revision }
    }

    // MARK: Writes

    /// Stores a new object: name from `generateName`, `uid`, `resourceVersion`,
    /// `creationTimestamp`, `generation`; cluster IP and node ports for Services.
    public func create(_ kind: ResourceKind, object: JSONValue, dryRun: Bool = false) throws(APIStatus) -> JSONValue {
        guard kind.storage == kind else {
            let stored = try create(
                kind.storage, object: EventConversion.toStorage(object, from: kind), dryRun: dryRun)
            return EventConversion.fromStorage(stored, to: kind)
        }
        return try state.withLock { state throws(APIStatus) -> JSONValue in
            var object = object
            var metadata = object["metadata"]?.objectValue ?? JSONObject()
            if metadata["name"]?.stringValue?.isEmpty ?? true {
                guard let prefix = metadata["generateName"]?.stringValue, !prefix.isEmpty else {
                    throw APIStatus.invalid(
                        kind: kind.kind, name: "",
                        causes: [.required("metadata.name", "name or generateName is required")])
                }
                var name: String
                repeat {
                    name = prefix + Self.randomSuffix()
                } while state.objects[kind]?[Key(namespace: metadata["namespace"]?.stringValue ?? "", name: name)]
                    != nil
                metadata["name"] = .string(name)
            }
            let key = Key(
                namespace: kind.namespaced ? metadata["namespace"]?.stringValue ?? "" : "",
                name: metadata["name"]!.stringValue!)
            if kind.namespaced, kind != .namespaces,
                state.objects[.namespaces]?[Key(namespace: "", name: key.namespace)] == nil
            {
                throw APIStatus.notFound("namespaces", key.namespace)
            }
            guard state.objects[kind]?[key] == nil else { throw APIStatus.alreadyExists(kind.plural, key.name) }
            metadata["uid"] = .string(UUID().uuidString.lowercased())
            metadata["creationTimestamp"] = .string(Self.timestamp())
            if kind.tracksGeneration { metadata["generation"] = .number("1") }
            if kind == .namespaces {
                // The NamespaceLifecycle defaults: its name as a label, the `kubernetes` finalizer, Active.
                var labels = metadata["labels"]?.objectValue ?? JSONObject()
                labels["kubernetes.io/metadata.name"] = .string(key.name)
                metadata["labels"] = .object(labels)
                if case .object(var root) = object {
                    var spec = root["spec"]?.objectValue ?? JSONObject()
                    if spec["finalizers"] == nil { spec["finalizers"] = .array([.string("kubernetes")]) }
                    root["spec"] = .object(spec)
                    root["status"] = .object(JSONObject([("phase", .string("Active"))]))
                    object = .object(root)
                }
            }
            object = Self.withMetadata(object, metadata)
            if kind == .services {
                var allocator = state.allocator
                try allocator.allocate(&object)
                if !dryRun { state.allocator = allocator }
            }
            guard !dryRun else { return Self.stamp(object, kind: kind, revision: state.revision) }
            state.revision += 1
            object = Self.stamp(object, kind: kind, revision: state.revision)
            put(&state, kind, key, object, replacing: nil)
            return object
        }
    }

    /// Replaces a stored object. With `expectedRevision` (the client's
    /// `metadata.resourceVersion`) a stale write is a 409 Conflict.
    public func update(
        _ kind: ResourceKind, object: JSONValue, expectedRevision: String?, dryRun: Bool = false
    ) throws(APIStatus) -> JSONValue {
        guard kind.storage == kind else {
            let stored = try update(
                kind.storage, object: EventConversion.toStorage(object, from: kind), expectedRevision: expectedRevision,
                dryRun: dryRun)
            return EventConversion.fromStorage(stored, to: kind)
        }
        return try state.withLock { state throws(APIStatus) -> JSONValue in
            let key = Self.key(of: object, kind)
            guard let current = state.objects[kind]?[key] else { throw APIStatus.notFound(kind.plural, key.name) }
            let currentRevision = current["metadata"]?["resourceVersion"]?.stringValue
            if let expectedRevision, !expectedRevision.isEmpty, expectedRevision != currentRevision {
                throw APIStatus.conflict(kind.plural, key.name)
            }
            var updated = object
            // Server-owned metadata cannot be changed by a client.
            var metadata = updated["metadata"]?.objectValue ?? JSONObject()
            for field in ["uid", "creationTimestamp", "deletionTimestamp", "generation"] {
                metadata[field] = current["metadata"]?[field]
            }
            if kind.tracksGeneration, Self.withoutMetadataAndStatus(updated) != Self.withoutMetadataAndStatus(current) {
                let generation = current["metadata"]?["generation"].flatMap(ServiceStrategy.integer) ?? 0
                metadata["generation"] = .number(String(generation + 1))
            }
            updated = Self.withMetadata(updated, metadata)
            if kind == .services {
                var allocator = state.allocator
                try allocator.allocateUpdate(&updated, old: current)
                if !dryRun { state.allocator = allocator }
            }
            // Unchanged objects are not rewritten: no new resourceVersion, no event.
            guard Self.withoutRevision(updated) != Self.withoutRevision(current) else { return current }
            guard !dryRun else { return Self.stamp(updated, kind: kind, revision: state.revision) }
            state.revision += 1
            updated = Self.stamp(updated, kind: kind, revision: state.revision)
            // An object being deleted goes once its last finalizer is removed.
            if updated["metadata"]?["deletionTimestamp"] != nil,
                updated["metadata"]?["finalizers"]?.arrayValue?.isEmpty ?? true
            {
                remove(&state, kind, key, updated, previous: current)
                return updated
            }
            put(&state, kind, key, updated, replacing: current)
            return updated
        }
    }

    /// Deletes an object, or marks it (`deletionTimestamp`) while it has finalizers.
    /// Preconditions are the DeleteOptions' `uid` and `resourceVersion`.
    public func delete(
        _ kind: ResourceKind, namespace: String, name: String, uid: String? = nil, resourceVersion: String? = nil,
        dryRun: Bool = false
    ) throws(APIStatus) -> JSONValue {
        guard kind.storage == kind else {
            let stored = try delete(
                kind.storage, namespace: namespace, name: name, uid: uid, resourceVersion: resourceVersion,
                dryRun: dryRun)
            return EventConversion.fromStorage(stored, to: kind)
        }
        return try state.withLock { state throws(APIStatus) -> JSONValue in
            let key = Key(namespace: kind.namespaced ? namespace : "", name: name)
            guard let current = state.objects[kind]?[key] else { throw APIStatus.notFound(kind.plural, name) }
            if let uid, current["metadata"]?["uid"]?.stringValue != uid {
                throw APIStatus(
                    code: 409, reason: "Conflict",
                    message:
                        "Operation cannot be fulfilled on \(kind.kind) \"\(name)\": the UID in the precondition (\(uid)) does not match the UID in record (\(current["metadata"]?["uid"]?.stringValue ?? "")). The object might have been deleted and then recreated",
                    detailsName: name, detailsKind: kind.plural)
            }
            if let resourceVersion, current["metadata"]?["resourceVersion"]?.stringValue != resourceVersion {
                throw APIStatus(
                    code: 409, reason: "Conflict",
                    message:
                        "Operation cannot be fulfilled on \(kind.kind) \"\(name)\": the ResourceVersion in the precondition (\(resourceVersion)) does not match the ResourceVersion in record (\(current["metadata"]?["resourceVersion"]?.stringValue ?? "")). The object might have been modified",
                    detailsName: name, detailsKind: kind.plural)
            }
            guard !dryRun else { return current }
            let finalizers = current["metadata"]?["finalizers"]?.arrayValue ?? []
            // Already marked for deletion and still held by finalizers: nothing changes.
            if !finalizers.isEmpty, current["metadata"]?["deletionTimestamp"] != nil { return current }
            state.revision += 1
            if !finalizers.isEmpty {
                var metadata = current["metadata"]?.objectValue ?? JSONObject()
                metadata["deletionTimestamp"] = .string(Self.timestamp())
                metadata["deletionGracePeriodSeconds"] = .number("0")
                let marked = Self.stamp(Self.withMetadata(current, metadata), kind: kind, revision: state.revision)
                put(&state, kind, key, marked, replacing: current)
                return marked
            }
            let deleted = Self.stamp(current, kind: kind, revision: state.revision)
            remove(&state, kind, key, deleted, previous: current)
            if kind == .namespaces {
                for other in ResourceKind.all where other.namespaced && other.storage == other {
                    for (childKey, child) in state.objects[other] ?? [:] where childKey.namespace == name {
                        state.revision += 1
                        remove(
                            &state, other, childKey, Self.stamp(child, kind: other, revision: state.revision),
                            previous: child)
                    }
                }
            }
            return deleted
        }
    }
}
