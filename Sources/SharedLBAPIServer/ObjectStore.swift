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
        private let value = Atomic(false)

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

    // MARK: Reads

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

    // MARK: Watch

    /// Events after `resourceVersion` (replayed from history), then live ones, filtered
    /// by namespace and selector. An object that starts or stops matching the selector
    /// arrives as ADDED or DELETED, as from kube-apiserver's watch cache. A version older
    /// than the history yields one ERROR event with a 410 Expired Status (fixture `17c`).
    public func watch(
        _ kind: ResourceKind, namespace: String?, selector: LabelSelector = .everything, resourceVersion: Int?
    ) -> (events: AsyncStream<WatchEvent>, cancel: @Sendable () -> Void) {
        let (stream, continuation) = AsyncStream.makeStream(of: WatchEvent.self, bufferingPolicy: .unbounded)
        let ended = EndedFlag()
        let id = state.withLock { state -> Int? in
            let from = resourceVersion ?? state.revision
            if from < state.watchCacheStart {
                let status = APIStatus.expired("too old resource version: \(from) (\(state.watchCacheStart))")
                continuation.yield(WatchEvent(type: .error, object: status.json))
                continuation.finish()
                return nil
            }
            let watcher = Watcher(
                kind: kind, namespace: namespace, selector: selector, continuation: continuation, ended: ended)
            for entry in state.history where entry.revision > from {
                if let event = Self.event(for: entry, watcher: watcher) { continuation.yield(event) }
            }
            let id = state.nextWatcherID
            state.nextWatcherID += 1
            state.watchers[id] = watcher
            return id
        }
        let cancel: @Sendable () -> Void = { [weak self] in
            guard let id else { return }
            let watcher = self?.state.withLock { $0.watchers.removeValue(forKey: id) }
            watcher?.continuation.finish()
        }
        continuation.onTermination = { _ in ended.set() }
        return (stream, cancel)
    }

    /// Ends every open watch (a "dropped connection" fault; clients must re-watch).
    public func dropWatches() {
        let watchers = state.withLock { state -> [Watcher] in
            defer { state.watchers.removeAll() }
            return Array(state.watchers.values)
        }
        for watcher in watchers { watcher.continuation.finish() }
    }

    /// etcd compaction up to now: continue tokens and exact-revision lists from older versions
    /// get 410 (fixtures `17f`, `17g`). Watches are served from the watch cache, whose history
    /// a compaction does not touch: a watch from resourceVersion=1 still replays (fixture `17h`).
    public func compact() {
        state.withLock { state in
            state.compactedRevision = state.revision
        }
    }

    /// The watch cache's window moving past now (what `historyLimit` does as changes
    /// accumulate): watches from older versions get one ERROR event with 410 (fixture `17c`).
    public func evictWatchCache() {
        state.withLock { state in
            state.history.removeAll()
            state.watchCacheStart = state.revision
        }
    }

    /// Stores `object` at a new revision and tells watchers (ADDED or MODIFIED).
    private func put(
        _ state: inout State, _ kind: ResourceKind, _ key: Key, _ object: JSONValue, replacing previous: JSONValue?
    ) {
        state.objects[kind, default: [:]][key] = object
        record(
            &state,
            HistoryEntry(
                revision: state.revision, kind: kind, key: key, type: previous == nil ? .added : .modified,
                object: object,
                previous: previous))
    }

    /// Removes an object at the current revision, frees what a Service held, tells watchers.
    private func remove(
        _ state: inout State, _ kind: ResourceKind, _ key: Key, _ object: JSONValue, previous: JSONValue
    ) {
        state.objects[kind]?[key] = nil
        if kind == .services { state.allocator.release(previous) }
        record(
            &state,
            HistoryEntry(
                revision: state.revision, kind: kind, key: key, type: .deleted, object: object, previous: previous))
    }

    private func record(_ state: inout State, _ entry: HistoryEntry) {
        state.history.append(entry)
        if state.history.count > historyLimit {
            let drop = state.history.count - historyLimit
            state.watchCacheStart = state.history[drop - 1].revision
            state.history.removeFirst(drop)
        }
        var gone: [Int] = []
        for (id, watcher) in state.watchers {
            if watcher.ended.isSet {
                gone.append(id)
            } else if let event = Self.event(for: entry, watcher: watcher) {
                watcher.continuation.yield(event)
            }
        }
        for id in gone { state.watchers[id] = nil }
    }

    private static func event(for entry: HistoryEntry, watcher: Watcher) -> WatchEvent? {
        guard entry.kind == watcher.kind.storage, watcher.namespace.map({ $0 == entry.key.namespace }) ?? true else {
            return nil
        }
        var entry = entry
        entry.object = EventConversion.fromStorage(entry.object, to: watcher.kind)
        let matchesNow = watcher.selector.matches(object: entry.object)
        let matchedBefore = entry.previous.map { watcher.selector.matches(object: $0) } ?? false
        switch entry.type {
        case .added: return matchesNow ? WatchEvent(type: .added, object: entry.object) : nil
        case .deleted: return matchedBefore || matchesNow ? WatchEvent(type: .deleted, object: entry.object) : nil
        case .modified:
            switch (matchedBefore, matchesNow) {
            case (true, true): return WatchEvent(type: .modified, object: entry.object)
            case (false, true): return WatchEvent(type: .added, object: entry.object)
            case (true, false): return WatchEvent(type: .deleted, object: entry.object)
            case (false, false): return nil
            }
        default: return nil
        }
    }

    // MARK: Helpers

    /// Sets `apiVersion`, `kind` and `metadata.resourceVersion`, and puts metadata in Go's order.
    static func stamp(_ object: JSONValue, kind: ResourceKind, revision: Int) -> JSONValue {
        guard case .object(var root) = object else { return object }
        var metadata = root["metadata"]?.objectValue ?? JSONObject()
        metadata["resourceVersion"] = .string(String(revision))
        root["metadata"] = .object(ServiceStrategy.ordered(metadata, metadataFieldOrder))
        if case .object(let ordered) = FieldSchema.of(kind).ordered(.object(root)) { root = ordered }
        var ordered = JSONObject([("kind", .string(kind.kind)), ("apiVersion", .string(kind.apiVersion))])
        for member in root.members where member.key != "kind" && member.key != "apiVersion" {
            ordered.members.append(member)
        }
        return .object(ordered)
    }

    static let metadataFieldOrder = [
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp",
        "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers",
        "managedFields",
    ]

    /// `object` with `metadata`; empty label and annotation maps are left out, as Go's
    /// `omitempty` leaves them out of what kube-apiserver stores.
    static func withMetadata(_ object: JSONValue, _ metadata: JSONObject) -> JSONValue {
        guard case .object(var root) = object else { return object }
        var metadata = metadata
        for field in ["labels", "annotations"] where metadata[field]?.objectValue?.isEmpty == true {
            metadata[field] = nil
        }
        root["metadata"] = .object(metadata)
        return .object(root)
    }

    static func withoutRevision(_ object: JSONValue) -> JSONValue {
        guard case .object(var root) = object, case .object(var metadata)? = root["metadata"] else { return object }
        metadata["resourceVersion"] = nil
        root["metadata"] = .object(metadata)
        return .object(root)
    }

    static func withoutMetadataAndStatus(_ object: JSONValue) -> JSONValue {
        guard case .object(var root) = object else { return object }
        root["metadata"] = nil
        root["status"] = nil
        return .object(root)
    }

    /// Whole seconds, UTC, as kube-apiserver writes `creationTimestamp`.
    static func timestamp() -> String {
        Date().formatted(.iso8601)
    }

    /// Five characters from the alphabet Kubernetes uses for `generateName` suffixes.
    static func randomSuffix() -> String {
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        return String((0..<5).map { _ in alphabet.randomElement()! })
    }
}

/// The `continue` token kube-apiserver hands out: unpadded base64url of
/// `{"v":"meta.k8s.io/v1","rv":324,"start":"team-a/allfields\u0000"}` (fixture `13k`).
struct ListContinuation {
    var revision: Int
    var start: String

    init(revision: Int, start: String) {
        self.revision = revision
        self.start = start
    }

    init(token: String) throws(APIStatus) {
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), let json = try? JSONParser.parse(Array(data)),
            let revision = json["rv"].flatMap(ServiceStrategy.integer), let start = json["start"]?.stringValue
        else {
            throw APIStatus.badRequest("continue key is not valid: illegal base64 data at input byte 0")
        }
        self.init(revision: revision, start: start)
    }

    var token: String {
        let json = JSONValue.object(
            JSONObject([("v", .string("meta.k8s.io/v1")), ("rv", .number(String(revision))), ("start", .string(start))])
        )
        return Data(JSONWriter.encode(json).utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
