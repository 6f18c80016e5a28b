import SharedLBAllocation
import SharedLBCore
import SharedLBKubernetes

/// Shared LB Services: each created from its shard, or patched where SharedLB's fields of it
/// differ; one that cannot be written waits out its own backoff while the others go on.
extension Allocator {
    /// Brings the named shared LBs in line with their shards, a few at once.
    func syncSharedLBs(_ names: Set<String>, planned: Planned) async throws {
        let shards = planned.placed.placement.shards
        try await concurrently(names.filter { shards[$0].map { !$0.allocations.isEmpty } ?? false }.sorted()) {
            try await self.syncShared(shards[$0]!, planned: planned)
        }
    }

    func syncShared(_ shard: LedgerShard, planned: Planned) async throws {
        let namespace = configuration.namespace
        let name = shard.sharedService
        let object = "Service \(namespace)/\(name)"
        let current = service("\(namespace)/\(name)")
        if let current, current.metadata.labels?[SharedLBNames.roleLabel] != SharedLBNames.sharedLBRole {
            // Never taken over: it is someone else's (or lost its role label by hand); its
            // members are told (``sharedLBFailures(planned:)``).
            return
        }
        if state.withLock({ $0.backoff.isWaiting(object, now: .now) }) { return }
        let members = planned.placed.members
        let hostnames = Set(shard.allocations.map(\.uid)).flatMap { members[$0]?.hostnames ?? [] }
        do {
            try await write(shard, current: current, hostnames: hostnames)
            state.withLock { state in
                state.sharedFailures[name] = nil
                state.sharedFailureMessages[name] = nil
                state.backoff.succeeded(object)
            }
        } catch let error as KubernetesError where error.kind != .fenced {
            // A refusal of one member's port is that member's alone: it leaves the LB (the
            // next round plans without it) and is told why; the others stay placed.
            let refused = Refusal.refused(
                causes: error.causes.map { ($0.field, $0.message) },
                writtenPorts: SharedService.portsWritten(current: current, shard: shard), shard: shard,
                members: members)
            if error.kind == .invalid, !refused.isEmpty {
                logger.error(
                    "shared LB refused members' ports",
                    metadata: [
                        "k8s.object": "\(object)", "sharedlb.members": "\(refused.keys.sorted())",
                        "error.message": "\(error)",
                    ])
                state.withLock { $0.refusals.merge(refused) { $1 } }
                // The next round plans without them.
                queue.add(Work(placement: true, members: Set(refused.keys)))
                return
            }
            // One shared LB that cannot be written never holds up the others. A refusal
            // (422, 403) is reported to its members at once; a transient failure (a 500
            // such as "range is full" for node ports, a timeout) after three tries.
            let (failures, delay) = state.withLock { state in
                state.sharedFailures[name, default: 0] += 1
                return (
                    state.sharedFailures[name]!,
                    state.backoff.failed(object, retry: Work(sharedLBs: [name]), now: .now)
                )
            }
            logger.error(
                "shared LB could not be written",
                metadata: ["k8s.object": "\(object)", "retry.delay": "\(delay)", "error.message": "\(error)"])
            if !error.isRetryable || failures >= 3 {
                let message = "shared LB \(name) could not be written: \(error.message)"
                state.withLock { $0.sharedFailureMessages[name] = message }
            }
        }
    }

    /// Creates the shared LB Service, or patches SharedLB's fields of it.
    func write(_ shard: LedgerShard, current: KubeService?, hostnames: [String]) async throws {
        let namespace = configuration.namespace
        let name = shard.sharedService
        guard let current else {
            try checkLeader()
            do {
                let created = try await client.create(
                    SharedService.make(
                        shard: shard, namespace: namespace, hostnames: hostnames,
                        mixedProtocol: configuration.mixedProtocolAnnotations))
                logger.notice("created shared LB", metadata: ["k8s.object": "Service \(namespace)/\(name)"])
                record(service: created, key: key(created.metadata), replacing: nil)
            } catch {
                // Our watch has not shown it yet (or a racing allocator made it): its event compares.
                guard error.kind == .alreadyExists else { throw error }
            }
            return
        }
        if current.metadata.deletionTimestamp != nil {
            logger.warning(
                "shared LB is being deleted; it is created again once gone",
                metadata: ["k8s.object": "Service \(namespace)/\(name)"])
            return
        }
        guard
            let patch = SharedService.patch(
                current: current, shard: shard, hostnames: hostnames,
                mixedProtocol: configuration.mixedProtocolAnnotations)
        else { return }
        try checkLeader()
        let updated = try await client.patch(KubeService.self, namespace: namespace, name: name, patch: .merge(patch))
        record(service: updated, key: key(updated.metadata), replacing: current.metadata.resourceVersion)
    }

    /// What the members of each failing shared LB are told: the cloud's failure Events, a
    /// write the API server keeps refusing, a name taken by someone else's Service.
    func sharedLBFailures(planned: Planned) -> [String: String] {
        let namespace = configuration.namespace
        let names = Set(planned.placed.placement.shards.keys)
        var failed = LoadBalancerHealth.failures(
            events: Array(events.snapshot().values), sharedServices: names, isFailure: configuration.isFailure)
        failed.merge(state.withLock { $0.sharedFailureMessages }.filter { names.contains($0.key) }) { _, new in new }
        for name in names {
            if let service = service("\(namespace)/\(name)"),
                service.metadata.labels?[SharedLBNames.roleLabel] != SharedLBNames.sharedLBRole
            {
                failed[name] =
                    "a Service \(namespace)/\(name) without the label sharedlb.io/role=shared-lb has this name"
            }
        }
        return failed
    }
}
