import SharedLBAllocation
import SharedLBCore
import Testing

@Suite("Placement")
struct PlannerTests {
    let configuration = PlacementConfiguration()

    func plan(_ members: [Member], _ shards: [LedgerShard] = [], _ configuration: PlacementConfiguration? = nil)
        -> Placement
    {
        let configuration = configuration ?? self.configuration
        let placement = Planner.plan(members: members, shards: shards, configuration: configuration)
        placement.checkInvariants(members: members, configuration: configuration)
        // Planning again from its own result changes nothing: a restart writes nothing.
        let again = Planner.plan(members: members, shards: Array(placement.shards.values), configuration: configuration)
        #expect(again.changed.isEmpty, "a second pass would rewrite \(again.changed)")
        return placement
    }

    func home(_ placement: Placement, _ member: Member) -> [String] {
        placement.allocations(ofMember: member.uid).keys.sorted()
    }

    @Test("members share one LB; a port conflict spills to a second; preserve keeps ports")
    func conflictSpills() {
        let web = member("team-a", "web", ports: [(80, "TCP"), (443, "TCP")], created: "1")
        let db = member("team-a", "db", ports: [(5432, "TCP")], created: "2")
        let web2 = member("team-b", "web", ports: [(80, "TCP")], created: "3")
        let placement = plan([web, db, web2])
        #expect(home(placement, web) == ["sharedlb-default-1"])
        #expect(home(placement, db) == ["sharedlb-default-1"])
        #expect(home(placement, web2) == ["sharedlb-default-2"])
        #expect(placement.created == ["sharedlb-default-1", "sharedlb-default-2"])
        #expect(placement.failures.isEmpty)
        #expect(placement.shards["sharedlb-default-2"]!.allocations.map(\.slot) == [Slot(port: 80, protocol: .tcp)])
    }

    @Test("the order of members does not change the result (creation time decides conflicts)")
    func deterministic() {
        let members = (0..<30).map {
            member("ns\($0 % 3)", "svc\($0)", ports: [(1000 + $0 % 4, "TCP")], created: "t\($0)")
        }
        let one = Planner.plan(members: members, shards: [], configuration: configuration)
        let two = Planner.plan(members: members.reversed(), shards: [], configuration: configuration)
        #expect(one.shards.mapValues(\.data) == two.shards.mapValues(\.data))
    }

    @Test("capacity per LB and LBs per pool; a member that does not fit fails, and is placed once room appears")
    func capacity() {
        let limited = PlacementConfiguration(maximumPortsPerLB: 2, maximumLBsPerPool: 2)
        let a = member("x", "a", ports: [(1, "TCP"), (2, "TCP")], created: "1")
        let b = member("x", "b", ports: [(3, "TCP")], created: "2")
        let c = member("x", "c", ports: [(4, "TCP")], created: "3")
        let d = member("x", "d", ports: [(5, "TCP")], created: "4")
        let placement = plan([a, b, c, d], [], limited)
        #expect(home(placement, a) == ["sharedlb-default-1"])
        #expect(home(placement, b) == ["sharedlb-default-2"])
        #expect(home(placement, c) == ["sharedlb-default-2"])
        #expect(placement.failures[d.uid]?.contains("no room for 5/TCP") == true)
        // b goes away: d takes its place, nothing else moves.
        let after = plan([a, c, d], Array(placement.shards.values), limited)
        #expect(home(after, d) == ["sharedlb-default-2"])
        #expect(after.failures.isEmpty)
        #expect(after.changed == ["sharedlb-default-2"])
        // A member larger than one LB can never fit, and says why.
        let huge = member("x", "huge", ports: [(7, "TCP"), (8, "TCP"), (9, "TCP")])
        #expect(plan([huge], [], limited).failures[huge.uid]?.contains("more than --max-ports-per-lb 2") == true)
    }

    @Test("remap: a taken port gets a free one from the range on an existing LB; preserve spills instead")
    func remap() {
        let policy = [SharedLBNames.portPolicyAnnotation: "remap"]
        let first = member("a", "first", ports: [(80, "TCP")], created: "1")
        let second = member("b", "second", ports: [(80, "TCP"), (81, "TCP")], created: "2", annotations: policy)
        let placement = plan([first, second])
        #expect(home(placement, second) == ["sharedlb-default-1"])
        let slots = placement.allocations(ofMember: second.uid)["sharedlb-default-1"]!.map(\.slot.port).sorted()
        #expect(slots == [81, 20000])
        // With a flag-wide default.
        let everyone = PlacementConfiguration(defaultPolicy: .remap, remapRange: 40000...40001)
        let third = member("c", "third", ports: [(80, "TCP")], created: "3")
        let result = plan([first, member("b", "second", ports: [(80, "TCP")], created: "2"), third], [], everyone)
        #expect(result.shards.count == 1)
        #expect(result.shards.values.first!.allocations.map(\.slot.port).sorted() == [80, 40000, 40001])
    }

    @Test("TCP, UDP and SCTP are separate slots; a TCP+UDP member is split over two LBs unless mixing is allowed")
    func protocols() {
        let dns = member("kube", "dns", ports: [(53, "TCP"), (53, "UDP")], created: "1")
        let web = member("a", "web", ports: [(80, "TCP")], created: "2")
        let split = plan([dns, web])
        #expect(home(split, dns) == ["sharedlb-default-1", "sharedlb-default-2"])
        #expect(split.shards["sharedlb-default-1"]!.protocols == [.tcp])
        #expect(split.shards["sharedlb-default-2"]!.protocols == [.udp])
        #expect(home(split, web) == ["sharedlb-default-1"])
        let mixed = plan([dns, web], [], PlacementConfiguration(mixedProtocol: true))
        #expect(home(mixed, dns) == ["sharedlb-default-1"])
        #expect(mixed.shards.count == 1)
    }

    @Test("changing a member's ports re-places only what changed; it keeps its LB")
    func portChange() {
        let a = member("x", "a", ports: [(80, "TCP"), (443, "TCP")], created: "1")
        let b = member("x", "b", ports: [(5432, "TCP")], created: "2")
        let first = plan([a, b])
        let changed = member("x", "a", ports: [(80, "TCP"), (8443, "TCP")], created: "1")
        let second = plan([changed, b], Array(first.shards.values))
        #expect(home(second, changed) == ["sharedlb-default-1"])
        #expect(second.changed == ["sharedlb-default-1"])
        let lines = second.shards["sharedlb-default-1"]!.allocations.map(\.line)
        #expect(
            lines == [
                "80/TCP x/a/p80 uid-x-a 80", "5432/TCP x/b/p5432 uid-x-b 5432", "8443/TCP x/a/p8443 uid-x-a 8443",
            ])
        // A new port that collides on its LB moves the member's group where it all fits, and says so.
        let collide = member("x", "a", ports: [(80, "TCP"), (5432, "TCP")], created: "1")
        let third = plan([collide, b], Array(first.shards.values))
        #expect(home(third, collide) == ["sharedlb-default-2"])
        #expect(third.moves[collide.uid] == ["sharedlb-default-1 -> sharedlb-default-2"])
        #expect(home(third, b) == ["sharedlb-default-1"])
    }

    @Test("a settings change moves the member to its new pool; a deleted member frees its slots")
    func releaseAndRepool() {
        let a = member("x", "a", ports: [(80, "TCP")], created: "1")
        let b = member("x", "b", ports: [(81, "TCP")], created: "2")
        let first = plan([a, b])
        let restricted = member(
            "x", "a", ports: [(80, "TCP")], created: "1",
            requested: #"{"loadBalancerSourceRanges":["10.0.0.0/8"]}"#)
        let second = plan([restricted, b], Array(first.shards.values))
        #expect(home(second, restricted) == ["sharedlb-default-2"])
        #expect(
            second.shards["sharedlb-default-2"]!.key.settings["loadBalancerSourceRanges"]
                == .array([.string("10.0.0.0/8")]))
        let third = plan([b], Array(second.shards.values))
        #expect(third.shards["sharedlb-default-2"]!.allocations.isEmpty)  // kept, empty, for the grace period
        #expect(home(third, b) == ["sharedlb-default-1"])
    }

    @Test("repair: a slot recorded twice keeps the first member; a member recorded in two shards is gathered")
    func repair() throws {
        let a = member("x", "a", ports: [(80, "TCP"), (81, "TCP")], created: "1")
        let b = member("x", "b", ports: [(80, "TCP")], created: "2")
        // Two allocators raced without leader election and wrote these.
        let one = LedgerShard(
            sharedService: "sharedlb-default-1", key: a.key,
            allocations: [
                Allocation(slot: Slot(port: 80, protocol: .tcp), member: a, port: a.ports[0]),
                Allocation(slot: Slot(port: 80, protocol: .tcp), member: b, port: b.ports[0]),
            ])
        let two = LedgerShard(
            sharedService: "sharedlb-default-2", key: a.key,
            allocations: [Allocation(slot: Slot(port: 81, protocol: .tcp), member: a, port: a.ports[1])])
        let placement = plan([a, b], [one, two])
        #expect(home(placement, a) == ["sharedlb-default-1"])
        #expect(home(placement, b) == ["sharedlb-default-2"])
    }

    @Test("new LBs skip names that are still taken (a Service held by a finalizer)")
    func reservedNames() {
        let a = member("x", "a", ports: [(80, "TCP")])
        let placement = Planner.plan(
            members: [a], shards: [], reservedNames: ["sharedlb-default-1"], configuration: configuration)
        #expect(home(placement, a) == ["sharedlb-default-2"])
    }

    @Test("a malformed member is reported and keeps what it has")
    func problems() {
        let bad = member("x", "a", ports: [(80, "TCP")], annotations: [SharedLBNames.portPolicyAnnotation: "sometimes"])
        let placement = plan([bad])
        #expect(placement.failures[bad.uid]?.contains("preserve or remap") == true)
        #expect(placement.shards.isEmpty)
    }

    @Test("random churn keeps every invariant, and a second pass never rewrites the ledger", arguments: 0..<8)
    func property(seed: UInt64) {
        var random = SplitMix64(state: seed)
        let configuration = PlacementConfiguration(
            maximumPortsPerLB: Int.random(in: 3...8, using: &random), maximumLBsPerPool: 4,
            defaultPolicy: Bool.random(using: &random) ? .preserve : .remap, remapRange: 9000...9010,
            mixedProtocol: Bool.random(using: &random))
        var services: [String: Member] = [:]
        var shards: [LedgerShard] = []
        for step in 0..<40 {
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let name = "s\(Int.random(in: 0..<25, using: &random))"
                if Int.random(in: 0..<4, using: &random) == 0 {
                    services[name] = nil
                    continue
                }
                let ports = (0..<Int.random(in: 1...3, using: &random)).map { _ in
                    (
                        Int.random(in: 1...6, using: &random),
                        ["TCP", "TCP", "UDP", "SCTP"].randomElement(using: &random)!
                    )
                }
                let unique = Dictionary(ports.map { ("\($0.0)/\($0.1)", $0) }, uniquingKeysWith: { a, _ in a }).values
                let pool = Int.random(in: 0..<3, using: &random) == 0 ? [SharedLBNames.poolAnnotation: "blue"] : [:]
                services[name] = member("ns", name, ports: Array(unique), created: "t\(step)", annotations: pool)
            }
            let members = Array(services.values)
            let placement = Planner.plan(members: members, shards: shards, configuration: configuration)
            placement.checkInvariants(members: members, configuration: configuration)
            // Members that were placed before keep their slots unless their ports changed.
            shards = Array(placement.shards.values)
            let again = Planner.plan(
                members: members.shuffled(using: &random), shards: shards, configuration: configuration)
            #expect(again.changed.isEmpty)
        }
    }

    @Test("a contested slot goes to the older member, whatever the uids")
    func contestedByAge() {
        var older = memberService("x", "older", uid: "uid-z", ports: [(80, "TCP")], created: "2026-01-01T00:00:00Z")
        older.metadata.uid = "uid-z"
        let newer = memberService("x", "newer", uid: "uid-a", ports: [(80, "TCP")], created: "2026-06-01T00:00:00Z")
        let a = Member(service: older)!
        let b = Member(service: newer)!
        let raced = LedgerShard(
            sharedService: "sharedlb-default-1", key: a.key,
            allocations: [
                Allocation(slot: Slot(port: 80, protocol: .tcp), member: b, port: b.ports[0]),
                Allocation(slot: Slot(port: 80, protocol: .tcp), member: a, port: a.ports[0]),
            ])
        let placement = plan([a, b], [raced])
        #expect(home(placement, a) == ["sharedlb-default-1"])
        #expect(home(placement, b) == ["sharedlb-default-2"])
    }

    @Test("a pool with a fixed loadBalancerIP has one shared LB: who does not fit there is told why")
    func fixedAddress() {
        let requested = #"{"loadBalancerIP":"203.0.113.9"}"#
        let a = member("x", "a", ports: [(80, "TCP")], created: "1", requested: requested)
        let b = member("x", "b", ports: [(80, "TCP")], created: "2", requested: requested)
        let placement = plan([a, b])
        #expect(placement.shards.count == 1)
        #expect(placement.failures[b.uid]?.contains("loadBalancerIP 203.0.113.9") == true)
    }

    @Test("Local members share only when they select the same pods")
    func localSelector() {
        let local = #"{"externalTrafficPolicy":"Local"}"#
        let web = Member(service: memberService("x", "web", ports: [(80, "TCP")], requested: local))!
        var other = memberService("x", "api", ports: [(81, "TCP")], requested: local)
        let api = Member(service: other)!
        #expect(web.key != api.key)  // selectors app=web and app=api
        other.spec?.selector = ["app": "web"]
        #expect(Member(service: other)!.key == web.key)
        // Cluster members share whatever they select.
        #expect(member("x", "a", ports: [(80, "TCP")]).key == member("x", "b", ports: [(81, "TCP")]).key)
        #expect((try? CompatibilityKey(canonical: web.key.canonical)) == web.key)
        // A selector means nothing outside its namespace: the same one in another does not share.
        var elsewhere = memberService("y", "web", ports: [(82, "TCP")], requested: local)
        elsewhere.spec?.selector = ["app": "web"]
        #expect(Member(service: elsewhere)!.key != web.key)
        #expect(web.key.namespace == "x")
    }

    @Test(
        "only load-balancer-shaping annotations decide sharing; an operator's prefix is one of them",
        arguments: [
            ("team.example.com/owner", "blue", true), ("linkerd.io/inject", "enabled", true),
            ("prometheus.io/scrape", "true", true),
            ("service.beta.kubernetes.io/aws-load-balancer-scheme", "internal", false),
            ("metallb.universe.tf/address-pool", "dmz", false), ("cloud.google.com/l4-rbs", "enabled", false),
            ("lb.example.com/tier", "gold", false),
        ])
    func shapingAnnotations(annotation: String, value: String, shares: Bool) {
        let configuration = PlacementConfiguration(shaping: ShapingAnnotations(adding: ["lb.example.com/"]))
        func make(_ name: String, _ annotations: [String: String]) -> Member {
            Member(
                service: memberService("x", name, ports: [(80 + annotations.count, "TCP")], annotations: annotations),
                shaping: configuration.shaping)!
        }
        let plain = make("plain", [:])
        let annotated = make("annotated", [annotation: value])
        let placement = plan([plain, annotated], [], configuration)
        #expect((home(placement, plain) == home(placement, annotated)) == shares)
        #expect(annotated.key.annotations[annotation] == (shares ? nil : value))
    }

    @Test("a ledger keyed by the old rule keeps its members where they are and is rewritten once, key only")
    func oldKeyRule() throws {
        let web = member("x", "web", ports: [(80, "TCP")], annotations: ["linkerd.io/inject": "enabled"])
        let db = member("x", "db", ports: [(5432, "TCP")], annotations: ["team.example.com/owner": "blue"])
        // Before 2026-12 each annotation not on a deny-list was part of the key: two pools.
        func oldKey(_ annotations: [String: String]) -> CompatibilityKey {
            CompatibilityKey(pool: "", settings: web.key.settings, annotations: annotations)
        }
        let stored = [
            LedgerShard(
                sharedService: "sharedlb-default-1", key: oldKey(["linkerd.io/inject": "enabled"]),
                allocations: [Allocation(slot: Slot(port: 80, protocol: .tcp), member: web, port: web.ports[0])]),
            LedgerShard(
                sharedService: "sharedlb-default-2", key: oldKey(["team.example.com/owner": "blue"]),
                allocations: [Allocation(slot: Slot(port: 5432, protocol: .tcp), member: db, port: db.ports[0])]),
        ]
        let placement = plan([web, db], stored)
        #expect(home(placement, web) == ["sharedlb-default-1"])
        #expect(home(placement, db) == ["sharedlb-default-2"])
        #expect(placement.moves.isEmpty)
        #expect(placement.changed == ["sharedlb-default-1", "sharedlb-default-2"])
        #expect(placement.shards.values.allSatisfy { $0.key == web.key })
        for shard in stored {
            #expect(placement.shards[shard.sharedService]!.allocations == shard.allocations)
        }
        // The audit reads old shards as the allocator does: no pool mismatch before the rewrite.
        let services = [
            memberService("x", "web", ports: [(80, "TCP")], annotations: ["linkerd.io/inject": "enabled"]),
            memberService("x", "db", ports: [(5432, "TCP")], annotations: ["team.example.com/owner": "blue"]),
        ]
        let violations = Auditor(shards: stored, memberServices: services).violations()
        #expect(!violations.contains { $0.code == "pool-mismatch" })
    }

    @Test("an old Local shard of two namespaces keeps the namespace most of its members are in; the other moves")
    func oldLocalKey() throws {
        let local = #"{"externalTrafficPolicy":"Local"}"#
        func make(_ namespace: String, _ port: Int) -> (Member, KubeService) {
            var service = memberService(namespace, "web-\(port)", ports: [(port, "TCP")], requested: local)
            service.spec?.selector = ["app": "web"]
            return (Member(service: service)!, service)
        }
        let (a1, _) = make("a", 80)
        let (a2, _) = make("a", 81)
        let (b1, _) = make("b", 82)
        let old = CompatibilityKey(pool: "", settings: a1.key.settings, annotations: [:], selector: ["app": "web"])
        let shard = LedgerShard(
            sharedService: "sharedlb-default-1", key: old,
            allocations: [a1, a2, b1].map { Allocation(slot: $0.ports[0].slot, member: $0, port: $0.ports[0]) })
        let placement = plan([a1, a2, b1], [shard])
        #expect(home(placement, a1) == ["sharedlb-default-1"])
        #expect(home(placement, a2) == ["sharedlb-default-1"])
        #expect(home(placement, b1) == ["sharedlb-default-2"])
        #expect(placement.moves[b1.uid] != nil)
        #expect(placement.shards["sharedlb-default-1"]!.key == a1.key)
    }
}
