import Foundation
import SharedLBAllocation
import SharedLBCore
import SharedLBKubernetes

/// The allocator's loops: the timers that queue work, the worker that takes it in rounds, and
/// one round (the reconcilers it needs, in order).
extension Allocator {
    /// Queues the periodic resync, the retries whose backoff ended, and shared LBs whose
    /// grace period ended; keeps the cache gauges.
    func runTimers() async throws {
        var lastResync = ContinuousClock.now
        let tick = min(.milliseconds(250), configuration.resyncInterval)
        while !Task.isCancelled {
            try await Task.sleep(for: tick)
            metrics.cachedServices.set(Double(services.count))
            metrics.cachedPods.set(Double(pods.count))
            metrics.cachedSlices.set(Double(slices.count))
            let now = ContinuousClock.now
            let grace = configuration.emptyGracePeriod
            var work = state.withLock { state in
                var work = state.backoff.takeDue(now: now)
                if state.placementWanted, state.nextPlacement.map({ $0 <= now }) ?? true {
                    state.placementWanted = false
                    work.placement = true
                }
                if let after = configuration.failoverAfter, state.failover.takeDue(after: after, now: now) {
                    work.placement = true
                }
                work.sharedLBs.formUnion(
                    state.emptySince.filter {
                        now - $0.value >= grace && !state.backoff.isWaiting(Self.deletion(of: $0.key), now: now)
                    }.keys)
                return work
            }
            if now - lastResync >= configuration.resyncInterval {
                lastResync = now
                work.formUnion(.everything)
            }
            queue.add(work)
            // Work left queued while this replica could not take it (not ready, not leading).
            if isLeader, !queue.isEmpty { queue.poke() }
        }
    }

    func runWorker() async throws {
        var failures = 0
        for await _ in queue.wakeups {
            metrics.leader.set(isLeader ? 1.0 : 0.0)
            if !isLeader { metrics.clearLeaderGauges() }
            // Work waits in the queue until this instance is ready and leads (a new leader
            // queues everything anyway).
            guard isReady, isLeader else { continue }
            let work = queue.take()
            guard !work.isEmpty else { continue }
            let started = ContinuousClock.now
            do {
                try await reconcile(work)
                metrics.passes.increment()
                metrics.passDuration.record(ContinuousClock.now - started)
                failures = 0
            } catch is CancellationError {
                return
            } catch let error where error is NotLeader || (error as? KubernetesError)?.kind == .fenced {
                // Past the renew deadline: the round's work is queued again (``reconcile(_:)``) for
                // whoever leads next, this replica too once it has renewed; no backoff.
                logger.notice("not the leader any more: round abandoned", metadata: ["error.message": "\(error)"])
                try await Task.sleep(for: .milliseconds(200))
            } catch {
                metrics.failedPasses.increment()
                failures += 1
                let delay = Duration.milliseconds(min(30_000, 100 << min(failures, 9)))
                logger.warning(
                    "round failed; retrying", metadata: ["retry.delay": "\(delay)", "error.message": "\(error)"])
                try await Task.sleep(for: delay)
                queue.poke()
            }
        }
    }

    // MARK: One round

    /// A full pass over everything, and whatever was queued.
    public func reconcile() async throws {
        try await reconcile(queue.take().union(.everything))
    }

    /// One round: the reconcilers `work` needs, in order.
    func reconcile(_ work: Work) async throws {
        state.withLock { $0.writes = 0 }
        var work = work
        var fresh: [ConfigMap]?
        for attempt in 1...5 {
            do {
                let queued = work
                do {
                    try await round(&work, ledgerOverride: fresh)
                } catch let error where !(error is LedgerChanged) || attempt == 5 {
                    // What the round took on, the work a new placement made included (that
                    // placement is kept), is queued again: nothing waits for the resync.
                    queue.add(work)
                    throw error
                }
                let writes = state.withLock { state in
                    state.passes += 1
                    state.lastPassWrites = state.writes
                    state.lastPassWasFull = queued.everything
                    state.writes = 0
                    return state.lastPassWrites
                }
                logger.debug(
                    "round done",
                    metadata: [
                        "sharedlb.writes": "\(writes)", "sharedlb.full": "\(queued.everything)",
                        "sharedlb.placement": "\(queued.placement)", "sharedlb.members": "\(queued.members.count)",
                        "sharedlb.shared_lbs": "\(queued.sharedLBs.count)",
                    ])
                reconciledSignal.yield()
                return
            } catch is LedgerChanged where attempt < 5 {
                metrics.conflicts.increment()
                // Someone else wrote the ledger: read it afresh and plan again.
                work.placement = true
                fresh = try await client.listAll(
                    ConfigMap.self, namespace: configuration.namespace,
                    labelSelector: "\(SharedLBNames.roleLabel)=\(SharedLBNames.ledgerRole)"
                ).items
            }
        }
    }

    func round(_ work: inout Work, ledgerOverride: [ConfigMap]?) async throws {
        let full = work.everything
        var planned = state.withLock { $0.planned }
        let now = ContinuousClock.now
        let mustPlan = work.everything || planned == nil || ledgerOverride != nil
        if work.placement, !mustPlan, let due = state.withLock({ $0.nextPlacement }), due > now {
            // Placement waits out the batch period (the timer queues it when due): a burst of
            // new members is planned in a few rounds and written as a few shard writes.
            state.withLock { $0.placementWanted = true }
            work.placement = false
        }
        if let planned, !work.sharedLBs.isEmpty || work.everything {
            // A shared LB's Event or status changed: whether it fails (the gauge, and the
            // failover's clock).
            observeFailures(shards: planned.placed.placement.shards)
        }
        if mustPlan || work.placement {
            state.withLock { $0.placementWanted = false }
            let previous = planned
            let fresh = try await place(ledgerOverride: ledgerOverride)
            work.formUnion(PlacedMembers.changes(from: previous?.placed, to: fresh.placed))
            work.placement = false
            planned = fresh
        }
        guard let planned else { return }
        if work.everything {
            work.members.formUnion(planned.placed.members.keys)
            for slice in slices.objects(indexedBy: WorkRouting.allMirroredIndex) {
                if let uid = slice.metadata.labels?[Mirroring.memberUIDLabel] { work.members.insert(uid) }
            }
            work.services.formUnion(planned.placed.uids.keys)
            work.services.formUnion(services.objects(indexedBy: ServiceIndex.results).map { key($0.metadata) })
            work.sharedLBs.formUnion(planned.placed.placement.shards.keys)
            work.sharedLBs.formUnion(services.objects(indexedBy: ServiceIndex.sharedLB).compactMap(\.metadata.name))
        }
        // A shared LB's address or failure is its members' news.
        for name in work.sharedLBs {
            let members = planned.placed.members(of: name)
            work.members.formUnion(members)
            work.services.formUnion(members.compactMap { planned.placed.members[$0]?.id })
        }
        try await syncSharedLBs(work.sharedLBs, planned: planned)
        try await collectEmpty(planned: planned)
        try await reconcileMembers(work, planned: planned)
        if full {
            state.withLock { $0.backoff.endFullPass() }
            countBackoffs()
        }
    }

    /// API writes of the last completed round: zero after a full one means everything was
    /// already as it should be.
    public var lastPassWrites: Int { state.withLock { $0.lastPassWrites } }

    /// Whether the last completed round looked at everything (the resync), not only queued keys.
    public var lastPassWasFull: Bool { state.withLock { $0.lastPassWasFull } }
}
