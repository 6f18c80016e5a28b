import ServiceLifecycle
import Synchronization

/// Whether the webhook should receive traffic: a certificate is loaded and it is not shutting down.
public final class Readiness: Sendable {
    private struct State {
        var certificateLoaded = false
        var shuttingDown = false
    }

    private let state = Mutex(State())

    public init() {}

    public var isReady: Bool {
        state.withLock { $0.certificateLoaded && !$0.shuttingDown }
    }

    public var isShuttingDown: Bool {
        state.withLock { $0.shuttingDown }
    }

    func certificateLoaded() {
        state.withLock { $0.certificateLoaded = true }
    }

    func beginShutdown() {
        state.withLock { $0.shuttingDown = true }
    }
}

/// The first service to hear of a graceful shutdown (it runs last in the group): it
/// turns readiness off, then waits `delay` so endpoints stop routing here before the
/// HTTP server stops accepting connections.
struct ReadinessGateService: Service, CustomStringConvertible {
    var description: String { "ReadinessGateService" }

    let readiness: Readiness
    let delay: Duration

    func run() async throws {
        // Returns when graceful shutdown begins; throws only on cancellation.
        try await gracefulShutdown()
        readiness.beginShutdown()
        if delay > .zero {
            try? await Task.sleep(for: delay)
        }
    }
}
