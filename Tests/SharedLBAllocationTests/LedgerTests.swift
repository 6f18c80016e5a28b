import SharedLBAllocation
import SharedLBCore
import Testing

@Suite("Ledger codec and names")
struct LedgerTests {
    @Test("a shard round-trips through ConfigMap data, byte for byte, in a stable order")
    func roundTrip() throws {
        let key = member("team-a", "db", ports: [(5432, "TCP")]).key
        let allocations = [
            Allocation(
                slot: Slot(port: 8080, protocol: .tcp), namespace: "b", name: "web", portName: "", uid: "u2", target: 80
            ),
            Allocation(
                slot: Slot(port: 5432, protocol: .tcp), namespace: "a", name: "db", portName: "pg", uid: "u1",
                target: 5432),
        ]
        let shard = LedgerShard(sharedService: "sharedlb-default-1", key: key, allocations: allocations)
        let data = shard.data
        #expect(data["schema"] == "sharedlb.io/ledger/v1")
        #expect(data["pool"] == "default")
        #expect(
            data["allocations"] == """
                5432/TCP a/db/pg u1 5432
                8080/TCP b/web/ u2 80

                """)
        let decoded = try LedgerShard(configMapName: "sharedlb-ledger-sharedlb-default-1", data: data)
        #expect(decoded == shard)
        #expect(decoded.data == data)
        // The same allocations in another order give the same bytes.
        #expect(
            LedgerShard(sharedService: "sharedlb-default-1", key: key, allocations: allocations.reversed()).data == data
        )
    }

    @Test(
        "malformed ledgers are errors naming the line, never guesses",
        arguments: [
            "5432/TCP a/db/pg u1",  // 3 fields
            "5432/QUIC a/db/pg u1 5432",
            "0/TCP a/db/pg u1 5432",
            "5432/TCP a/db u1 5432",
            "5432/TCP /db/pg u1 5432",
            "5432/TCP a/db/pg u1 70000",
            "x/TCP a/db/pg u1 1",
        ])
    func malformedLine(line: String) throws {
        let key = member("team-a", "db", ports: [(5432, "TCP")]).key
        var data = LedgerShard(sharedService: "sharedlb-default-1", key: key).data
        data["allocations"] = "5432/TCP a/db/pg u1 5432\n\(line)\n"
        #expect(throws: LedgerError.self) {
            try LedgerShard(configMapName: "sharedlb-ledger-sharedlb-default-1", data: data)
        }
        do {
            _ = try LedgerShard(configMapName: "sharedlb-ledger-sharedlb-default-1", data: data)
        } catch {
            #expect(error.message.contains("line 2"))
        }
    }

    @Test("wrong schema, missing key, bad key and bad names are refused")
    func malformedShard() {
        let key = member("team-a", "db", ports: [(5432, "TCP")]).key
        let good = LedgerShard(sharedService: "sharedlb-default-1", key: key).data
        var schema = good
        schema["schema"] = "sharedlb.io/ledger/v2"
        var noKey = good
        noKey["key"] = nil
        var badKey = good
        badKey["key"] = "[1,2]"
        for data in [schema, noKey, badKey] {
            #expect(throws: LedgerError.self) {
                try LedgerShard(configMapName: "sharedlb-ledger-sharedlb-default-1", data: data)
            }
        }
        #expect(throws: LedgerError.self) { try LedgerShard(configMapName: "ledger-1", data: good) }
        // Comments and blank lines are allowed (an operator's note survives a read).
        var commented = good
        commented["allocations"] = "# note\n\n5432/TCP a/db/pg u1 5432\n"
        #expect(
            (try? LedgerShard(configMapName: "sharedlb-ledger-sharedlb-default-1", data: commented))?.allocations.count
                == 1)
    }

    @Test("a shard at the port limit stays under 256 KiB even with the longest names")
    func shardSize() {
        let longName = String(repeating: "n", count: 63)
        let key = member("team-a", "db", ports: [(5432, "TCP")]).key
        let allocations = (1...PlacementConfiguration.portsPerLBLimit).map {
            Allocation(
                slot: Slot(port: $0, protocol: .sctp), namespace: longName, name: longName,
                portName: String(repeating: "p", count: 15), uid: "15014529-edd9-42f7-9e30-4aa454c35522", target: 65535)
        }
        let data = LedgerShard(
            sharedService: "sharedlb-\(String(repeating: "q", count: 40))-9999", key: key, allocations: allocations
        ).data
        let bytes = data.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
        #expect(bytes < LedgerShard.maximumBytes)
    }

    @Test("pool names become DNS labels; distinct values stay distinct")
    func poolNames() {
        #expect(Naming.poolName(nil) == "default")
        #expect(Naming.poolName("team-a") == "team-a")
        let odd = ["Team_A", "team a", "TEAM.A", "--", "9lives", String(repeating: "x", count: 80), "ünïcode"]
        var seen: Set<String> = []
        for value in odd {
            let name = Naming.poolName(value)
            #expect(Naming.isDNSLabel(name) && name.first!.isLetter, "\(value) -> \(name)")
            #expect(name.count <= Naming.maximumPoolLength)
            #expect(Naming.isDNSLabel(Naming.sharedServiceName(pool: name, index: 9999)))
            seen.insert(name)
        }
        #expect(seen.count == odd.count)
        #expect(Naming.index(of: "sharedlb-team-a-12", pool: "team-a") == 12)
        #expect(Naming.index(of: "sharedlb-team-a-012", pool: "team-a") == nil)
        #expect(Naming.portName(Slot(port: 53, protocol: .udp)) == "udp-53")
    }

    @Test("a converted Service from kube-apiserver (fixture 13a) is a member with the defaults in its key")
    func memberFromFixture() throws {
        let service = try Fixtures.decode(KubeService.self, "13a-get-service.json")
        let member = try #require(Member(service: service))
        #expect(member.id == "team-a/web")
        #expect(member.ports == [MemberPort(name: "http", port: 8080, protocol: .tcp)])
        #expect(member.key.poolName == "default")
        #expect(member.key.settings["externalTrafficPolicy"] == .string("Cluster"))
        #expect(member.key.settings["ipFamilies"] == .array([.string("IPv4")]))
        // last-applied-configuration does not shape a load balancer.
        #expect(member.key.annotations.isEmpty)
        var optedOut = service
        optedOut.metadata.annotations?[SharedLBNames.dedicatedAnnotation] = "true"
        #expect(Member(service: optedOut) == nil)
        var unlabelled = service
        unlabelled.metadata.labels = [:]
        #expect(Member(service: unlabelled) == nil)
        // Labelled by hand on a real LoadBalancer: it has a load balancer of its own.
        var dedicatedLB = service
        dedicatedLB.spec?.type = "LoadBalancer"
        #expect(Member(service: dedicatedLB) == nil)
    }

    @Test("compatibility: source ranges, class, annotations and pool separate; order and bookkeeping do not")
    func compatibility() {
        let plain = member("a", "x", ports: [(80, "TCP")])
        let ranges = member(
            "a", "y", ports: [(80, "TCP")],
            requested:
                #"{"externalTrafficPolicy":"Cluster","loadBalancerSourceRanges":["10.0.0.0/8","192.168.0.0/16"]}"#)
        let rangesReordered = member(
            "b", "z", ports: [(80, "TCP")],
            requested:
                #"{"allocateLoadBalancerNodePorts":true,"loadBalancerSourceRanges":["192.168.0.0/16","10.0.0.0/8","10.0.0.0/8"]}"#
        )
        let internalLB = member(
            "a", "w", ports: [(80, "TCP")],
            annotations: ["service.beta.kubernetes.io/aws-load-balancer-internal": "true"])
        let helm = member(
            "a", "v", ports: [(80, "TCP")],
            annotations: ["meta.helm.sh/release-name": "x", "kubectl.kubernetes.io/last-applied-configuration": "{}"])
        let pooled = member("a", "u", ports: [(80, "TCP")], annotations: [SharedLBNames.poolAnnotation: "blue"])
        #expect(ranges.key == rangesReordered.key)
        #expect(plain.key != ranges.key)
        #expect(plain.key != internalLB.key)
        #expect(plain.key == helm.key)
        #expect(plain.key != pooled.key)
        #expect(pooled.key.poolName == "blue")
        let badPolicy = member(
            "a", "t", ports: [(80, "TCP")], annotations: [SharedLBNames.portPolicyAnnotation: "maybe"])
        #expect(badPolicy.problem?.contains("port-policy") == true)
        let badRequested = member("a", "s", ports: [(80, "TCP")], requested: "{not json")
        #expect(badRequested.problem?.contains("requested") == true)
        // A key survives the ledger.
        #expect((try? CompatibilityKey(canonical: ranges.key.canonical)) == ranges.key)
    }

    @Test("endpoint annotation: IPv4, bracketed IPv6 and hostnames, every ingress entry, slot order")
    func endpointAnnotation() {
        let allocations = [
            "sharedlb-default-1": [
                Allocation(
                    slot: Slot(port: 8443, protocol: .tcp), namespace: "a", name: "w", portName: "s", uid: "u",
                    target: 443),
                Allocation(
                    slot: Slot(port: 80, protocol: .tcp), namespace: "a", name: "w", portName: "h", uid: "u", target: 80
                ),
            ],
            "sharedlb-default-2": [
                Allocation(
                    slot: Slot(port: 53, protocol: .udp), namespace: "a", name: "w", portName: "d", uid: "u", target: 53
                )
            ],
        ]
        let ingress: [String: [KubeService.Ingress]] = [
            "sharedlb-default-1": [KubeService.Ingress(ip: "203.0.113.7"), KubeService.Ingress(ip: "2001:db8::7")],
            "sharedlb-default-2": [KubeService.Ingress(hostname: "lb.example.com")],
        ]
        #expect(
            SharedService.endpoint(allocations: allocations, ingress: ingress)
                == "203.0.113.7:80/TCP,[2001:db8::7]:80/TCP,203.0.113.7:8443/TCP,[2001:db8::7]:8443/TCP,lb.example.com:53/UDP"
        )
        #expect(SharedService.endpoint(allocations: allocations, ingress: [:]) == nil)
    }
}

@Suite("Shared LB Service")
struct SharedServiceTests {
    @Test("the patch names only SharedLB's fields, removes hand-added source ranges, and is nil when all is right")
    func patch() throws {
        let member = member("x", "a", ports: [(80, "TCP")])
        let shard = LedgerShard(
            sharedService: "sharedlb-default-1", key: member.key,
            allocations: [Allocation(slot: Slot(port: 80, protocol: .tcp), member: member, port: member.ports[0])])
        var live = SharedService.make(shard: shard, namespace: "sharedlb-system", hostnames: [])
        live.spec?.ports?[0].nodePort = 31000  // the API server's
        live.metadata.finalizers = ["service.kubernetes.io/load-balancer-cleanup"]
        #expect(SharedService.patch(current: live, shard: shard, hostnames: []) == nil)
        live.spec?.loadBalancerSourceRanges = ["0.0.0.0/0"]
        let patch = try #require(SharedService.patch(current: live, shard: shard, hostnames: ["a.example.com"]))
        #expect(
            JSONWriter.encode(patch, sortedKeys: true)
                == #"{"metadata":{"annotations":{"external-dns.alpha.kubernetes.io/hostname":"a.example.com"}},"spec":{"loadBalancerSourceRanges":null}}"#
        )
    }
}

@Suite("Restore")
struct RestoreTests {
    @Test("a converted Service (fixture 13a) gets back what it asked for, and only SharedLB's fields change")
    func restorePatch() throws {
        let service = try Fixtures.decode(KubeService.self, "13a-get-service.json")
        let patch = try #require(Restore.patch(for: service))
        #expect(
            JSONWriter.encode(patch, sortedKeys: true)
                == #"{"metadata":{"annotations":{"sharedlb.io/dedicated":"true","sharedlb.io/requested":null},"labels":{"sharedlb.io/managed":null}},"spec":{"allocateLoadBalancerNodePorts":true,"externalTrafficPolicy":"Cluster","type":"LoadBalancer"}}"#
        )
        var plain = service
        plain.metadata.labels = nil
        #expect(Restore.patch(for: plain) == nil)
        // Labelled but no longer a ClusterIP Service: its owner made it something else; left alone.
        for type in ["NodePort", "ExternalName", "LoadBalancer"] {
            var other = service
            other.spec?.type = type
            #expect(Restore.patch(for: other) == nil, "\(type)")
        }
    }

    @Test("LB-only annotations recorded in sharedlb.io/requested go back to the annotations, not the spec")
    func restoreAnnotations() throws {
        let service = memberService(
            "team-a", "db", ports: [(5432, "TCP")],
            requested:
                #"{"annotations":{"service.beta.kubernetes.io/load-balancer-source-ranges":"10.0.0.0/8"},"externalTrafficPolicy":"Cluster"}"#
        )
        let patch = try #require(Restore.patch(for: service))
        #expect(
            patch["metadata"]?["annotations"]?["service.beta.kubernetes.io/load-balancer-source-ranges"]?.stringValue
                == "10.0.0.0/8")
        #expect(patch["spec"]?["annotations"] == nil)
        // The shared LB carries the annotation: it is part of the member's compatibility key.
        let placed = try #require(Member(service: service))
        #expect(placed.key.annotations["service.beta.kubernetes.io/load-balancer-source-ranges"] == "10.0.0.0/8")
    }
}

@Suite("Refusals of a shared LB write, attributed to the members whose ports were refused")
struct RefusalTests {
    @Test("a 422 on spec.ports[i] names the member of that port; causes on other fields name nobody")
    func attribution() throws {
        let members = [
            member("team-a", "web", ports: [(80, "TCP")]), member("team-a", "kubelet", ports: [(10250, "TCP")]),
            member("team-b", "db", ports: [(5432, "TCP")]),
        ]
        let placement = Planner.plan(members: members, shards: [], reservedNames: [], configuration: .init())
        let shard = try #require(placement.shards.values.first)
        let written = SharedService.portsWritten(current: nil, shard: shard)
        let index = try #require(written.firstIndex { $0.port == 10250 })
        let byUID = Dictionary(uniqueKeysWithValues: members.map { ($0.uid, $0) })
        let refused = Refusal.refused(
            causes: [
                (
                    "spec.ports[\(index)]",
                    "Invalid value: 10250: may not expose port 10250 externally since it is used by kubelet"
                ),
                ("spec.loadBalancerSourceRanges", "Invalid value"), ("spec.ports[99]", "out of range"),
            ],
            writtenPorts: written, shard: shard, members: byUID)
        #expect(refused.keys.sorted() == ["uid-team-a-kubelet"])
        #expect(
            refused["uid-team-a-kubelet"]?.message
                == "shared LB \(shard.sharedService) refused 10250/TCP: Invalid value: 10250: may not expose port 10250 externally since it is used by kubelet"
        )
        // The refusal stands while the member stays as it was; a port change gives it another try.
        #expect(refused["uid-team-a-kubelet"]?.fingerprint == Refusal.fingerprint(of: byUID["uid-team-a-kubelet"]!))
        let changed = member("team-a", "kubelet", ports: [(10251, "TCP")])
        #expect(Refusal.fingerprint(of: changed) != refused["uid-team-a-kubelet"]?.fingerprint)
    }

    @Test("a write that did not send ports is indexed by the Service's own ports")
    func indexedByLivePorts() throws {
        let members = [member("team-a", "web", ports: [(80, "TCP"), (443, "TCP")])]
        let shard = try #require(
            Planner.plan(members: members, shards: [], reservedNames: [], configuration: .init()).shards.values.first)
        var live = SharedService.make(shard: shard, namespace: "sharedlb-system", hostnames: [])
        live.spec?.ports?.reverse()
        #expect(SharedService.portsWritten(current: live, shard: shard).map(\.port) == [443, 80])
        live.spec?.ports?.removeLast()
        #expect(SharedService.portsWritten(current: live, shard: shard).map(\.port) == [80, 443])
    }
}
