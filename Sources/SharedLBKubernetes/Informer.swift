public import Logging
public import SharedLBCore
import Synchronization

/// A list+watch cache of one resource and selector, in the manner of client-go's reflector:
/// list, then watch from the list's resourceVersion with bookmarks; on a 410 (HTTP or an
/// in-stream ERROR event) list again and replace the store; on any other failure reconnect
/// with jittered backoff from the last resourceVersion seen, so nothing is missed or repeated.
///
/// Consumers read ``snapshot()`` and wait on ``updates``, a coalescing signal: many changes
/// while the consumer is busy become one wake-up (bounded, unlike a queue of events).
///
/// ```swift
/// let informer = Informer(client: client, type: KubeService.self, namespace: nil, labelSelector: "sharedlb.io/managed=true")
/// // run `try await informer.run()` in a task group or as part of a Service
/// for await _ in informer.updates { reconcile(informer.snapshot()) }
/// ```
public final class Informer<Object: KubernetesObject>: Sendable {
    struct State {
        var objects: [String: Object] = [:]
        /// Index value → keys of the objects that have it (client-go's indexer).
        var index: [String: Set<String>] = [:]
        var resourceVersion: String?
        var synced = false
        var relists = 0
        /// ``wait(timeout:until:)`` callers, each with a stream of its own.
        var waiters: [Int: AsyncStream<Void>.Continuation] = [:]
        var nextWaiter = 0

        mutating func unindex(_ key: String, values: [String]) {
            for value in values {
                index[value]?.remove(key)
                if index[value]?.isEmpty == true { index[value] = nil }
            }
        }
    }

    public let client: KubernetesClient
    public let namespace: String?
    public let labelSelector: String?
    /// Server-side watch timeout; the watch is renewed from the last resourceVersion after it.
    public let watchTimeoutSeconds: Int
    public let updates: AsyncStream<Void>
    private let signal: AsyncStream<Void>.Continuation
    /// What is kept of each object (client-go's transform): a cache holds only what its
    /// reader needs.
    private let transform: @Sendable (Object) -> Object
    /// Called with each change (the object before, after; client-go's event handler), once
    /// the store holds it.
    private let handler: @Sendable (Object?, Object?) -> Void
    /// Called after a full list replaced the store (every object may have changed).
    private let replaced: @Sendable () -> Void
    /// The index values of an object (``objects(indexedBy:)``).
    private let indexValues: @Sendable (Object) -> [String]
    private let state = Mutex(State())
    private let logger: Logger

    public init(
        client: KubernetesClient, type: Object.Type, namespace: String?, labelSelector: String?,
        watchTimeoutSeconds: Int = 290, transform: @escaping @Sendable (Object) -> Object = { $0 },
        handler: @escaping @Sendable (_ old: Object?, _ new: Object?) -> Void = { _, _ in },
        replaced: @escaping @Sendable () -> Void = {}, index: @escaping @Sendable (Object) -> [String] = { _ in [] },
        logger: Logger = Logger(label: "sharedlb.informer")
    ) {
        self.client = client
        self.transform = transform
        self.handler = handler
        self.replaced = replaced
        self.indexValues = index
        self.namespace = namespace
        self.labelSelector = labelSelector
        self.watchTimeoutSeconds = watchTimeoutSeconds
        self.logger = logger
        (updates, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// The objects as last seen, by `namespace/name`.
    public func snapshot() -> [String: Object] {
        state.withLock { $0.objects }
    }

    /// One object as last seen, by `namespace/name` (no copy of the store).
    public func get(_ key: String) -> Object? {
        state.withLock { $0.objects[key] }
    }

    /// The objects whose `index` values include `value`.
    public func objects(indexedBy value: String) -> [Object] {
        state.withLock { state in (state.index[value] ?? []).compactMap { state.objects[$0] } }
    }

    /// How many objects the store holds.
    public var count: Int {
        state.withLock { $0.objects.count }
    }

    /// True once the first list has been stored.
    public var hasSynced: Bool {
        state.withLock { $0.synced }
    }

    /// How many times the store was rebuilt from a full list (the first list included).
    public var relistCount: Int {
        state.withLock { $0.relists }
    }

    public var resourceVersion: String? {
        state.withLock { $0.resourceVersion }
    }

    /// Tells ``updates`` and every waiter that the store changed.
    private func notify() {
        signal.yield()
        // Every watch event passes here: no copy at all while nobody waits (the usual case).
        for waiter in state.withLock({ $0.waiters.isEmpty ? [] : Array($0.waiters.values) }) { waiter.yield() }
    }

    /// Waits until `condition` holds for the snapshot, checking again on every change; false
    /// once `timeout` has passed without it. Each call has its own change stream (``updates``
    /// is left to its one reader, and a timed-out wait leaves nothing broken behind).
    public func wait(
        timeout: Duration, until condition: @Sendable @escaping ([String: Object]) -> Bool
    ) async throws -> Bool {
        let (changes, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            state.waiters[state.nextWaiter] = continuation
            return state.nextWaiter
        }
        defer {
            _ = state.withLock { $0.waiters.removeValue(forKey: id) }
            continuation.finish()
        }
        return try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                if condition(self.snapshot()) { return true }
                for await _ in changes where condition(self.snapshot()) {
                    return true
                }
                return false
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return false
            }
            let result = try await group.next()!
            group.cancelAll()
            return result
        }
    }

    /// Lists and watches until cancelled.
    public func run() async throws {
        var failures = 0
        var needsList = true
        while !Task.isCancelled {
            do {
                if needsList {
                    try await relist()
                    needsList = false
                }
                let started = ContinuousClock.now
                let events = try await watchOnce()
                if events == 0 && ContinuousClock.now - started < .seconds(1) {
                    // A watch that ends at once with nothing in it: back off, do not spin.
                    failures += 1
                    try await Task.sleep(
                        for: client.retryPolicy.delay(attempt: min(failures, 8), retryAfterSeconds: nil))
                } else {
                    failures = 0
                }
            } catch let error as KubernetesError where error.kind == .gone {
                logger.info("watch expired; listing again", metadata: ["k8s.resource": "\(Object.descriptor.plural)"])
                needsList = true
            } catch let error as KubernetesError {
                // Shutting down: the watch was cut by cancellation, not by a fault.
                if Task.isCancelled { return }
                failures += 1
                logger.warning(
                    "list/watch failed; retrying",
                    metadata: ["k8s.resource": "\(Object.descriptor.plural)", "error.message": "\(error)"])
                try await Task.sleep(
                    for: client.retryPolicy.delay(attempt: min(failures, 8), retryAfterSeconds: error.retryAfterSeconds)
                )
            }
        }
    }

    private func relist() async throws {
        let list = try await client.listAll(Object.self, namespace: namespace, labelSelector: labelSelector)
        var objects: [String: Object] = [:]
        var index: [String: Set<String>] = [:]
        for item in list.items {
            let object = transform(item)
            let key = Self.key(object)
            objects[key] = object
            for value in indexValues(object) { index[value, default: []].insert(key) }
        }
        state.withLock { state in
            state.objects = objects
            state.index = index
            state.resourceVersion = list.metadata.resourceVersion
            state.synced = true
            state.relists += 1
        }
        replaced()
        notify()
    }

    /// Follows one watch until the server ends it; returns how many events it carried.
    private func watchOnce() async throws -> Int {
        var count = 0
        let events = client.watch(
            Object.self, namespace: namespace, labelSelector: labelSelector, resourceVersion: resourceVersion,
            timeoutSeconds: watchTimeoutSeconds)
        for try await event in events {
            let object = event.type == .bookmark ? event.object : transform(event.object)
            let values = event.type == .bookmark ? [] : indexValues(object)
            let old = state.withLock { state in
                let key = Self.key(object)
                let old = state.objects[key]
                switch event.type {
                case .added, .modified: state.objects[key] = object
                case .deleted: state.objects[key] = nil
                case .bookmark:
                    if let version = event.object.metadata.resourceVersion { state.resourceVersion = version }
                    return old
                }
                if let old { state.unindex(key, values: indexValues(old)) }
                if event.type != .deleted {
                    for value in values { state.index[value, default: []].insert(key) }
                }
                if let version = event.object.metadata.resourceVersion { state.resourceVersion = version }
                return old
            }
            count += 1
            if event.type != .bookmark {
                if event.type == .deleted { handler(old ?? object, nil) } else { handler(old, object) }
                notify()
            }
        }
        return count
    }

    public static func key(_ object: Object) -> String {
        "\(object.metadata.namespace ?? "")/\(object.metadata.name ?? "")"
    }
}
