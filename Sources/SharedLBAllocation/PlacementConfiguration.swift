/// The placement rules an allocator runs with.
public struct PlacementConfiguration: Sendable, Equatable {
    /// Listeners per shared LB (AWS NLB: 50).
    public var maximumPortsPerLB: Int
    /// Shared LBs per pool (compatibility key); `0` for no limit.
    public var maximumLBsPerPool: Int
    /// For members without `sharedlb.io/port-policy`.
    public var defaultPolicy: PortPolicy
    /// Where `remap` finds a replacement for a taken port.
    public var remapRange: ClosedRange<Int>
    /// Whether one shared LB may carry TCP, UDP and SCTP together.
    public var mixedProtocol: Bool
    /// The annotations that decide sharing (members' keys and, migrated, the ledger's).
    public var shaping: ShapingAnnotations
    /// Listeners × nodes per shared LB, where every listener registers every node as a target
    /// (AWS: 3,000 per NLB); nil for no such cap.
    public var maximumTargetsPerLB: Int?
    /// The cluster's nodes, for ``maximumTargetsPerLB`` (0: not known, no cap).
    public var nodes = 0

    /// Listeners per shared LB with the targets cap applied (at least one).
    public var portsPerLB: Int {
        guard let targets = maximumTargetsPerLB, nodes > 0 else { return maximumPortsPerLB }
        return max(1, min(maximumPortsPerLB, targets / nodes))
    }

    /// Beyond this a shard's ConfigMap could pass ``LedgerShard/maximumBytes``.
    public static let portsPerLBLimit = 1000

    public init(
        maximumPortsPerLB: Int = 50, maximumLBsPerPool: Int = 100, defaultPolicy: PortPolicy = .preserve,
        remapRange: ClosedRange<Int> = 20000...29999, mixedProtocol: Bool = false,
        shaping: ShapingAnnotations = .standard, maximumTargetsPerLB: Int? = nil
    ) {
        self.maximumPortsPerLB = maximumPortsPerLB
        self.maximumLBsPerPool = maximumLBsPerPool
        self.defaultPolicy = defaultPolicy
        self.remapRange = remapRange
        self.mixedProtocol = mixedProtocol
        self.shaping = shaping
        self.maximumTargetsPerLB = maximumTargetsPerLB
    }
}
