import ServiceLifecycle
import SharedLBCore

/// An open watch: the events to send, in order, until the stream ends or `timeout` passes,
/// with a BOOKMARK every `bookmarkInterval` when the client allowed them.
public struct WatchStream: Sendable {
    let initial: [WatchEvent]
    let events: AsyncStream<WatchEvent>
    let cancel: @Sendable () -> Void
    let timeout: Duration?
    let bookmarkInterval: Duration?
    let kind: ResourceKind
    /// The revision the watch starts after; bookmarks never claim more than was sent.
    let startRevision: Int

    private enum Item: Sendable {
        case event(WatchEvent)
        case bookmark
        case end
    }

    /// Sends every event through `write` (one NDJSON line each) until the watch ends.
    /// Returning (or throwing, for a client gone away) closes the watch.
    public func run(_ write: (WatchEvent) async throws -> Void) async throws {
        defer { cancel() }
        var lastRevision = startRevision
        for event in initial {
            try await write(event)
            lastRevision = max(lastRevision, Self.revision(of: event) ?? lastRevision)
        }
        let (merged, input) = AsyncStream.makeStream(of: Item.self)
        let events = self.events
        let timeout = self.timeout
        let bookmarkInterval = self.bookmarkInterval
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in events { input.yield(.event(event)) }
                input.yield(.end)
            }
            // A server shutting down ends its watches, as kube-apiserver does; clients re-watch.
            group.addTask {
                try? await gracefulShutdown()
                input.yield(.end)
            }
            if timeout != nil || bookmarkInterval != nil {
                group.addTask {
                    let clock = ContinuousClock()
                    let deadline = timeout.map { clock.now + $0 }
                    var nextBookmark = bookmarkInterval.map { clock.now + $0 }
                    while true {
                        let wake = [deadline, nextBookmark].compactMap { $0 }.min()!
                        try await Task.sleep(until: wake, clock: clock)
                        if let deadline, clock.now >= deadline {
                            input.yield(.end)
                            return
                        }
                        if let interval = bookmarkInterval, let due = nextBookmark, clock.now >= due {
                            input.yield(.bookmark)
                            nextBookmark = due + interval
                        }
                    }
                }
            }
            loop: for await item in merged {
                switch item {
                case .event(let event):
                    try await write(event)
                    lastRevision = max(lastRevision, Self.revision(of: event) ?? lastRevision)
                case .bookmark:
                    try await write(Self.bookmark(kind, revision: lastRevision))
                case .end:
                    break loop
                }
            }
            group.cancelAll()
            cancel()
        }
    }

    static func revision(of event: WatchEvent) -> Int? {
        event.object["metadata"]?["resourceVersion"]?.stringValue.flatMap { Int($0) }
    }

    /// `{"kind":"ConfigMap","apiVersion":"v1","metadata":{"resourceVersion":"330","creationTimestamp":null}}` (fixture 17b).
    static func bookmark(_ kind: ResourceKind, revision: Int) -> WatchEvent {
        WatchEvent(
            type: .bookmark,
            object: .object(
                JSONObject([
                    ("kind", .string(kind.kind)), ("apiVersion", .string(kind.apiVersion)),
                    (
                        "metadata",
                        .object(
                            JSONObject([("resourceVersion", .string(String(revision))), ("creationTimestamp", .null)]))
                    ),
                ])))
    }
}
