public import Prometheus
import SharedLBAllocation
import SharedLBCore
import SharedLBKubernetes

/// The allocator's Prometheus metrics, all named `sharedlb_allocator_…`.
public struct AllocatorMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let passes: Counter
    let failedPasses: Counter
    let conflicts: Counter
    let passDuration: DurationHistogram
    let writes: Counter
    let allocations: Gauge
    let sharedLBs: Gauge
    let placedMembers: Gauge
    let failingMembers: Gauge
    let unreadableShards: Gauge
    /// 1 while this replica holds the Lease; the gauges above are the leader's (0 elsewhere).
    let leader: Gauge
    /// Objects in the allocator's caches, by resource.
    let cachedServices: Gauge
    let cachedPods: Gauge
    let cachedSlices: Gauge
    /// Work queued by watched changes and timers, by kind.
    let queuedFullPasses: Counter
    let queuedPlacements: Counter
    let queuedMembers: Counter
    let queuedServices: Counter
    let queuedSharedLBs: Counter
    /// Failed writes by reason (every reason exported from the start, at 0).
    let writeFailures: [String: Counter]
    /// Objects whose last write failed (waiting out their backoff, or queued to retry).
    let backoffObjects: Gauge
    /// Self-healing (`--failover-after`).
    let failingLBs: Gauge
    let failoverMoves: Counter

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(
                namespace: SharedLBNames.metricsPrefix, subsystem: "allocator", metricName: metric, unitName: unit,
                helpText: help)
        }
        let reconciles = name("reconciles", "total", "Reconcile passes, by result.")
        passes = registry.makeCounter(descriptor: reconciles, labels: [("result", "success")])
        failedPasses = registry.makeCounter(descriptor: reconciles, labels: [("result", "error")])
        conflicts = registry.makeCounter(
            descriptor: name("ledger_conflicts", "total", "Ledger writes refused with 409 and planned again."))
        passDuration = registry.makeDurationHistogram(
            descriptor: name("reconcile_duration", "seconds", "Time of one reconcile pass."),
            buckets: [
                .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250), .seconds(1),
                .seconds(2.5), .seconds(10), .seconds(30),
            ])
        writes = registry.makeCounter(descriptor: name("api_writes", "total", "Writes sent to the API server."))
        allocations = registry.makeGauge(descriptor: name("allocations", "", "Ledger lines (allocated slots)."))
        sharedLBs = registry.makeGauge(descriptor: name("shared_lbs", "", "Shared LB Services in the ledger."))
        placedMembers = registry.makeGauge(
            descriptor: name("members", "", "Managed Services, by state."), labels: [("state", "placed")])
        failingMembers = registry.makeGauge(
            descriptor: name("members", "", "Managed Services, by state."), labels: [("state", "failing")])
        unreadableShards = registry.makeGauge(
            descriptor: name("unreadable_ledger_shards", "", "Ledger ConfigMaps that cannot be read (left untouched)."))
        leader = registry.makeGauge(descriptor: name("leader", "", "1 while this instance holds the Lease."))
        let cached = name("cached_objects", "", "Objects in the allocator's caches, by resource.")
        cachedServices = registry.makeGauge(descriptor: cached, labels: [("resource", "services")])
        cachedPods = registry.makeGauge(descriptor: cached, labels: [("resource", "pods")])
        cachedSlices = registry.makeGauge(descriptor: cached, labels: [("resource", "endpointslices")])
        let queued = name(
            "work_queued", "total",
            "Work queued by watched changes and timers, by kind (a key already queued counts again).")
        queuedFullPasses = registry.makeCounter(descriptor: queued, labels: [("kind", "everything")])
        queuedPlacements = registry.makeCounter(descriptor: queued, labels: [("kind", "placement")])
        queuedMembers = registry.makeCounter(descriptor: queued, labels: [("kind", "member")])
        queuedServices = registry.makeCounter(descriptor: queued, labels: [("kind", "service")])
        queuedSharedLBs = registry.makeCounter(descriptor: queued, labels: [("kind", "shared_lb")])
        let failures = name(
            "api_write_failures", "total", "Writes that failed, by reason (the API server's answer, or transport).")
        writeFailures = Dictionary(
            uniqueKeysWithValues: Self.reasons.map {
                ($0, registry.makeCounter(descriptor: failures, labels: [("reason", $0)]))
            })
        backoffObjects = registry.makeGauge(
            descriptor: name(
                "backoff_objects", "", "Objects whose last write failed: waiting out their backoff or queued to retry.")
        )
        failingLBs = registry.makeGauge(
            descriptor: name(
                "failing_shared_lbs", "", "Shared LBs the cloud fails (latest Event) or the API server refuses."))
        failoverMoves = registry.makeCounter(
            descriptor: name(
                "failover_moves", "total", "Members moved off a shared LB given up on after --failover-after."))
    }

    func count(queued work: Work) {
        if work.everything { queuedFullPasses.increment() }
        if work.placement { queuedPlacements.increment() }
        if !work.members.isEmpty { queuedMembers.increment(by: Int64(work.members.count)) }
        if !work.services.isEmpty { queuedServices.increment(by: Int64(work.services.count)) }
        if !work.sharedLBs.isEmpty { queuedSharedLBs.increment(by: Int64(work.sharedLBs.count)) }
    }

    /// Counts a write the API server refused or that failed, by the error's kind.
    func countWriteFailure(_ error: KubernetesError) {
        (writeFailures[Self.reason(error.kind)] ?? writeFailures["other"])?.increment()
    }

    /// Every value of the `reason` label.
    static let reasons = [
        "not_found", "already_exists", "conflict", "invalid", "forbidden", "unauthorized", "gone", "too_many_requests",
        "bad_request", "method_not_allowed", "unsupported_media_type", "timeout", "server_error", "transport",
        "decoding", "configuration", "fenced", "other",
    ]

    /// A label value for each kind of error (`forbidden`, `invalid`, `server_error`, ...).
    static func reason(_ kind: KubernetesError.Kind) -> String {
        switch kind {
        case .notFound: "not_found"
        case .alreadyExists: "already_exists"
        case .conflict: "conflict"
        case .invalid: "invalid"
        case .forbidden: "forbidden"
        case .unauthorized: "unauthorized"
        case .gone: "gone"
        case .tooManyRequests: "too_many_requests"
        case .badRequest: "bad_request"
        case .methodNotAllowed: "method_not_allowed"
        case .unsupportedMediaType: "unsupported_media_type"
        case .timeout: "timeout"
        case .serverError: "server_error"
        case .transport: "transport"
        case .decoding: "decoding"
        case .configuration: "configuration"
        case .fenced: "fenced"
        case .other: "other"
        }
    }

    /// Zeroes what only the leader measures (ledger lines, shared LBs, members, unreadable shards,
    /// failing shared LBs, objects in backoff): a replica that lost the Lease would otherwise keep its last values, and
    /// `max()` over the replicas, which the alerts and the dashboard take, would read them as the
    /// leader's.
    func clearLeaderGauges() {
        for gauge in [
            allocations, sharedLBs, placedMembers, failingMembers, unreadableShards, failingLBs, backoffObjects,
        ] {
            gauge.set(0.0)
        }
    }

    /// The Prometheus text exposition of every metric in the registry.
    public func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }
}
