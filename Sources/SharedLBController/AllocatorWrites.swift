import SharedLBAllocation
import SharedLBCore
import SharedLBKubernetes

/// How the reconcilers write: only as leader and counted, a bounded number at once, each
/// object with its own backoff.
extension Allocator {
    /// Called before every write: only a leader writes, and writes are counted.
    func checkLeader() throws {
        if !isLeader { throw NotLeader() }
        state.withLock { $0.writes += 1 }
        metrics.writes.increment()
    }

    /// Runs `body` for each item, at most ``AllocatorConfiguration/concurrentWrites`` at once;
    /// the first error cancels the rest and is thrown.
    func concurrently<Item: Sendable>(
        _ items: [Item], _ body: @escaping @Sendable (Item) async throws -> Void
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = items.makeIterator()
            for _ in 0..<configuration.concurrentWrites {
                guard let item = next.next() else { break }
                group.addTask { try await body(item) }
            }
            while try await group.next() != nil {
                if let item = next.next() { group.addTask { try await body(item) } }
            }
        }
    }

    /// Sets `sharedlb_allocator_backoff_objects` from the backoffs kept now.
    func countBackoffs() {
        metrics.backoffObjects.set(Double(state.withLock { $0.backoff.entries.count }))
    }

    /// Runs the write of one object unless that object is waiting out its backoff; a failure
    /// backs off that object alone (``ObjectBackoff``), to be retried by `retry`, so every
    /// other object goes on at full speed. False when the write failed or waits.
    func isolated(
        _ object: String, _ action: String, retry: Work, _ write: () async throws -> Void
    ) async throws -> Bool {
        if state.withLock({ $0.backoff.isWaiting(object, now: .now) }) { return false }
        do {
            try await write()
            state.withLock { $0.backoff.succeeded(object) }
            countBackoffs()
            return true
        } catch let error as KubernetesError where error.kind != .fenced {
            // Shutting down: the write was cut, the object did not fail.
            if Task.isCancelled { throw CancellationError() }
            let delay = state.withLock { $0.backoff.failed(object, retry: retry, now: .now) }
            metrics.countWriteFailure(error)
            countBackoffs()
            logger.error(
                "write failed; retrying after a backoff",
                metadata: [
                    "k8s.object": "\(object)", "sharedlb.action": "\(action)", "retry.delay": "\(delay)",
                    "error.message": "\(error)",
                ])
            return false
        }
    }
}

/// The allocator's view of the caches: each object as last seen, or as this allocator last
/// wrote it when the watch has not shown that write yet.
extension Allocator {
    func service(_ key: String) -> KubeService? {
        state.withLock { $0.services.overlay(key, services.get(key)) }
    }

    func slice(_ key: String) -> EndpointSlice? {
        state.withLock { $0.slices.overlay(key, slices.get(key)) }
    }

    /// Records a write (nil `object`: a deletion) so that the next round reads it, and so
    /// that its watch event is known as an echo.
    func record(service: KubeService?, key: String, replacing version: String?) {
        state.withLock { $0.services.record(key, replaced: version, object: service) }
        queue.wrote(KubeService.self, key: key, version: service?.metadata.resourceVersion)
    }

    func record(slice: EndpointSlice?, key: String, replacing version: String?) {
        state.withLock { $0.slices.record(key, replaced: version, object: slice) }
        // A created slice's event is not an echo: until the cache shows it, its member's next
        // round cannot find it to delete should it be stale by then.
        queue.wrote(EndpointSlice.self, key: key, version: version == nil ? nil : slice?.metadata.resourceVersion)
    }

    func record(configMap: ConfigMap?, key: String, replacing version: String?) {
        state.withLock { $0.configMaps.record(key, replaced: version, object: configMap) }
        queue.wrote(ConfigMap.self, key: key, version: configMap?.metadata.resourceVersion)
    }
}
