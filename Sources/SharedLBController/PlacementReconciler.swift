import Foundation
import SharedLBAllocation
import SharedLBCore
import SharedLBKubernetes

/// Placement and the ledger: every member planned against the ledger (``Planner``, pure), the
/// changed shards written with compare-and-swap, and emptied shards deleted after the grace
/// period.
extension Allocator {
    /// Plans every member and writes the changed shards; the placement is kept for the rounds
    /// that do not need to plan. Throws ``LedgerChanged`` when someone else wrote the ledger.
    func place(ledgerOverride: [ConfigMap]?) async throws -> Planned {
        let namespace = configuration.namespace
        var memberServices = Dictionary(
            services.objects(indexedBy: ServiceIndex.member).map { (key($0.metadata), $0) },
            uniquingKeysWith: { first, _ in first })
        var namespaceServices = Dictionary(
            services.objects(indexedBy: ServiceIndex.controllerNamespace).map { (key($0.metadata), $0) },
            uniquingKeysWith: { first, _ in first })
        var configMapSnapshot: [String: ConfigMap]
        if let ledgerOverride {
            configMapSnapshot = Dictionary(
                ledgerOverride.map { (key($0.metadata), $0) }, uniquingKeysWith: { first, _ in first })
        } else {
            configMapSnapshot = ledger.snapshot()
        }
        state.withLock { state in
            state.services.overlay(&memberServices, current: services.get, belongs: Member.isMember)
            state.services.overlay(&namespaceServices, current: services.get) {
                $0.metadata.namespace == namespace
            }
            if ledgerOverride == nil { state.configMaps.overlay(&configMapSnapshot) }
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
                logger.error(
                    "ledger shard is unreadable and left untouched",
                    metadata: ["k8s.object": "ConfigMap \(namespace)/\(name)", "error.message": "\(error)"])
                if let service = Naming.sharedService(ofLedger: name) { unreadable.insert(service) }
            }
        }
        // Names a new shared LB must not take: every Service of the namespace (a shared LB
        // held by a finalizer, or someone else's), unreadable shards, and ConfigMaps of a
        // shard's name that are not ledger shards.
        let reserved = unreadable.union(namespaceServices.values.compactMap(\.metadata.name))
            .union(state.withLock { $0.foreignLedgerNames })
        let allMembers = memberServices.values.compactMap {
            Member(service: $0, shaping: configuration.placement.shaping)
        }
        // A member refused on its shared LB stays out of placement until it changes.
        let refusals = state.withLock { state in
            let current = Dictionary(
                allMembers.map { ($0.uid, Refusal.fingerprint(of: $0)) }, uniquingKeysWith: { a, _ in a })
            state.refusals = state.refusals.filter { current[$0.key] == $0.value.fingerprint }
            return state.refusals
        }
        let members = allMembers.filter { refusals[$0.uid] == nil }
        let byName = Dictionary(shards.map { ($0.sharedService, $0) }, uniquingKeysWith: { first, _ in first })
        var failedOver: [String: Set<String>] = [:]
        if let after = configuration.failoverAfter {
            let live = observeFailures(shards: byName)
            failedOver = state.withLock {
                $0.failover.failedOver(after: after, now: .now, shards: byName, live: live)
            }
        }
        var rules = configuration.placement
        rules.nodes = nodes?.count ?? 0
        var placement = Planner.plan(
            members: members, shards: shards, reservedNames: reserved, failedOver: failedOver, configuration: rules)
        let time = LoadBalancerHealth.sortableTime(EventRecorder.microTime(Date()))
        state.withLock {
            $0.failover.placed(before: byName, after: placement.shards, failedOver: failedOver, time: time)
        }
        for (name, leaving) in failedOver.sorted(by: { $0.key < $1.key }) {
            let moved = leaving.filter { placement.moves[$0]?.contains { $0.hasPrefix("\(name) -> ") } ?? false }
            guard !moved.isEmpty else { continue }
            metrics.failoverMoves.increment(by: Int64(moved.count))
            logger.notice(
                "shared LB given up on: the members it does not serve move to another LB of their pool",
                metadata: [
                    "k8s.object": "Service \(namespace)/\(name)", "sharedlb.members": "\(moved.count)",
                    "sharedlb.failover_after": "\(configuration.failoverAfter!)",
                ])
        }
        for (uid, refusal) in refusals { placement.failures[uid] = refusal.message }
        metrics.allocations.set(Double(placement.shards.values.reduce(0) { $0 + $1.allocations.count }))
        metrics.sharedLBs.set(Double(placement.shards.count))
        metrics.failingMembers.set(Double(placement.failures.count))
        metrics.placedMembers.set(Double(allMembers.count - placement.failures.count))
        metrics.unreadableShards.set(Double(unreadable.count))

        // The ledger first: everything else follows from it. Placements that keep writing are
        // spaced out (a burst): 1/16 of the batch period, doubling up to it; one that writes
        // nothing, or a quiet spell, ends the burst.
        state.withLock { state in
            let now = ContinuousClock.now
            let period = configuration.placementBatchPeriod
            if placement.changed.isEmpty || state.nextPlacement.map({ now - $0 > period }) ?? true {
                state.placementStreak = 0
            }
            guard !placement.changed.isEmpty else {
                state.nextPlacement = nil
                return
            }
            state.nextPlacement = now + min(period, period / 16 * (1 << min(state.placementStreak, 4)))
            state.placementStreak += 1
        }
        for name in placement.changed {
            versions[name] = try await writeShard(placement.shards[name]!, replacing: versions[name])
        }
        let planned = Planned(
            placed: PlacedMembers(placement: placement, members: allMembers), versions: versions,
            unreadable: unreadable)
        state.withLock { state in
            state.planned = planned
            // Told with the member's next endpoint (its new LB may have no address yet).
            for (uid, moves) in placement.moves where !moves.isEmpty { state.movesToReport[uid] = moves }
        }
        // Before any member's slices are read: a slice change after this finds its member.
        queue.setMembers(planned.placed.uids)
        return planned
    }

    /// Tells the failover which shared LBs fail (the cloud's latest Event, a write the API
    /// server keeps refusing) and which are healthy; returns the shared LB Services by name.
    @discardableResult
    func observeFailures(shards: [String: LedgerShard]) -> [String: KubeService] {
        let names = Set(shards.keys)
        var live: [String: KubeService] = [:]
        for cached in services.objects(indexedBy: ServiceIndex.sharedLB) {
            if let name = cached.metadata.name, names.contains(name), let service = service(key(cached.metadata)) {
                live[name] = service
            }
        }
        let events = Array(self.events.snapshot().values)
        var causes: [String: Failover.Cause] = [:]
        for name in LoadBalancerHealth.failures(
            events: events, sharedServices: names, isFailure: configuration.isFailure
        ).keys { causes[name] = .cloud }
        for name in state.withLock({ $0.sharedFailureMessages.keys }) where names.contains(name) {
            causes[name] = .refused
        }
        metrics.failingLBs.set(Double(causes.count))
        guard configuration.failoverAfter != nil else { return live }
        let healthy = names.filter { causes[$0] == nil && !(live[$0]?.status?.loadBalancer?.ingress ?? []).isEmpty }
        let success = LoadBalancerHealth.lastSuccess(events: events, sharedServices: names)
        state.withLock { $0.failover.observe(causes, healthy: healthy, lastSuccess: success, now: .now) }
        return live
    }

    /// Writes one shard (a merge patch with the version it replaces as precondition, or a
    /// create); returns the version written.
    func writeShard(_ shard: LedgerShard, replacing version: String?) async throws -> String? {
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
            record(configMap: written, key: key(written.metadata), replacing: version)
            return written.metadata.resourceVersion
        } catch {
            if error.kind == .alreadyExists, version == nil {
                // A racing allocator made the shard (the re-read shows it), or the name is
                // taken by a ConfigMap that is not a shard: then never use that name.
                var existing: ConfigMap?
                do {
                    existing = try await client.get(ConfigMap.self, namespace: namespace, name: shard.configMapName)
                } catch {
                    // The next round finds out again.
                    logger.warning(
                        "could not read the ConfigMap in the way of a new ledger shard",
                        metadata: [
                            "k8s.object": "ConfigMap \(namespace)/\(shard.configMapName)", "error.message": "\(error)",
                        ])
                }
                if let existing, existing.metadata.labels?[SharedLBNames.roleLabel] != SharedLBNames.ledgerRole {
                    logger.error(
                        "ConfigMap is not a ledger shard; its shared LB name is not used",
                        metadata: [
                            "k8s.object": "ConfigMap \(namespace)/\(shard.configMapName)",
                            "sharedlb.shared_lb": "\(shard.sharedService)",
                        ])
                    _ = state.withLock { $0.foreignLedgerNames.insert(shard.sharedService) }
                }
            }
            guard error.kind == .conflict || error.kind == .alreadyExists else { throw error }
            throw LedgerChanged()
        }
    }

    /// Deletes shared LBs that have been empty (or orphaned) for the grace period: the shard
    /// first (it must still be empty), then the Service (it holds the address and the name),
    /// each with a precondition. One that cannot be deleted waits out its own backoff.
    func collectEmpty(planned: Planned) async throws {
        let now = ContinuousClock.now
        let namespace = configuration.namespace
        let shards = planned.placed.placement.shards
        var liveShared: [String: KubeService] = [:]
        for service in services.objects(indexedBy: ServiceIndex.sharedLB) {
            let name = service.metadata.name ?? ""
            if let current = self.service(key(service.metadata)) { liveShared[name] = current }
        }
        var empty: Set<String> = []
        for (name, shard) in shards where shard.allocations.isEmpty { empty.insert(name) }
        for (name, service) in liveShared
        where shards[name] == nil && service.metadata.deletionTimestamp == nil && !planned.unreadable.contains(name) {
            empty.insert(name)  // an orphan: no shard
        }
        let due = state.withLock { state -> [String] in
            state.emptySince = state.emptySince.filter { empty.contains($0.key) }
            for name in empty where state.emptySince[name] == nil { state.emptySince[name] = now }
            return state.emptySince.filter {
                now - $0.value >= configuration.emptyGracePeriod
                    && !state.backoff.isWaiting(Self.deletion(of: $0.key), now: now)
            }.map(\.key).sorted()
        }
        for name in due {
            let failed = { (error: KubernetesError, object: String) in
                let delay = self.state.withLock {
                    $0.backoff.failed(Self.deletion(of: name), retry: Work(sharedLBs: [name]), now: .now)
                }
                self.metrics.countWriteFailure(error)
                self.countBackoffs()
                self.logger.error(
                    "could not delete an emptied shared LB",
                    metadata: ["k8s.object": "\(object)", "retry.delay": "\(delay)", "error.message": "\(error)"])
            }
            // The shard first, as a compare-and-swap: it must still be empty (no allocator placed
            // anything there meanwhile). The Service keeps the name reserved until it is gone.
            if let version = planned.versions[name] {
                try checkLeader()
                let ledgerName = Naming.ledgerName(sharedService: name)
                do {
                    try await client.delete(
                        ConfigMap.self, namespace: namespace, name: ledgerName, preconditionResourceVersion: version)
                    record(configMap: nil, key: "\(namespace)/\(ledgerName)", replacing: version)
                } catch {
                    if error.kind == .conflict { throw LedgerChanged() }
                    if error.kind != .notFound {
                        failed(error, "ConfigMap \(namespace)/\(ledgerName)")
                        continue
                    }
                }
            }
            if let service = liveShared[name], service.metadata.deletionTimestamp == nil {
                try checkLeader()
                do {
                    try await client.delete(
                        KubeService.self, namespace: namespace, name: name, preconditionUID: service.metadata.uid)
                    record(service: nil, key: key(service.metadata), replacing: service.metadata.resourceVersion)
                    logger.notice("deleted empty shared LB", metadata: ["k8s.object": "Service \(namespace)/\(name)"])
                } catch {
                    if error.kind != .notFound && error.kind != .conflict {
                        failed(error, "Service \(namespace)/\(name)")
                        continue
                    }
                }
            }
            state.withLock { state in
                state.emptySince[name] = nil
                state.backoff.succeeded(Self.deletion(of: name))
            }
        }
    }

    /// The backoff key of a shared LB's deletion.
    static func deletion(of sharedLB: String) -> String { "deletion of shared LB \(sharedLB)" }
}
