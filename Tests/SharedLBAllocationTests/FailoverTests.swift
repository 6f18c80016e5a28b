import SharedLBAllocation
import SharedLBCore
import Testing

@Suite("Self-healing: failing shared LBs are given up on")
struct FailoverTests {
    let configuration = PlacementConfiguration()
    let start = ContinuousClock.now
    let after = Duration.seconds(600)

    func lb(_ name: String, ports: [Int], address: Bool) -> KubeService {
        var service = KubeService(
            metadata: ObjectMeta(name: name, namespace: "sharedlb-system"),
            spec: .init(type: "LoadBalancer", ports: ports.map { KubeService.Port(port: $0) }))
        if address { service.status = .init(loadBalancer: .init(ingress: [.init(ip: "203.0.113.1")])) }
        return service
    }

    func shard(_ name: String, _ members: [Member]) -> LedgerShard {
        LedgerShard(
            sharedService: name, key: members[0].key,
            allocations: members.map { Allocation(slot: $0.ports[0].slot, member: $0, port: $0.ports[0]) })
    }

    @Test("a cloud failure moves only the members placed after the cloud's last success, once it lasted long enough")
    func cloudFailure() {
        let a = member("x", "a", ports: [(80, "TCP")])
        let b = member("x", "b", ports: [(81, "TCP")], created: "2026-11-27T00:00:01Z")
        var failover = Failover()
        let before = ["sharedlb-default-1": shard("sharedlb-default-1", [a])]
        failover.placed(before: [:], after: before, failedOver: [:], time: "2026-12-05T00:00:00.000000000")
        // The cloud built it (a), then b joined, then the cloud failed.
        let shards = ["sharedlb-default-1": shard("sharedlb-default-1", [a, b])]
        failover.placed(before: before, after: shards, failedOver: [:], time: "2026-12-05T00:00:10.000000000")
        failover.observe(
            ["sharedlb-default-1": .cloud], healthy: [],
            lastSuccess: ["sharedlb-default-1": "2026-12-05T00:00:05.000000000"], now: start)
        let live = ["sharedlb-default-1": lb("sharedlb-default-1", ports: [80, 81], address: true)]
        #expect(failover.failedOver(after: after, now: start + .seconds(599), shards: shards, live: live).isEmpty)
        let early = failover.takeDue(after: after, now: start + .seconds(599))
        let ripe = failover.takeDue(after: after, now: start + after)
        let again = failover.takeDue(after: after, now: start + after + .seconds(1))
        #expect(!early && ripe && !again, "queued once, when due")
        let given = failover.failedOver(after: after, now: start + after, shards: shards, live: live)
        #expect(given == ["sharedlb-default-1": [b.uid]])

        // b leaves for a new LB of the pool, with a move; a newcomer does not join the failing LB.
        let c = member("x", "c", ports: [(82, "TCP")], created: "2026-11-27T00:00:02Z")
        let placement = Planner.plan(
            members: [a, b, c], shards: Array(shards.values), failedOver: given, configuration: configuration)
        placement.checkInvariants(members: [a, b, c], configuration: configuration)
        #expect(placement.allocations(ofMember: a.uid).keys.sorted() == ["sharedlb-default-1"])
        #expect(placement.allocations(ofMember: b.uid).keys.sorted() == ["sharedlb-default-2"])
        #expect(placement.allocations(ofMember: c.uid).keys.sorted() == ["sharedlb-default-2"])
        #expect(placement.moves[b.uid] == ["sharedlb-default-1 -> sharedlb-default-2"])
        #expect(placement.moves[a.uid] == nil)
        failover.placed(
            before: shards, after: placement.shards, failedOver: given, time: "2026-12-05T00:10:10.000000000")

        // The new LB fails too: the failure followed the members, so it is not failed over again.
        failover.observe(
            ["sharedlb-default-1": .cloud, "sharedlb-default-2": .cloud], healthy: [], lastSuccess: [:],
            now: start + after)
        let later = failover.failedOver(
            after: after, now: start + after * 3, shards: placement.shards,
            live: live.merging(["sharedlb-default-2": lb("sharedlb-default-2", ports: [81, 82], address: false)]) {
                $1
            })
        #expect(later.keys.sorted() == ["sharedlb-default-1"])

        // Both recover: nothing is failed over, and nobody moves back.
        failover.observe([:], healthy: ["sharedlb-default-1", "sharedlb-default-2"], lastSuccess: [:], now: start)
        #expect(failover.failedOver(after: after, now: start + after * 4, shards: placement.shards, live: live).isEmpty)
        let replanned = Planner.plan(
            members: [a, b, c], shards: Array(placement.shards.values), configuration: configuration)
        #expect(replanned.changed.isEmpty && replanned.moves.isEmpty)
    }

    @Test("an LB the cloud never gave an address loses everyone; one the API server refuses, who is not on it")
    func whoLeaves() {
        let a = member("x", "a", ports: [(80, "TCP")])
        let b = member("x", "b", ports: [(81, "TCP")])
        let shards = ["sharedlb-default-1": shard("sharedlb-default-1", [a, b])]
        var failover = Failover()
        failover.observe(["sharedlb-default-1": .cloud], healthy: [], lastSuccess: [:], now: start)
        let pending = ["sharedlb-default-1": lb("sharedlb-default-1", ports: [80, 81], address: false)]
        #expect(
            failover.failedOver(after: after, now: start + after, shards: shards, live: pending)
                == ["sharedlb-default-1": [a.uid, b.uid]])
        // Before a restart nobody is known to have joined late: an LB with an address keeps all.
        let served = ["sharedlb-default-1": lb("sharedlb-default-1", ports: [80, 81], address: true)]
        #expect(
            failover.failedOver(after: after, now: start + after, shards: shards, live: served)
                == ["sharedlb-default-1": []])

        var refused = Failover()
        refused.observe(["sharedlb-default-1": .refused], healthy: [], lastSuccess: [:], now: start)
        let written = ["sharedlb-default-1": lb("sharedlb-default-1", ports: [80], address: true)]
        #expect(
            refused.failedOver(after: after, now: start + after, shards: shards, live: written)
                == ["sharedlb-default-1": [b.uid]])
        // A different cause restarts the clock.
        refused.observe(["sharedlb-default-1": .cloud], healthy: [], lastSuccess: [:], now: start + after)
        #expect(refused.failedOver(after: after, now: start + after, shards: shards, live: written).isEmpty)
    }
}
