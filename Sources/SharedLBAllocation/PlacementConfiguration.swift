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

    /// Beyond this a shard's ConfigMap could pass ``LedgerShard/maximumBytes``.
    public static let portsPerLBLimit = 1000

    public init(
        maximumPortsPerLB: Int = 50, maximumLBsPerPool: Int = 100, defaultPolicy: PortPolicy = .preserve,
        remapRange: ClosedRange<Int> = 20000...29999, mixedProtocol: Bool = false,
        shaping: ShapingAnnotations = .standard
    ) {
        self.maximumPortsPerLB = maximumPortsPerLB
        self.maximumLBsPerPool = maximumLBsPerPool
        self.defaultPolicy = defaultPolicy
        self.remapRange = remapRange
        self.mixedProtocol = mixedProtocol
        self.shaping = shaping
    }
}
