import Foundation
import SharedLBCore
import Synchronization

/// Watches: history, the events each watcher is sent, and the faults tests inject.
extension ObjectStore {
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
    func put(
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
    func remove(
        _ state: inout State, _ kind: ResourceKind, _ key: Key, _ object: JSONValue, previous: JSONValue
    ) {
        state.objects[kind]?[key] = nil
        if kind == .services { state.allocator.release(previous) }
        record(
            &state,
            HistoryEntry(
                revision: state.revision, kind: kind, key: key, type: .deleted, object: object, previous: previous))
    }

    func record(_ state: inout State, _ entry: HistoryEntry) {
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

    static func event(for entry: HistoryEntry, watcher: Watcher) -> WatchEvent? {
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
}
