import Foundation
public import Logging
public import ServiceLifecycle
import SharedLBAllocation
import SharedLBCore
public import SharedLBKubernetes
import Synchronization

/// The controller: watches members, the ledger, shared LB Services, EndpointSlices and Pods,
/// and on every change (coalesced) runs one reconcile pass:
///
/// 1. place members with ``Planner`` and write the changed ledger shards (compare-and-swap on
///    each shard's resourceVersion; on a 409 re-read the ledger and plan again);
/// 2. bring each shared LB Service in line with its shard (create, or a merge patch of
///    SharedLB's fields), and delete emptied ones after the grace period;
/// 3. mirror each member's EndpointSlices onto its shared LB;
/// 4. report to members: `sharedlb.io/endpoint` and `sharedlb.io/shared-service` once the
///    shared LB has an address, `sharedlb.io/error` while placement fails, and an Event.
///
/// The ledger is the source of truth: everything else is derived from it, so a restarted
/// allocator rebuilds the same state and writes nothing that is already right.
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
    /// The namespaces of the last pass's members: Pod and slice changes elsewhere wake nothing.
    let memberNamespaces: MemberNamespaces
    let ledger: Informer<ConfigMap>
    /// Events in the controller namespace: the cloud's verdict on shared LBs.
    let events: Informer<Event>
    private let state = Mutex(State())
    /// A signal after each completed reconcile pass (coalescing; for tests and `demo`).
    public let reconciled: AsyncStream<Void>
    private let reconciledSignal: AsyncStream<Void>.Continuation
    /// Wake-ups of the reconcile loop: informer changes, leadership changes, timers, ``resync()``.
    private let kicks: AsyncStream<Void>
    private let kick: AsyncStream<Void>.Continuation

    struct State {
        /// Writes of the pass under way, and of the last completed one.
        var writes = 0
        var lastPassWrites = 0
        var services = RecentWrites<KubeService>()
        var configMaps = RecentWrites<ConfigMap>()
        var slices = RecentWrites<EndpointSlice>()
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
        var passes = 0
    }

    struct NotLeader: Error {}
    /// A pass that did what it could; some writes failed transiently and are retried.
    struct PassIncomplete: Error {}
    struct LedgerChanged: Error {}

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
        (kicks, kick) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        recorder = EventRecorder(client: client, controller: "allocator.sharedlb.io", instance: configuration.identity)
        let timeout = configuration.watchTimeoutSeconds
        // Lean caches, and only changes that concern a member or a shared LB start a pass.
        let controllerNamespace = configuration.namespace
        let memberNamespaces = MemberNamespaces()
        self.memberNamespaces = memberNamespaces
        services = Informer(
            client: client, type: KubeService.self, namespace: nil, labelSelector: nil, watchTimeoutSeconds: timeout,
            transform: CacheFilter.lean,
            relevant: { CacheFilter.concerns($0, $1, controllerNamespace: controllerNamespace) }, logger: logger)
        slices = Informer(
            client: client, type: EndpointSlice.self, namespace: nil, labelSelector: nil,
            watchTimeoutSeconds: timeout, transform: CacheFilter.lean,
            relevant: {
                CacheFilter.concerns(
                    $0, $1, controllerNamespace: controllerNamespace, memberNamespaces: memberNamespaces.current)
            }, logger: logger)
        pods = Informer(
            client: client, type: PodSummary.self, namespace: nil, labelSelector: nil, watchTimeoutSeconds: timeout,
            relevant: { CacheFilter.concerns($0, $1, memberNamespaces: memberNamespaces.current) }, logger: logger)
        events = Informer(
            client: client, type: Event.self, namespace: configuration.namespace, labelSelector: nil,
            watchTimeoutSeconds: timeout, logger: logger)
        ledger = Informer(
            client: client, type: ConfigMap.self, namespace: configuration.namespace,
            labelSelector: "\(SharedLBNames.roleLabel)=\(SharedLBNames.ledgerRole)", watchTimeoutSeconds: timeout,
            logger: logger)
    }

    /// Reconcile passes completed (for tests and metrics).
    public var passes: Int { state.withLock { $0.passes } }

    /// True when this instance may write (always, without leader election).
    public var isLeader: Bool { elector?.isLeader ?? true }

    /// Ready once every watch has listed (a standby is ready too: it can take over at once).
    public var isReady: Bool {
        services.hasSynced && slices.hasSynced && pods.hasSynced && ledger.hasSynced && events.hasSynced
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
                logger.warning("could not read namespace \(configuration.namespace): \(error)")
                return
            }
        }
        do {
            _ = try await replicaClient.create(Namespace(metadata: ObjectMeta(name: configuration.namespace)))
            logger.notice("created namespace \(configuration.namespace)")
        } catch  where error.kind == .alreadyExists {
            // Another replica was first.
        } catch {
            logger.warning("namespace \(configuration.namespace) is missing and could not be created: \(error)")
        }
    }

    /// Asks for a reconcile pass soon.
    public func resync() {
        kick.yield()
    }

    func runControllers() async throws {
        let kick = self.kick
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.services.run() }
            group.addTask { try await self.slices.run() }
            group.addTask { try await self.pods.run() }
            group.addTask { try await self.ledger.run() }
            group.addTask { try await self.events.run() }
            var signals = [services.updates, slices.updates, pods.updates, ledger.updates, events.updates]
            if let elector { signals.append(elector.changes) }
            for signal in signals {
                group.addTask {
                    for await _ in signal { kick.yield() }
                }
            }
            group.addTask {
                // A pass every resync interval, and when an emptied shared LB's grace period ends.
                var lastResync = ContinuousClock.now
                let tick = min(.milliseconds(250), self.configuration.resyncInterval)
                while !Task.isCancelled {
                    try await Task.sleep(for: tick)
                    self.metrics.cachedServices.set(Double(self.services.count))
                    self.metrics.cachedPods.set(Double(self.pods.count))
                    self.metrics.cachedSlices.set(Double(self.slices.count))
                    let now = ContinuousClock.now
                    let grace = self.configuration.emptyGracePeriod
                    let due = self.state.withLock { state in
                        state.emptySince.values.contains { now - $0 >= grace }
                            || state.backoff.nextRetry.map { $0 <= now } ?? false
                    }
                    if due || now - lastResync >= self.configuration.resyncInterval {
                        lastResync = now
                        kick.yield()
                    }
                }
            }
            group.addTask {
                var failures = 0
                for await _ in self.kicks {
                    self.metrics.leader.set(self.isLeader ? 1.0 : 0.0)
                    guard self.isReady, self.isLeader else { continue }
                    let started = ContinuousClock.now
                    do {
                        try await self.reconcile()
                        self.metrics.passes.increment()
                        self.metrics.passDuration.record(ContinuousClock.now - started)
                        failures = 0
                    } catch is CancellationError {
                        return
                    } catch is NotLeader {
                        self.logger.notice("not the leader any more: pass abandoned")
                    } catch let error as KubernetesError where error.kind == .fenced {
                        // Past the renew deadline: as NotLeader, no backoff.
                        self.logger.notice("not the leader any more: pass abandoned (\(error))")
                    } catch {
                        self.metrics.failedPasses.increment()
                        failures += 1
                        let delay = Duration.milliseconds(min(30_000, 100 << min(failures, 9)))
                        self.logger.warning("reconcile failed (retry in \(delay)): \(error)")
                        try await Task.sleep(for: delay)
                        kick.yield()
                    }
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    // MARK: One pass

    /// One reconcile pass over the current snapshots.
    public func reconcile() async throws {
        var fresh: [ConfigMap]?
        state.withLock { $0.writes = 0 }
        for attempt in 1...5 {
            do {
                try await reconcileOnce(ledgerOverride: fresh)
                state.withLock { state in
                    state.passes += 1
                    state.lastPassWrites = state.writes
                    state.writes = 0
                }
                reconciledSignal.yield()
                return
            } catch is LedgerChanged where attempt < 5 {
                metrics.conflicts.increment()
                // Someone else wrote the ledger: read it afresh and plan again.
                fresh = try await client.listAll(
                    ConfigMap.self, namespace: configuration.namespace,
                    labelSelector: "\(SharedLBNames.roleLabel)=\(SharedLBNames.ledgerRole)"
                ).items
            }
        }
    }

    func reconcileOnce(ledgerOverride: [ConfigMap]?) async throws {
        let started = ContinuousClock.now
        let namespace = configuration.namespace
        var serviceSnapshot = services.snapshot()
        // Before the slices and Pods are read: a change of theirs that lands after this wakes
        // the next pass, one that landed before is in what this pass reads.
        memberNamespaces.current = Set(serviceSnapshot.values.filter(Member.isMember).compactMap(\.metadata.namespace))
        var configMapSnapshot: [String: ConfigMap]
        if let ledgerOverride {
            configMapSnapshot = Dictionary(
                ledgerOverride.map { (key($0.metadata), $0) }, uniquingKeysWith: { first, _ in first })
        } else {
            configMapSnapshot = ledger.snapshot()
        }
        var sliceSnapshot = slices.snapshot()
        state.withLock { state in
            state.services.overlay(&serviceSnapshot)
            if ledgerOverride == nil { state.configMaps.overlay(&configMapSnapshot) }
            state.slices.overlay(&sliceSnapshot)
        }

        // The ledger as it is.
        var shards: [LedgerShard] = []
        var versions: [String: String] = [:]
        var unreadable: Set<String> = []
        for configMap in configMapSnapshot.values {
            let name = configMap.metadata.name ?? ""
            do {
                let shard = try LedgerShard(configMapName: name, data: configMap.data ?? [:])
                shards.append(shard)
                versions[shard.sharedService] = configMap.metadata.resourceVersion
            } catch {
                // Never written over: an operator has to look at it (audit names it).
                logger.error("ledger shard \(name) is unreadable and left untouched: \(error)")
                if let service = Naming.sharedService(ofLedger: name) { unreadable.insert(service) }
            }
        }
        let sharedServices = serviceSnapshot.values.filter {
            $0.metadata.namespace == namespace
                && $0.metadata.labels?[SharedLBNames.roleLabel] == SharedLBNames.sharedLBRole
        }
        // Names a new shared LB must not take: every Service of the namespace (a shared LB
        // held by a finalizer, or someone else's), unreadable shards, and ConfigMaps of a
        // shard's name that are not ledger shards.
        let reserved = unreadable.union(
            serviceSnapshot.values.filter { $0.metadata.namespace == namespace }.compactMap(\.metadata.name)
        ).union(state.withLock { $0.foreignLedgerNames })
        let shaping = configuration.placement.shaping
        let allMembers = serviceSnapshot.values.compactMap { Member(service: $0, shaping: shaping) }
        // A member refused on its shared LB stays out of placement until it changes.
        let refusals = state.withLock { state in
            let current = Dictionary(
                allMembers.map { ($0.uid, Refusal.fingerprint(of: $0)) }, uniquingKeysWith: { a, _ in a })
            state.refusals = state.refusals.filter { current[$0.key] == $0.value.fingerprint }
            return state.refusals
        }
        let members = allMembers.filter { refusals[$0.uid] == nil }
        var placement = Planner.plan(
            members: members, shards: shards, reservedNames: reserved, configuration: configuration.placement)
        for (uid, refusal) in refusals { placement.failures[uid] = refusal.message }
        metrics.allocations.set(Double(placement.shards.values.reduce(0) { $0 + $1.allocations.count }))
        metrics.sharedLBs.set(Double(placement.shards.count))
        metrics.failingMembers.set(Double(placement.failures.count))
        metrics.placedMembers.set(Double(allMembers.count - placement.failures.count))
        metrics.unreadableShards.set(Double(unreadable.count))

        // 1. The ledger first: everything else follows from it.
        for name in placement.changed {
            try await writeShard(placement.shards[name]!, replacing: versions[name])
        }

        // 2. Shared LB Services.
        let membersByUID = Dictionary(allMembers.map { ($0.uid, $0) }, uniquingKeysWith: { first, _ in first })
        var byMember: [String: [String: [Allocation]]] = [:]
        for (name, shard) in placement.shards {
            for allocation in shard.allocations {
                byMember[allocation.uid, default: [:]][name, default: []].append(allocation)
            }
        }
        var liveShared: [String: KubeService] = [:]
        for service in sharedServices { liveShared[service.metadata.name ?? ""] = service }
        // Shared LBs that fail (refused by the API server, or failed by the cloud): their
        // members are told, and the pass goes on.
        var failed = LoadBalancerHealth.failures(
            events: Array(events.snapshot().values), sharedServices: Set(placement.shards.keys))
        var incomplete = false
        for name in placement.shards.keys.sorted() {
            let shard = placement.shards[name]!
            if shard.allocations.isEmpty { continue }
            let hostnames = Set(shard.allocations.map(\.uid)).flatMap { membersByUID[$0]?.hostnames ?? [] }
            if liveShared[name] == nil, serviceSnapshot["\(namespace)/\(name)"] != nil {
                // Never taken over: it is someone else's (or lost its role label by hand).
                failed[name] =
                    "a Service \(namespace)/\(name) without the label sharedlb.io/role=shared-lb has this name"
                continue
            }
            let object = "Service \(namespace)/\(name)"
            if let waiting = state.withLock({ state -> String?? in
                state.backoff.isWaiting(object, now: .now) ? .some(state.sharedFailureMessages[name]) : nil
            }) {
                if let message = waiting { failed[name] = message }
                continue
            }
            do {
                if let written = try await syncShared(shard, current: liveShared[name], hostnames: hostnames) {
                    liveShared[name] = written
                }
                state.withLock { state in
                    state.sharedFailures[name] = nil
                    state.sharedFailureMessages[name] = nil
                    state.backoff.succeeded(object)
                }
            } catch let error as KubernetesError where error.kind != .fenced {
                // A refusal of one member's port is that member's alone: it leaves the LB (the
                // next pass plans without it) and is told why; the others stay placed.
                let refused = Refusal.refused(
                    causes: error.causes.map { ($0.field, $0.message) },
                    writtenPorts: SharedService.portsWritten(current: liveShared[name], shard: shard), shard: shard,
                    members: membersByUID)
                if error.kind == .invalid, !refused.isEmpty {
                    logger.error(
                        "shared LB \(namespace)/\(name) refused members' ports",
                        metadata: ["sharedlb.members": "\(refused.keys.sorted())", "error.message": "\(error)"])
                    state.withLock { $0.refusals.merge(refused) { $1 } }
                    incomplete = true
                    continue
                }
                // One shared LB that cannot be written never holds up the others. A refusal
                // (422, 403) is reported to its members at once; a transient failure (a 500
                // such as "range is full" for node ports, a timeout) after three passes.
                let (failures, delay) = state.withLock { state in
                    state.sharedFailures[name, default: 0] += 1
                    return (state.sharedFailures[name]!, state.backoff.failed(object, now: .now))
                }
                logger.error("shared LB \(namespace)/\(name) could not be written (retry in \(delay)): \(error)")
                if !error.isRetryable || failures >= 3 {
                    let message = "shared LB \(name) could not be written: \(error.message)"
                    failed[name] = message
                    state.withLock { $0.sharedFailureMessages[name] = message }
                }
            }
        }
        if try await !collectEmpty(
            placement: placement, liveShared: liveShared, versions: versions, unreadable: unreadable)
        {
            incomplete = true
        }

        // 3. Mirrored EndpointSlices, 4. results on members: an object that cannot be written
        // waits on its own (``isolated(_:_:_:)``), the pass is complete for the others.
        try await mirror(
            placement: placement, members: membersByUID, liveShared: liveShared, slices: sliceSnapshot,
            unreadable: unreadable)
        try await report(
            placement: placement, byMember: byMember, members: membersByUID, services: serviceSnapshot,
            liveShared: liveShared, failed: failed)
        state.withLock { $0.backoff.endPass(started: started) }
        if incomplete { throw PassIncomplete() }
    }

    /// Creates the shared LB Service, or patches SharedLB's fields of it; returns what was
    /// written (nil when nothing needed writing, or when it is being deleted).
    func syncShared(_ shard: LedgerShard, current: KubeService?, hostnames: [String]) async throws -> KubeService? {
        let namespace = configuration.namespace
        let name = shard.sharedService
        guard let current else {
            try checkLeader()
            do {
                let created = try await client.create(
                    SharedService.make(shard: shard, namespace: namespace, hostnames: hostnames))
                logger.notice("created shared LB \(namespace)/\(name)")
                record(service: created, replacing: nil)
                return created
            } catch {
                // Our watch has not shown it yet (or a racing allocator made it): the next pass compares.
                guard error.kind == .alreadyExists else { throw error }
                return nil
            }
        }
        if current.metadata.deletionTimestamp != nil {
            logger.warning("shared LB \(namespace)/\(name) is being deleted; it is created again once gone")
            return nil
        }
        guard let patch = SharedService.patch(current: current, shard: shard, hostnames: hostnames) else { return nil }
        try checkLeader()
        let updated = try await client.patch(KubeService.self, namespace: namespace, name: name, patch: .merge(patch))
        record(service: updated, replacing: current.metadata.resourceVersion)
        return updated
    }

    /// Called before every write: only a leader writes, and writes are counted.
    func checkLeader() throws {
        if !isLeader { throw NotLeader() }
        state.withLock { $0.writes += 1 }
        metrics.writes.increment()
    }

    /// API writes of the last completed pass: zero means everything was already as it should be.
    public var lastPassWrites: Int { state.withLock { $0.lastPassWrites } }

    func writeShard(_ shard: LedgerShard, replacing version: String?) async throws {
        try checkLeader()
        let namespace = configuration.namespace
        do {
            let written: ConfigMap
            if let version {
                let patch = JSONValue.object(
                    JSONObject([
                        ("metadata", .object(JSONObject([("resourceVersion", .string(version))]))),
                        (
                            "data",
                            .object(
                                JSONObject(shard.data.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))
                        ),
                    ]))
                written = try await client.patch(
                    ConfigMap.self, namespace: namespace, name: shard.configMapName, patch: .merge(patch))
            } else {
                written = try await client.create(
                    ConfigMap(
                        metadata: ObjectMeta(
                            name: shard.configMapName, namespace: namespace,
                            labels: [
                                SharedLBNames.roleLabel: SharedLBNames.ledgerRole,
                                SharedService.poolLabel: shard.key.poolName,
                            ]),
                        data: shard.data))
            }
            state.withLock { $0.configMaps.record(key(written.metadata), replaced: version, object: written) }
        } catch {
            if error.kind == .alreadyExists, version == nil {
                // A racing allocator made the shard (the re-read shows it), or the name is
                // taken by a ConfigMap that is not a shard: then never use that name.
                let existing = try? await client.get(ConfigMap.self, namespace: namespace, name: shard.configMapName)
                if let existing, existing.metadata.labels?[SharedLBNames.roleLabel] != SharedLBNames.ledgerRole {
                    logger.error(
                        "ConfigMap \(namespace)/\(shard.configMapName) is not a ledger shard; shared LB name \(shard.sharedService) is not used"
                    )
                    _ = state.withLock { $0.foreignLedgerNames.insert(shard.sharedService) }
                }
            }
            guard error.kind == .conflict || error.kind == .alreadyExists else { throw error }
            throw LedgerChanged()
        }
    }

    func record(service: KubeService, replacing version: String?) {
        state.withLock { $0.services.record(key(service.metadata), replaced: version, object: service) }
    }

    /// Deletes shared LBs that have been empty (or orphaned) for the grace period: the Service
    /// first (it holds the address and the name), then its shard, each with a precondition.
    func collectEmpty(
        placement: Placement, liveShared: [String: KubeService], versions: [String: String], unreadable: Set<String>
    ) async throws -> Bool {
        let now = ContinuousClock.now
        let namespace = configuration.namespace
        var empty: Set<String> = []
        for (name, shard) in placement.shards where shard.allocations.isEmpty { empty.insert(name) }
        for (name, service) in liveShared
        where placement.shards[name] == nil && service.metadata.deletionTimestamp == nil && !unreadable.contains(name) {
            empty.insert(name)  // an orphan: no shard
        }
        let due = state.withLock { state -> [String] in
            state.emptySince = state.emptySince.filter { empty.contains($0.key) }
            for name in empty where state.emptySince[name] == nil { state.emptySince[name] = now }
            return state.emptySince.filter { now - $0.value >= configuration.emptyGracePeriod }.map(\.key).sorted()
        }
        var complete = true
        for name in due {
            // The shard first, as a compare-and-swap: it must still be empty (no allocator placed
            // anything there meanwhile). The Service keeps the name reserved until it is gone.
            if let version = versions[name] {
                try checkLeader()
                let ledgerName = Naming.ledgerName(sharedService: name)
                do {
                    try await client.delete(
                        ConfigMap.self, namespace: namespace, name: ledgerName, preconditionResourceVersion: version)
                    state.withLock {
                        $0.configMaps.record("\(namespace)/\(ledgerName)", replaced: version, object: nil)
                    }
                } catch {
                    if error.kind == .conflict { throw LedgerChanged() }
                    if error.kind != .notFound {
                        logger.error("could not delete ledger shard \(namespace)/\(ledgerName): \(error)")
                        complete = false
                        continue
                    }
                }
            }
            if let service = liveShared[name], service.metadata.deletionTimestamp == nil {
                try checkLeader()
                do {
                    try await client.delete(
                        KubeService.self, namespace: namespace, name: name, preconditionUID: service.metadata.uid)
                    state.withLock {
                        $0.services.record(
                            key(service.metadata), replaced: service.metadata.resourceVersion, object: nil)
                    }
                    logger.notice("deleted empty shared LB \(namespace)/\(name)")
                } catch {
                    if error.kind != .notFound && error.kind != .conflict {
                        logger.error("could not delete empty shared LB \(namespace)/\(name): \(error)")
                        complete = false
                        continue
                    }
                }
            }
            _ = state.withLock { $0.emptySince.removeValue(forKey: name) }
        }
        return complete
    }

    func mirror(
        placement: Placement, members: [String: Member], liveShared: [String: KubeService],
        slices: [String: EndpointSlice], unreadable: Set<String>
    ) async throws {
        let namespace = configuration.namespace
        var existing: [String: EndpointSlice] = [:]
        var sourceSlices: [String: [EndpointSlice]] = [:]  // member namespace/name → its slices
        for slice in slices.values {
            if slice.metadata.namespace == namespace,
                slice.metadata.labels?[Mirroring.managedByLabel] == Mirroring.managedBy
            {
                // The slices of a shard that cannot be read stay as they are: the traffic it
                // carries keeps flowing until an operator mends it.
                if unreadable.contains(slice.metadata.labels?[Mirroring.serviceNameLabel] ?? "") { continue }
                existing[slice.metadata.name ?? ""] = slice
            } else if let service = slice.metadata.labels?[Mirroring.serviceNameLabel] {
                sourceSlices["\(slice.metadata.namespace ?? "")/\(service)", default: []].append(slice)
            }
        }
        var podsByNamespace: [String: [String: PodSummary]] = [:]
        let wantedNamespaces = Set(members.values.map(\.namespace))
        for pod in pods.snapshot().values where wantedNamespaces.contains(pod.metadata.namespace ?? "") {
            podsByNamespace[pod.metadata.namespace ?? "", default: [:]][pod.metadata.name ?? ""] = pod
        }
        var desired: [String: EndpointSlice] = [:]
        for (name, shard) in placement.shards where !shard.allocations.isEmpty {
            guard let uid = liveShared[name]?.metadata.uid else { continue }
            var perMember: [String: [Allocation]] = [:]
            for allocation in shard.allocations { perMember[allocation.uid, default: []].append(allocation) }
            for (memberUID, allocations) in perMember {
                guard let member = members[memberUID] else { continue }
                for slice in Mirroring.slices(
                    sharedService: name, sharedServiceUID: uid, namespace: namespace, memberUID: memberUID,
                    memberNamespace: member.namespace, allocations: allocations,
                    memberSlices: sourceSlices[member.id] ?? [], pods: podsByNamespace[member.namespace] ?? [:])
                {
                    desired[slice.metadata.name!] = slice
                }
            }
        }
        // Stale slices go first: a slot given to a new member must never reach the old one's pods.
        for (name, slice) in existing.sorted(by: { $0.key < $1.key }) where desired[name] == nil {
            try checkLeader()
            let deleted = try await isolated("EndpointSlice \(namespace)/\(name)", "delete mirrored slice") {
                do {
                    try await client.delete(EndpointSlice.self, namespace: namespace, name: name)
                } catch let error as KubernetesError where error.kind == .notFound {
                    // Gone already.
                }
            }
            guard deleted else { continue }
            state.withLock {
                $0.slices.record(key(slice.metadata), replaced: slice.metadata.resourceVersion, object: nil)
            }
        }
        for name in desired.keys.sorted() {
            let want = desired[name]!
            if let current = existing[name], Mirroring.matches(current, want) { continue }
            try checkLeader()
            _ = try await isolated("EndpointSlice \(namespace)/\(name)", "write mirrored slice") {
                try await writeSlice(want, current: existing[name])
            }
        }
    }

    /// Creates or updates one mirrored slice (a merge patch of the fields SharedLB sets).
    func writeSlice(_ want: EndpointSlice, current: EndpointSlice?) async throws {
        let namespace = configuration.namespace
        let name = want.metadata.name ?? ""
        guard let current else {
            do {
                recordSlice(try await client.create(want), replacing: nil)
            } catch {
                // Our watch is behind: the next pass compares it.
                guard error.kind == .alreadyExists else { throw error }
            }
            return
        }
        if current.addressType != want.addressType {
            // addressType is immutable: replace the slice.
            try await client.delete(EndpointSlice.self, namespace: namespace, name: name)
            recordSlice(try await client.create(want), replacing: nil)
            return
        }
        let encoded = try JSONParser.parse(Array(JSONEncoder().encode(want)))
        var body = JSONObject()
        body["metadata"] = .object(
            JSONObject([
                ("labels", encoded["metadata"]?["labels"] ?? .null),
                ("ownerReferences", encoded["metadata"]?["ownerReferences"] ?? .null),
            ]))
        body["endpoints"] = encoded["endpoints"] ?? .array([])
        body["ports"] = encoded["ports"] ?? .array([])
        let updated = try await client.patch(
            EndpointSlice.self, namespace: namespace, name: name, patch: .merge(.object(body)))
        recordSlice(updated, replacing: current.metadata.resourceVersion)
    }

    func recordSlice(_ slice: EndpointSlice, replacing version: String?) {
        state.withLock { $0.slices.record(key(slice.metadata), replaced: version, object: slice) }
    }

    func report(
        placement: Placement, byMember: [String: [String: [Allocation]]], members: [String: Member],
        services: [String: KubeService], liveShared: [String: KubeService], failed: [String: String]
    ) async throws {
        let namespace = configuration.namespace
        state.withLock { state in state.movesToReport = state.movesToReport.filter { members[$0.key] != nil } }
        var ingress: [String: [KubeService.Ingress]] = [:]
        for (name, service) in liveShared {
            if let entries = service.status?.loadBalancer?.ingress, !entries.isEmpty { ingress[name] = entries }
        }
        for service in services.values.sorted(by: { key($0.metadata) < key($1.metadata) }) {
            guard let uid = service.metadata.uid else { continue }
            let annotations = service.metadata.annotations ?? [:]
            var wanted: [String: String?] = [:]
            if let member = members[uid] {
                let allocations = byMember[uid] ?? [:]
                let endpoint = SharedService.endpoint(allocations: allocations, ingress: ingress)
                let shared = allocations.keys.filter { ingress[$0] != nil }.sorted().map { "\(namespace)/\($0)" }
                let problems =
                    [placement.failures[uid]].compactMap { $0 } + allocations.keys.sorted().compactMap { failed[$0] }
                // `.some(nil)`: the annotation must go (a plain nil would drop the entry instead).
                wanted[SharedLBNames.endpointAnnotation] = .some(endpoint)
                wanted[SharedLBNames.sharedServiceAnnotation] = .some(
                    endpoint == nil ? nil : shared.joined(separator: ","))
                wanted[SharedLBNames.errorAnnotation] = .some(
                    problems.isEmpty ? nil : problems.joined(separator: "; "))
                let moves = state.withLock { state in
                    if let moves = placement.moves[uid], !moves.isEmpty { state.movesToReport[uid] = moves }
                    return state.movesToReport[uid]
                }
                // An admission policy or quota in one namespace never holds up the others.
                let reported = try await isolated("Service \(key(service.metadata))", "report to member") {
                    try await apply(wanted, to: service, member: member, moves: moves, annotations: annotations)
                }
                if reported, endpoint != nil { state.withLock { _ = $0.movesToReport.removeValue(forKey: uid) } }
            } else if annotations[SharedLBNames.endpointAnnotation] != nil
                || annotations[SharedLBNames.sharedServiceAnnotation] != nil
                || annotations[SharedLBNames.errorAnnotation] != nil,
                service.metadata.deletionTimestamp == nil
            {
                // No longer a member (opted out, unlabelled): its result annotations go.
                for annotation in [
                    SharedLBNames.endpointAnnotation, SharedLBNames.sharedServiceAnnotation,
                    SharedLBNames.errorAnnotation,
                ] {
                    wanted[annotation] = .some(nil)
                }
                _ = try await isolated("Service \(key(service.metadata))", "release member") {
                    try await apply(wanted, to: service, member: nil, moves: nil, annotations: annotations)
                }
            }
        }
    }

    /// Runs the write of one object unless that object is waiting out its backoff; a failure
    /// backs off that object alone (``ObjectBackoff``), so the pass goes on at full speed for
    /// the others. False when the write failed or waits.
    func isolated(_ object: String, _ action: String, _ write: () async throws -> Void) async throws -> Bool {
        if state.withLock({ $0.backoff.isWaiting(object, now: .now) }) { return false }
        do {
            try await write()
            state.withLock { $0.backoff.succeeded(object) }
            return true
        } catch let error as KubernetesError where error.kind != .fenced {
            let delay = state.withLock { $0.backoff.failed(object, now: .now) }
            logger.error(
                "could not \(action) (retry in \(delay))",
                metadata: ["k8s.object": "\(object)", "error.message": "\(error)"])
            return false
        }
    }

    /// Patches only the named annotations of a user's Service, when they differ, and says so
    /// in an Event first (so whoever sees the annotation can also find the Event).
    func apply(
        _ wanted: [String: String?], to service: KubeService, member: Member?, moves: [String]?,
        annotations: [String: String]
    ) async throws {
        var patch = JSONObject()
        for (annotation, value) in wanted.sorted(by: { $0.key < $1.key }) where annotations[annotation] != value {
            patch[annotation] = value.map(JSONValue.string) ?? .null
        }
        guard !patch.isEmpty else { return }
        try checkLeader()
        let endpoint = wanted[SharedLBNames.endpointAnnotation] ?? nil
        let failure = wanted[SharedLBNames.errorAnnotation] ?? nil
        var event: (EventRecorder.EventType, String, String)?
        if member == nil {
            event = (.normal, "Released", "released from the shared load balancer")
        } else if let failure, failure != annotations[SharedLBNames.errorAnnotation] {
            event = (.warning, "AllocationFailed", failure)
        } else if let endpoint, endpoint != annotations[SharedLBNames.endpointAnnotation] {
            let shared = wanted[SharedLBNames.sharedServiceAnnotation] ?? nil
            let split = (shared ?? "").contains(",") ? " (split by protocol)" : ""
            if let moves, !moves.isEmpty {
                event = (.normal, "Moved", "moved to \(shared ?? "")\(split): \(endpoint)")
            } else {
                event = (.normal, "Allocated", "reachable at \(endpoint) through \(shared ?? "")\(split)")
            }
        }
        if let (type, reason, note) = event {
            let reference = ObjectReference(
                apiVersion: "v1", kind: "Service", namespace: service.metadata.namespace, name: service.metadata.name,
                uid: service.metadata.uid)
            do {
                try await recorder.record(
                    regarding: reference, type: type, reason: reason, action: "Allocate", note: note)
            } catch {
                logger.warning("could not record event \(reason) on \(key(service.metadata)): \(error)")
            }
        }
        let body = JSONValue.object(JSONObject([("metadata", .object(JSONObject([("annotations", .object(patch))])))]))
        do {
            let updated = try await client.patch(
                KubeService.self, namespace: service.metadata.namespace, name: service.metadata.name ?? "",
                patch: .merge(body))
            record(service: updated, replacing: service.metadata.resourceVersion)
        } catch {
            guard error.kind == .notFound else { throw error }
        }
    }
}

/// The namespaces that hold members, as of the last pass (nil before the first one).
final class MemberNamespaces: Sendable {
    private let namespaces = Mutex<Set<String>?>(nil)

    var current: Set<String>? {
        get { namespaces.withLock { $0 } }
        set { namespaces.withLock { $0 = newValue } }
    }
}
