import Foundation
public import Logging
import ServiceLifecycle
public import SharedLBCore
public import SharedLBKubernetes
import Synchronization

/// Leader election over a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it:
/// the holder renews every `retryPeriod`; a candidate takes the Lease over once it has seen
/// it unchanged for a whole `leaseDuration` (its own clock, not the holder's timestamps); a
/// leader that has not renewed within `renewDeadline` stops at once, before any candidate may
/// take over (`renewDeadline` < `leaseDuration`).
public final class LeaderElector: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var leaseName: String
        public var namespace: String
        public var identity: String
        public var leaseDuration: Duration
        public var renewDeadline: Duration
        public var retryPeriod: Duration

        public init(
            leaseName: String = "sharedlb-allocator", namespace: String = SharedLBNames.defaultNamespace,
            identity: String, leaseDuration: Duration = .seconds(15), renewDeadline: Duration = .seconds(10),
            retryPeriod: Duration = .seconds(2)
        ) {
            self.leaseName = leaseName
            self.namespace = namespace
            self.identity = identity
            self.leaseDuration = leaseDuration
            self.renewDeadline = renewDeadline
            self.retryPeriod = retryPeriod
        }
    }

    struct State {
        /// Leader until then (last successful renewal + renewDeadline).
        var leaderUntil: ContinuousClock.Instant?
        /// The Lease record last seen, and when it was first seen like that.
        var observed: String?
        /// This instance has held the Lease (a standby that never did has nothing to release).
        var held = false
        var observedAt: ContinuousClock.Instant?
        var transitions = 0
        /// The last Lease error warned about, and when (the same one is repeated once a minute).
        var warned: (message: String, at: ContinuousClock.Instant)?
    }

    public let configuration: Configuration
    let client: KubernetesClient
    let logger: Logger
    private let state = Mutex(State())
    /// A signal each time leadership is gained or lost.
    public let changes: AsyncStream<Void>
    private let signal: AsyncStream<Void>.Continuation

    public init(client: KubernetesClient, configuration: Configuration, logger: Logger) {
        self.client = client
        self.configuration = configuration
        self.logger = logger
        (changes, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// True while this instance may write: it holds the Lease and renewed it recently enough.
    public var isLeader: Bool {
        state.withLock { state in state.leaderUntil.map { ContinuousClock.now < $0 } ?? false }
    }

    /// Until when this instance may write (its last renewal plus the renew deadline), or nil
    /// when it is not the leader: the fence of the allocator's client.
    public var writeDeadline: ContinuousClock.Instant? {
        state.withLock { state in state.leaderUntil.flatMap { ContinuousClock.now < $0 ? $0 : nil } }
    }

    /// Campaigns and renews until cancelled or a graceful shutdown; ``release()`` then gives
    /// the Lease up (after the writers have stopped).
    public func run() async throws {
        var wasLeader = false
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let started = ContinuousClock.now
            let acquired = await tryAcquireOrRenew(now: started)
            let leader = state.withLock { state in
                if acquired { state.leaderUntil = started + configuration.renewDeadline }
                return state.leaderUntil.map { ContinuousClock.now < $0 } ?? false
            }
            if leader != wasLeader {
                logger.notice(
                    leader ? "became the leader" : "lost the leadership",
                    metadata: ["lease": "\(configuration.namespace)/\(configuration.leaseName)"])
                signal.yield()
                wasLeader = leader
            }
            // A leader wakes up again just after its deadline if renewals keep failing.
            var pause = configuration.retryPeriod
            if leader, let until = state.withLock({ $0.leaderUntil }) {
                pause = min(pause, max(.milliseconds(1), until - ContinuousClock.now))
            }
            do {
                try await Task.sleep(for: pause)
            } catch {
                break
            }
        }
        signal.finish()
    }

    func tryAcquireOrRenew(now: ContinuousClock.Instant) async -> Bool {
        let time = EventRecorder.microTime(Date())
        let seconds = Int(configuration.leaseDuration.components.seconds)
        do {
            var lease: Lease
            do {
                lease = try await client.get(
                    Lease.self, namespace: configuration.namespace, name: configuration.leaseName)
            } catch {
                guard error.kind == .notFound else { throw error }
                _ = try await client.create(
                    Lease(
                        metadata: ObjectMeta(name: configuration.leaseName, namespace: configuration.namespace),
                        spec: Lease.Spec(
                            holderIdentity: configuration.identity, leaseDurationSeconds: seconds, acquireTime: time,
                            renewTime: time, leaseTransitions: 0)))
                state.withLock { $0.held = true }
                return true
            }
            var spec = lease.spec ?? Lease.Spec()
            let record = "\(spec.holderIdentity ?? "")|\(spec.renewTime ?? "")|\(lease.metadata.resourceVersion ?? "")"
            let expired = state.withLock { state -> Bool in
                if state.observed != record {
                    state.observed = record
                    state.observedAt = now
                }
                let duration = Duration.seconds(spec.leaseDurationSeconds ?? seconds)
                return now >= state.observedAt! + duration
            }
            if spec.holderIdentity == configuration.identity {
                spec.renewTime = time
                spec.leaseDurationSeconds = seconds
            } else if spec.holderIdentity?.isEmpty ?? true || expired {
                spec.holderIdentity = configuration.identity
                spec.acquireTime = time
                spec.renewTime = time
                spec.leaseDurationSeconds = seconds
                spec.leaseTransitions = (spec.leaseTransitions ?? 0) + 1
            } else {
                // Someone else holds it: whatever we believed, we are not the leader.
                state.withLock { $0.leaderUntil = nil }
                return false
            }
            lease.spec = spec
            let updated = try await client.update(lease)
            state.withLock { state in
                state.observed =
                    "\(spec.holderIdentity ?? "")|\(spec.renewTime ?? "")|\(updated.metadata.resourceVersion ?? "")"
                state.observedAt = now
                state.held = true
            }
            return true
        } catch {
            report(error, now: now)
            return false
        }
    }

    /// A Lease that cannot be read or written makes this replica a standby that never leads,
    /// so it is a warning (a missing Lease permission would otherwise go unnoticed); the same
    /// error again within a minute is a debug line. A 409 is another replica winning a race.
    func report(_ error: any Error, now: ContinuousClock.Instant) {
        let metadata: Logger.Metadata = [
            "lease": "\(configuration.namespace)/\(configuration.leaseName)", "error.message": "\(error)",
        ]
        let warn = state.withLock { state -> Bool in
            guard (error as? KubernetesError)?.kind != .conflict else { return false }
            let message = "\(error)"
            if let warned = state.warned, warned.message == message, now - warned.at < .seconds(60) {
                return false
            }
            state.warned = (message, now)
            return true
        }
        if warn {
            logger.warning("cannot read or renew the leader Lease: this replica cannot lead", metadata: metadata)
        } else {
            logger.debug("lease attempt failed", metadata: metadata)
        }
    }

    /// Gives the Lease up, if this instance holds it: no holder and a one-second duration,
    /// so a standby takes over at once. Call it once nothing writes any more. An instance that
    /// never held the Lease sends nothing.
    public func release() async {
        // A standby asks nothing: with the API server gone it would wait out every retry first.
        guard
            state.withLock({
                $0.leaderUntil = nil
                return $0.held
            })
        else { return }
        do {
            var lease = try await client.get(
                Lease.self, namespace: configuration.namespace, name: configuration.leaseName)
            guard lease.spec?.holderIdentity == configuration.identity else { return }
            lease.spec?.holderIdentity = ""
            lease.spec?.leaseDurationSeconds = 1
            lease.spec?.renewTime = EventRecorder.microTime(Date())
            _ = try await client.update(lease)
            logger.notice("released the lease")
        } catch {
            logger.warning(
                "could not release the lease",
                metadata: [
                    "lease": "\(configuration.namespace)/\(configuration.leaseName)", "error.message": "\(error)",
                ])
        }
    }
}
