import SharedLBAllocation
import SharedLBCore
import Testing

@Suite("Topology: trafficDistribution, hints, ipMode")
struct TopologyTests {
    let configuration = PlacementConfiguration()

    func service(_ name: String, port: Int, distribution: String?) -> KubeService {
        var service = memberService("x", name, ports: [(port, "TCP")])
        service.spec?.trafficDistribution = distribution
        return service
    }

    func allocations(_ members: [Member]) -> [Allocation] {
        members.map { Allocation(slot: $0.ports[0].slot, member: $0, port: $0.ports[0]) }
    }

    func plan(_ members: [Member], _ shards: [LedgerShard]) -> Placement {
        let placement = Planner.plan(members: members, shards: shards, configuration: configuration)
        placement.checkInvariants(members: members, configuration: configuration)
        let again = Planner.plan(members: members, shards: Array(placement.shards.values), configuration: configuration)
        #expect(again.changed.isEmpty, "a second pass would rewrite \(again.changed)")
        return placement
    }

    @Test("trafficDistribution keys the pool, and the shared LB carries it (a hand-set one is taken off)")
    func poolKey() throws {
        let close = Member(service: service("close", port: 80, distribution: "PreferClose"))!
        let plain = Member(service: service("plain", port: 81, distribution: nil))!
        #expect(close.key != plain.key)
        let placement = plan([close, plain], [])
        let homes = [close, plain].map { placement.allocations(ofMember: $0.uid).keys.sorted() }
        #expect(homes[0] != homes[1] && homes.allSatisfy { $0.count == 1 })
        let shard = try #require(placement.shards[homes[0][0]])
        let made = SharedService.make(shard: shard, namespace: "sharedlb-system", hostnames: [])
        #expect(made.spec?.trafficDistribution == "PreferClose")
        #expect(SharedService.patch(current: made, shard: shard, hostnames: []) == nil)
        var handSet = SharedService.make(
            shard: try #require(placement.shards[homes[1][0]]), namespace: "sharedlb-system", hostnames: [])
        handSet.spec?.trafficDistribution = "PreferClose"
        let patch = SharedService.patch(current: handSet, shard: placement.shards[homes[1][0]]!, hostnames: [])
        #expect(patch?.objectValue?["spec"]?.objectValue?["trafficDistribution"] == .null)
    }

    @Test("a shard follows the trafficDistribution most of its members ask for; the fewest move, with Moved")
    func majority() {
        let a = Member(service: service("a", port: 80, distribution: "PreferClose"))!
        let b = Member(service: service("b", port: 81, distribution: "PreferClose"))!
        let c = Member(service: service("c", port: 82, distribution: nil))!
        // Stored before the rule (or with c's value): one key for all three.
        let old = LedgerShard(sharedService: "sharedlb-default-1", key: c.key, allocations: allocations([a, b, c]))
        let placement = plan([a, b, c], [old])
        #expect(placement.allocations(ofMember: a.uid).keys.sorted() == ["sharedlb-default-1"])
        #expect(placement.allocations(ofMember: b.uid).keys.sorted() == ["sharedlb-default-1"])
        #expect(placement.allocations(ofMember: c.uid).keys.sorted() == ["sharedlb-default-2"])
        #expect(placement.moves[c.uid] != nil && placement.moves[a.uid] == nil)
        #expect(placement.shards["sharedlb-default-1"]!.key == a.key)

        // A lone member that changes its mind keeps its LB (and address) both ways.
        let alone = LedgerShard(sharedService: "sharedlb-default-1", key: c.key, allocations: allocations([a]))
        let followed = plan([a], [alone])
        #expect(followed.moves.isEmpty && followed.shards["sharedlb-default-1"]!.key == a.key)
        let back = plan(
            [c], [LedgerShard(sharedService: "sharedlb-default-1", key: a.key, allocations: allocations([c]))])
        #expect(back.moves.isEmpty && back.shards["sharedlb-default-1"]!.key == c.key)

        // A tie keeps the shard's own; a member that differs in more than this does not count.
        let tie = plan(
            [a, c], [LedgerShard(sharedService: "sharedlb-default-1", key: c.key, allocations: allocations([a, c]))])
        #expect(tie.shards["sharedlb-default-1"]!.key == c.key && tie.moves[a.uid] != nil)
        var pooled = service("d", port: 83, distribution: "PreferClose")
        pooled.metadata.annotations?[SharedLBNames.poolAnnotation] = "other"
        let d = Member(service: pooled)!
        let unrelated = LedgerShard(sharedService: "sharedlb-default-1", key: c.key, allocations: allocations([c, d]))
        #expect(unrelated.followingTrafficDistribution(of: [c.uid: c, d.uid: d]) == unrelated)

        // The audit reads a stored shard as the allocator does.
        let services = [
            service("a", port: 80, distribution: "PreferClose"), service("b", port: 81, distribution: "PreferClose"),
        ]
        let stored = LedgerShard(sharedService: "sharedlb-default-1", key: c.key, allocations: allocations([a, b]))
        #expect(
            !Auditor(shards: [stored], memberServices: services).violations().contains { $0.code == "pool-mismatch" })
    }

    @Test("mirrored endpoints keep the EndpointSlice controller's hints")
    func hints() {
        let member = Member(service: service("web", port: 80, distribution: "PreferClose"))!
        let hints = EndpointSlice.Hints(forZones: [.init(name: "zone-a")], forNodes: [.init(name: "node-1")])
        var pod = PodSummary(name: "web-0", namespace: "x", uid: "pod-uid", ips: ["10.0.0.5"])
        pod.phase = "Running"
        let source = EndpointSlice(
            metadata: ObjectMeta(name: "web-abc", namespace: "x", labels: [Mirroring.serviceNameLabel: "web"]),
            endpoints: [
                EndpointSlice.Endpoint(
                    addresses: ["10.0.0.5"], conditions: .init(ready: true),
                    targetRef: ObjectReference(kind: "Pod", namespace: "x", name: "web-0", uid: "pod-uid"),
                    nodeName: "node-1", zone: "zone-a", hints: hints)
            ],
            ports: [EndpointSlice.Port(name: "p80", protocol: "TCP", port: 8080)])
        let mirrored = Mirroring.slices(
            sharedService: "sharedlb-default-1", sharedServiceUID: "lb", namespace: "sharedlb-system",
            memberUID: member.uid, memberNamespace: "x", allocations: allocations([member]), memberSlices: [source],
            pods: ["web-0": pod])
        #expect(mirrored.count == 1)
        #expect(mirrored.first?.endpoints?.first?.hints == hints)
        #expect(mirrored.first?.endpoints?.first?.zone == "zone-a")
    }

    @Test("an address with ipMode Proxy is marked in the endpoint annotation and explained in the Event")
    func proxyMode() {
        let member = Member(service: service("web", port: 80, distribution: nil))!
        let mine = ["sharedlb-default-1": allocations([member])]
        let vip = MemberResults.member(
            allocations: mine, ingress: ["sharedlb-default-1": [.init(ip: "203.0.113.7", ipMode: "VIP")]], failure: nil,
            failedLBs: [:], namespace: "sharedlb-system")
        #expect(vip[SharedLBNames.endpointAnnotation] == "203.0.113.7:80/TCP")
        let proxied = MemberResults.member(
            allocations: mine,
            ingress: [
                "sharedlb-default-1": [.init(ip: "203.0.113.7", ipMode: "Proxy"), .init(hostname: "lb.example")]
            ],
            failure: nil, failedLBs: [:], namespace: "sharedlb-system")
        #expect(proxied[SharedLBNames.endpointAnnotation] == "203.0.113.7:80/TCP (ipMode Proxy),lb.example:80/TCP")
        let notice = MemberResults.notice(proxied, current: [:], isMember: true, moves: nil)
        #expect(notice?.reason == "Allocated")
        #expect(notice?.note.contains("ipMode is Proxy") == true)
        let plain = MemberResults.notice(vip, current: [:], isMember: true, moves: nil)
        #expect(plain?.note.contains("Proxy") == false)
    }

    @Test("audit compares mirrored endpoints with the member's own: stale, missing and differing ones are findings")
    func auditEndpoints() {
        let memberSvc = service("web", port: 80, distribution: nil)
        let member = Member(service: memberSvc)!
        let shard = LedgerShard(
            sharedService: "sharedlb-default-1", key: member.key, allocations: allocations([member]))
        func endpoint(_ ip: String, _ pod: String, ready: Bool = true) -> EndpointSlice.Endpoint {
            EndpointSlice.Endpoint(
                addresses: [ip], conditions: .init(ready: ready),
                targetRef: ObjectReference(kind: "Pod", namespace: "x", name: pod, uid: "uid-\(pod)"))
        }
        let pods = ["a", "b", "c"].enumerated().map {
            PodSummary(name: $0.element, namespace: "x", uid: "uid-\($0.element)", ips: ["10.0.0.\($0.offset + 1)"])
        }
        let own = EndpointSlice(
            metadata: ObjectMeta(name: "web-abc", namespace: "x", labels: [Mirroring.serviceNameLabel: "web"]),
            endpoints: [endpoint("10.0.0.1", "a"), endpoint("10.0.0.2", "b"), endpoint("10.0.0.3", "c")],
            ports: [EndpointSlice.Port(name: "p80", protocol: "TCP", port: 8080)])
        let endpoints = MemberEndpoints(slices: [own], pods: pods)
        let right = Mirroring.slices(
            sharedService: "sharedlb-default-1", sharedServiceUID: "lb", namespace: "sharedlb-system",
            memberUID: member.uid, memberNamespace: "x", allocations: shard.allocations, memberSlices: [own],
            pods: Dictionary(uniqueKeysWithValues: pods.map { ($0.name, $0) }))
        let clean = Auditor(
            shards: [shard], mirroredSlices: right, memberServices: [memberSvc], memberEndpoints: endpoints)
        #expect(clean.violations().filter { $0.code.hasPrefix("mirror") } == [])

        var wrong = right
        // Pod c is not mirrored, b is mirrored as not ready, and 10.0.0.9 is a Pod that is gone.
        wrong[0].endpoints = [
            endpoint("10.0.0.1", "a"), endpoint("10.0.0.2", "b", ready: false), endpoint("10.0.0.9", "z"),
        ]
        let auditor = Auditor(
            shards: [shard], mirroredSlices: wrong, memberServices: [memberSvc], memberEndpoints: endpoints)
        let found = auditor.violations().filter { $0.code.hasPrefix("mirror") }
        #expect(
            found.map { "\($0.code): \($0.message)" } == [
                "mirror-endpoint-differs: 1 endpoint mirrored with other conditions, zone or hints: 10.0.0.2",
                "mirror-missing-endpoint: 1 endpoint not mirrored: 10.0.0.3",
                "mirror-stale-endpoint: 1 endpoint not the member's: 10.0.0.9",
            ])
        #expect(found.allSatisfy { $0.subject == "x/web on sharedlb-default-1" })
    }
}
