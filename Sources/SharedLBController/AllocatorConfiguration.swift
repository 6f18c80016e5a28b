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

    public init(
        namespace: String = SharedLBNames.defaultNamespace, placement: PlacementConfiguration = .init(),
        emptyGracePeriod: Duration = .seconds(600), resyncInterval: Duration = .seconds(300), identity: String,
        leaderElection: LeaderElector.Configuration? = nil, createNamespace: Bool = true,
        watchTimeoutSeconds: Int = 290
    ) {
        self.namespace = namespace
        self.placement = placement
        self.emptyGracePeriod = emptyGracePeriod
        self.resyncInterval = resyncInterval
        self.identity = identity
        self.leaderElection = leaderElection
        self.createNamespace = createNamespace
        self.watchTimeoutSeconds = watchTimeoutSeconds
    }
}
