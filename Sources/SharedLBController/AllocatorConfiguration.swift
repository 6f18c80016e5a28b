public import SharedLBAllocation
public import SharedLBCore

/// How an allocator runs.
public struct AllocatorConfiguration: Sendable {
    /// Where shared LB Services, the ledger, mirrored slices and the Lease live.
    public var namespace: String
    public var placement: PlacementConfiguration
    /// How long an emptied shared LB is kept (so a delete/recreate keeps the address).
    public var emptyGracePeriod: Duration
    /// A full reconcile at least this often, whatever the watches say.
    public var resyncInterval: Duration
    /// This instance, in Events and the Lease.
    public var identity: String
    /// nil: no election, this instance always writes (tests, single replica).
    public var leaderElection: LeaderElector.Configuration?
    /// Create the namespace when it is missing (and permitted).
    public var createNamespace: Bool
    /// Server-side timeout of each watch.
    public var watchTimeoutSeconds: Int
    /// Members (mirrored slices and results) and shared LBs written at once.
    public var concurrentWrites: Int
    /// The longest wait between two placements during a burst: placements that keep writing
    /// the ledger are spaced 1/16 of this apart, doubling up to it (one in a quiet cluster runs
    /// at once), so a burst of new members becomes few ledger and shared LB writes, as the
    /// EndpointSlice controller batches with `--endpointslice-updates-batch-period`.
    public var placementBatchPeriod: Duration
    /// Self-healing: a shared LB failing this long is given up on and the members it does not
    /// serve move to another LB of their pool (``Failover``); nil: never.
    public var failoverAfter: Duration?
    /// Which Warning reasons on a shared LB are failures; nil: any that begins or ends with `Failed`.
    public var failureReasons: Set<String>?
    /// Annotations a shared LB that mixes protocols needs (``ProviderPreset``).
    public var mixedProtocolAnnotations: [String: String]

    public init(
        namespace: String = SharedLBNames.defaultNamespace, placement: PlacementConfiguration = .init(),
        emptyGracePeriod: Duration = .seconds(600), resyncInterval: Duration = .seconds(300), identity: String,
        leaderElection: LeaderElector.Configuration? = nil, createNamespace: Bool = true,
        watchTimeoutSeconds: Int = 290, concurrentWrites: Int = 8, placementBatchPeriod: Duration = .seconds(4),
        failoverAfter: Duration? = .seconds(600), failureReasons: Set<String>? = nil,
        mixedProtocolAnnotations: [String: String] = [:]
    ) {
        self.namespace = namespace
        self.placement = placement
        self.emptyGracePeriod = emptyGracePeriod
        self.resyncInterval = resyncInterval
        self.identity = identity
        self.leaderElection = leaderElection
        self.createNamespace = createNamespace
        self.watchTimeoutSeconds = watchTimeoutSeconds
        self.concurrentWrites = max(1, concurrentWrites)
        self.placementBatchPeriod = placementBatchPeriod
        self.failoverAfter = failoverAfter
        self.failureReasons = failureReasons
        self.mixedProtocolAnnotations = mixedProtocolAnnotations
    }

    /// Whether a Warning reason on a shared LB is a failure of the load-balancer implementation.
    public func isFailure(_ reason: String) -> Bool {
        failureReasons?.contains(reason) ?? LoadBalancerHealth.isFailure(reason)
    }
}
