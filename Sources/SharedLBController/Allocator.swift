import Foundation
public import Logging
public import ServiceLifecycle
import SharedLBAllocation
import SharedLBCore
public import SharedLBKubernetes
import Synchronization

/// The controller, in controller-runtime's shape: informers keep lean caches, their event
/// handlers turn each change into the work it concerns (``WorkRouting``) on a coalescing
/// ``WorkQueue``, and a worker takes that work in rounds. A round runs the reconcilers it
/// needs, each in a file of its own:
///
/// 1. placement and the ledger (``place(ledgerOverride:)``), only when a member's spec, the
///    ledger or the controller namespace's names changed: the ``Planner`` places every member
///    and the changed shards are written (compare-and-swap; on a 409 the ledger is read again
///    and planned again); what changed becomes work for the next steps;
/// 2. shared LB Services (``syncSharedLBs(_:planned:)``), created or patched from their shard,
///    and emptied ones deleted after the grace period;
/// 3. each queued member's mirrored EndpointSlices and 4. its results (``reconcileMembers(_:planned:)``),
///    a bounded number of members at once.
///
/// An object that cannot be written waits out its own backoff and is queued again after it;
/// every other object goes on at full speed. A full pass over everything is only the periodic
/// resync (and what follows a relist or a new leader). The ledger is the source of truth, so a
/// restarted allocator rebuilds the same state and writes nothing that is already right.
public final class Allocator: Service, Sendable {
    public let configuration: AllocatorConfiguration
    public let metrics: AllocatorMetrics
    /// Fenced by the elector's renew deadline, when there is one.
    let client: KubernetesClient
    /// The client unfenced: for the controller namespace, which every replica may create
    /// (the Lease lives there) before any of them leads.
    let replicaClient: KubernetesClient
    let logger: Logger
    let recorder: EventRecorder
    let elector: LeaderElector?
    let services: Informer<KubeService>
    let slices: Informer<EndpointSlice>
    let pods: Informer<PodSummary>
    let ledger: Informer<ConfigMap>
    /// Events in the controller namespace: the cloud's verdict on shared LBs.
    let events: Informer<Event>
    /// The cluster's Nodes, counted for ``PlacementConfiguration/maximumTargetsPerLB`` (only then).
    let nodes: Informer<NodeSummary>?
    let queue: WorkQueue
    let state = Mutex(State())
    /// A signal after each completed round (coalescing; for tests and `demo`).
    public let reconciled: AsyncStream<Void>
    let reconciledSignal: AsyncStream<Void>.Continuation

    struct State {
        /// Writes of the round under way, and of the last completed one.
        var writes = 0
        var lastPassWrites = 0
        var lastPassWasFull = false
        var services = RecentWrites<KubeService>()
        var configMaps = RecentWrites<ConfigMap>()
        var slices = RecentWrites<EndpointSlice>()
        /// The last placement, with the ledger it was planned from.
        var planned: Planned?
        /// Placement does not run again before this (``AllocatorConfiguration/placementBatchPeriod``).
        var nextPlacement: ContinuousClock.Instant?
        /// Placement was asked for during the batch period: the timer queues it when it ends.
        var placementWanted = false
        /// Consecutive placements that wrote the ledger.
        var placementStreak = 0
        /// Shared LBs (by name) without allocations, and since when.
        var emptySince: [String: ContinuousClock.Instant] = [:]
        /// Shared LB names whose ledger ConfigMap name is taken by something that is not a shard.
        var foreignLedgerNames: Set<String> = []
        /// Consecutive failed writes of each shared LB Service.
        var sharedFailures: [String: Int] = [:]
        /// What each shared LB's members are told while it cannot be written (kept while it
        /// waits out its backoff, so their error does not come and go).
        var sharedFailureMessages: [String: String] = [:]
        /// Members the API server refused on their shared LB, by uid (``Refusal``).
        var refusals: [String: Refusal] = [:]
        /// Members moved to another shared LB and not yet reported there, by uid (the new LB
        /// may have no address yet): their next endpoint comes with a Moved Event.
        var movesToReport: [String: [String]] = [:]
        /// Shared LB Services, mirrored slices and members whose last write failed.
        var backoff = ObjectBackoff()
        /// Shared LBs that fail, and who joined them when (``Failover``).
        var failover = Failover()
        var passes = 0
    }

    /// A placement and the ledger it stands on.
    struct Planned: Sendable {
        var placed: PlacedMembers
        /// Each readable shard's resourceVersion, by shared LB name.
        var versions: [String: String]
        /// Shared LBs whose shard cannot be read: left as they are.
        var unreadable: Set<String>
    }

    struct NotLeader: Error {}
    struct LedgerChanged: Error {}

    /// Index values of the services cache.
    enum ServiceIndex {
        static let member = "member"
        static let results = "results"
        static let sharedLB = "shared-lb"
        static let controllerNamespace = "controller-namespace"
    }

    public init(
        client: KubernetesClient, configuration: AllocatorConfiguration, metrics: AllocatorMetrics = AllocatorMetrics(),
        logger: Logger
    ) {
        let elector = configuration.leaderElection.map {
            LeaderElector(client: client, configuration: $0, logger: logger)
        }
        self.elector = elector
        replicaClient = client
        // Every write attempt, retries included, holds to the renew deadline (the elector's own
        // Lease writes do not: it renews through the unfenced client).
        let client = elector.map { elector in client.fenced { elector.writeDeadline } } ?? client
        self.client = client
        self.metrics = metrics
        self.configuration = configuration
        self.logger = logger
        (reconciled, reconciledSignal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        recorder = EventRecorder(
            client: client, controller: SharedLBNames.allocatorController, instance: configuration.identity)
        let timeout = configuration.watchTimeoutSeconds
        let namespace = configuration.namespace
        let shaping = configuration.placement.shaping
        // Lean caches; each change queues only the work it concerns, and the allocator's own
        // writes, seen again through the watches, queue nothing.
        let queue = WorkQueue(metrics: metrics)
        self.queue = queue
        let everything = { @Sendable in queue.add(.everything) }
        services = Informer(
            client: client, type: KubeService.self, namespace: nil, labelSelector: nil, watchTimeoutSeconds: timeout,
            transform: CacheFilter.lean,
            handler: { old, new in
                guard !queue.isEcho(new) else { return }
                queue.add(WorkRouting.service(old, new, controllerNamespace: namespace, shaping: shaping))
            }, replaced: everything,
            index: { Self.serviceIndex($0, controllerNamespace: namespace) }, logger: logger)
        slices = Informer(
            client: client, type: EndpointSlice.self, namespace: nil, labelSelector: nil,
            watchTimeoutSeconds: timeout, transform: CacheFilter.lean,
            handler: { old, new in
                guard !queue.isEcho(new) else { return }
                queue.add(WorkRouting.slice(old, new, controllerNamespace: namespace, memberUID: queue.memberUID))
            }, replaced: everything,
            index: { WorkRouting.sliceIndex($0, controllerNamespace: namespace) }, logger: logger)
        pods = Informer(
            client: client, type: PodSummary.self, namespace: nil, labelSelector: nil, watchTimeoutSeconds: timeout,
            handler: { old, new in
                queue.add(WorkRouting.pod(old, new, membersReferencing: queue.members(referencing:)))
            }, replaced: everything, logger: logger)
        events = Informer(
            client: client, type: Event.self, namespace: namespace, labelSelector: nil, watchTimeoutSeconds: timeout,
            handler: { old, new in queue.add(WorkRouting.event(old, new)) }, replaced: everything, logger: logger)
        nodes =
            configuration.placement.maximumTargetsPerLB == nil
            ? nil
            : Informer(
                client: client, type: NodeSummary.self, namespace: nil, labelSelector: nil,
                watchTimeoutSeconds: timeout, transform: NodeSummary.lean,
                handler: { old, new in
                    // A node more or fewer changes how many listeners a shared LB may take.
                    if old == nil || new == nil { queue.add(.placement) }
                }, replaced: everything, logger: logger)
        ledger = Informer(
            client: client, type: ConfigMap.self, namespace: namespace,
            labelSelector: "\(SharedLBNames.roleLabel)=\(SharedLBNames.ledgerRole)", watchTimeoutSeconds: timeout,
            handler: { _, new in
                guard !queue.isEcho(new) else { return }
                queue.add(.placement)
            }, replaced: everything, logger: logger)
    }

    static func serviceIndex(_ service: KubeService, controllerNamespace: String) -> [String] {
        var values: [String] = []
        if Member.isMember(service) { values.append(ServiceIndex.member) }
        if WorkRouting.hasResults(service) { values.append(ServiceIndex.results) }
        if service.metadata.namespace == controllerNamespace {
            values.append(ServiceIndex.controllerNamespace)
            if service.metadata.labels?[SharedLBNames.roleLabel] == SharedLBNames.sharedLBRole {
                values.append(ServiceIndex.sharedLB)
            }
        }
        return values
    }

    /// The Nodes counted for the targets cap (0 without one).
    public var countedNodes: Int { nodes?.count ?? 0 }

    /// Rounds completed (for tests and metrics).
    public var passes: Int { state.withLock { $0.passes } }

    /// True when this instance may write (always, without leader election).
    public var isLeader: Bool { elector?.isLeader ?? true }

    /// Ready once every watch has listed (a standby is ready too: it can take over at once).
    public var isReady: Bool {
        services.hasSynced && slices.hasSynced && pods.hasSynced && ledger.hasSynced && events.hasSynced
            && nodes?.hasSynced ?? true
    }

    public func run() async throws {
        await ensureNamespace()
        try await withThrowingTaskGroup(of: Void.self) { group in
            if let elector {
                // The elector ends by itself on graceful shutdown.
                group.addTask { try await elector.run() }
            }
            group.addTask {
                try await cancelWhenGracefulShutdown {
                    try await self.runControllers()
                }
            }
            try await group.waitForAll()
        }
        // Nothing writes any more: a standby may take over at once.
        await elector?.release()
    }

    func ensureNamespace() async {
        guard configuration.createNamespace else { return }
        do {
            _ = try await replicaClient.get(Namespace.self, namespace: nil, name: configuration.namespace)
            return
        } catch {
            guard error.kind == .notFound else {
                logger.warning(
                    "could not read the allocator's namespace",
                    metadata: ["k8s.namespace": "\(configuration.namespace)", "error.message": "\(error)"])
                return
            }
        }
        do {
            _ = try await replicaClient.create(Namespace(metadata: ObjectMeta(name: configuration.namespace)))
            logger.notice(
                "created the allocator's namespace", metadata: ["k8s.namespace": "\(configuration.namespace)"])
        } catch  where error.kind == .alreadyExists {
            // Another replica was first.
        } catch {
            logger.warning(
                "the allocator's namespace is missing and could not be created",
                metadata: ["k8s.namespace": "\(configuration.namespace)", "error.message": "\(error)"])
        }
    }

    /// Asks for a full pass soon.
    public func resync() {
        queue.add(.everything)
    }

    func runControllers() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.services.run() }
            group.addTask { try await self.slices.run() }
            group.addTask { try await self.pods.run() }
            group.addTask { try await self.ledger.run() }
            group.addTask { try await self.events.run() }
            if let nodes { group.addTask { try await nodes.run() } }
            if let elector {
                group.addTask {
                    // A new leader starts from everything, without the backoffs of an earlier
                    // term; a deposed one stops.
                    for await _ in elector.changes {
                        if self.isLeader {
                            self.state.withLock { $0.backoff = ObjectBackoff() }
                            self.countBackoffs()
                        }
                        self.queue.add(.everything)
                    }
                }
            }
            group.addTask { try await self.runTimers() }
            group.addTask { try await self.runWorker() }
            try await group.next()
            group.cancelAll()
        }
    }
}
