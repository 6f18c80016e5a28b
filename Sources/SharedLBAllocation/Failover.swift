public import SharedLBCore

/// Self-healing (`--failover-after`): a shared LB that keeps failing is given up on, and the
/// members it does not serve move to another LB of their pool. Pure bookkeeping: the
/// allocator tells it which LBs fail and where members went, and asks it who leaves.
///
/// Who leaves is who the failing LB does not serve:
/// - every member, when the cloud never gave it an address;
/// - the members whose ports the API server never took on the Service, when it refuses the
///   Service's writes;
/// - when the cloud fails an LB that has an address, the members this allocator put on it
///   after the cloud's last success (its latest `Normal` Event): the cloud kept what it had
///   built, so the members it served keep their address.
///
/// A failed-over LB takes no new member until it recovers, and members that moved stay
/// where they went (no flapping back). A failure that follows the members to their new LB
/// is theirs or their pool's (a quota, a bad annotation): that LB is not failed over again
/// before it has been healthy, so a failover never cascades through new load balancers.
public struct Failover: Sendable {
    /// Why a shared LB fails.
    public enum Cause: Sendable, Equatable {
        /// The cloud's latest Event on it is a failure.
        case cloud
        /// The API server refuses its writes.
        case refused
    }

    /// Failing LBs, since when.
    var failing: [String: (since: ContinuousClock.Instant, cause: Cause)] = [:]
    /// Failing LBs the timer has already queued a placement for.
    var queued: Set<String> = []
    /// LBs that took members of a failed-over LB and have not been healthy since.
    var targets: Set<String> = []
    /// When this allocator put each member on each LB (``LoadBalancerHealth/sortableTime(_:)``):
    /// LB → uid → time. Unknown (before a restart) counts as served.
    var joined: [String: [String: String]] = [:]

    public init() {}

    /// The cloud's latest success on each LB seen so far (kept when its Event expires).
    var successes: [String: String] = [:]

    /// Records which shared LBs fail now, which are healthy (an address, no failure), and
    /// when the cloud last succeeded on each (``LoadBalancerHealth/lastSuccess(events:sharedServices:)``).
    public mutating func observe(
        _ causes: [String: Cause], healthy: Set<String>, lastSuccess: [String: String], now: ContinuousClock.Instant
    ) {
        failing = failing.filter { causes[$0.key] == $0.value.cause }
        queued.formIntersection(failing.keys)
        targets.subtract(healthy)
        for (name, cause) in causes where failing[name] == nil { failing[name] = (now, cause) }
        successes.merge(lastSuccess) { max($0, $1) }
    }

    /// Records a placement: who joined which LB at `time`, and where the members of
    /// failed-over LBs went.
    public mutating func placed(
        before: [String: LedgerShard], after: [String: LedgerShard], failedOver: [String: Set<String>], time: String
    ) {
        var joined: [String: [String: String]] = [:]
        let evacuated = failedOver.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        for (name, shard) in after {
            let earlier = Set(before[name]?.allocations.map(\.uid) ?? [])
            let members = Set(shard.allocations.map(\.uid))
            for uid in members {
                joined[name, default: [:]][uid] = self.joined[name]?[uid] ?? (earlier.contains(uid) ? nil : time)
            }
            // Where members of a failed-over LB arrived (not where another of their groups was).
            if failedOver[name] == nil, !members.subtracting(earlier).isDisjoint(with: evacuated) {
                targets.insert(name)
            }
        }
        self.joined = joined
        successes = successes.filter { after[$0.key] != nil }
    }

    /// True once a failing LB has failed for `after` and no placement was queued for it yet.
    public mutating func takeDue(after: Duration, now: ContinuousClock.Instant) -> Bool {
        let ripe = failing.filter { now - $0.value.since >= after && !queued.contains($0.key) }.keys
        queued.formUnion(ripe)
        return !ripe.isEmpty
    }

    /// The LBs given up on, each with the members that leave it
    /// (``Planner/plan(members:shards:reservedNames:failedOver:configuration:)``).
    ///
    /// - Parameter live: the shared LB Services, by name (absent: never created).
    public func failedOver(
        after: Duration, now: ContinuousClock.Instant, shards: [String: LedgerShard], live: [String: KubeService]
    ) -> [String: Set<String>] {
        var result: [String: Set<String>] = [:]
        for (name, entry) in failing where now - entry.since >= after && !targets.contains(name) {
            guard let shard = shards[name] else { continue }
            let service = live[name]
            let addressed = !(service?.status?.loadBalancer?.ingress ?? []).isEmpty
            switch entry.cause {
            case .refused:
                let taken = Set((service?.spec?.ports ?? []).map { "\($0.port)/\($0.protocol ?? "TCP")" })
                result[name] = Set(shard.allocations.filter { !taken.contains($0.slot.description) }.map(\.uid))
            case .cloud where !addressed:
                result[name] = Set(shard.allocations.map(\.uid))
            case .cloud:
                let since = successes[name] ?? ""
                result[name] = Set(shard.allocations.map(\.uid).filter { (joined[name]?[$0] ?? "") > since })
            }
        }
        return result
    }
}
