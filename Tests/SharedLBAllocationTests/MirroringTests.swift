import SharedLBAllocation
import SharedLBCore
import Testing

@Suite("Endpoint mirroring and audit")
struct MirroringTests {
    /// The pods behind fixture 13e's slice, as they exist in team-a.
    func pods(_ slice: EndpointSlice) -> [String: Pod] {
        var pods: [String: Pod] = [:]
        for endpoint in slice.endpoints ?? [] {
            let reference = endpoint.targetRef!
            var pod = Pod(
                metadata: ObjectMeta(name: reference.name, namespace: "team-a"),
                status: Pod.Status(podIP: endpoint.addresses[0], podIPs: [Pod.PodIP(ip: endpoint.addresses[0])]))
            pod.metadata.uid = reference.uid
            pods[reference.name!] = pod
        }
        return pods
    }

    func allocation(port: Int = 18080) -> Allocation {
        Allocation(
            slot: Slot(port: port, protocol: .tcp), namespace: "team-a", name: "web-eps", portName: "http",
            uid: "80c72521-b7a1-4ae8-9ba9-4f0d52239c45", target: 8080)
    }

    func mirror(_ slices: [EndpointSlice], pods: [String: Pod]) -> [EndpointSlice] {
        Mirroring.slices(
            sharedService: "sharedlb-default-1", sharedServiceUID: "lb-uid", namespace: "sharedlb-system",
            memberUID: "80c72521-b7a1-4ae8-9ba9-4f0d52239c45", memberNamespace: "team-a", allocations: [allocation()],
            memberSlices: slices, pods: pods.mapValues(PodSummary.init))
    }

    @Test(
        "a real slice (fixture 13e) is mirrored with its addresses, conditions, node and zone under the shared port name"
    )
    func mirrorsFixture() throws {
        let source = try Fixtures.decode(EndpointSlice.self, "13e-get-endpointslice.json")
        let mirrored = mirror([source], pods: pods(source))
        #expect(mirrored.count == 1)
        let slice = try #require(mirrored.first)
        #expect(slice.metadata.namespace == "sharedlb-system")
        #expect(
            slice.metadata.labels == [
                "kubernetes.io/service-name": "sharedlb-default-1",
                "endpointslice.kubernetes.io/managed-by": "allocator.sharedlb.io",
                "sharedlb.io/member-uid": "80c72521-b7a1-4ae8-9ba9-4f0d52239c45",
            ])
        #expect(slice.metadata.ownerReferences?.map(\.uid) == ["lb-uid"])
        #expect(slice.ports?.map(\.name) == ["tcp-18080"])
        #expect(slice.ports?.first?.port == 8080)  // the pods' port, as the member's slice resolved it
        #expect(slice.endpoints?.map(\.addresses) == [["10.244.1.11"], ["10.244.1.12"], ["10.244.1.13"]])
        #expect(
            slice.endpoints?[2].conditions == EndpointSlice.Conditions(ready: false, serving: false, terminating: false)
        )
        #expect(slice.endpoints?.allSatisfy { $0.nodeName == "fake-node-1" && $0.zone == "zone-a" } == true)
        // Deterministic: the same input gives the same names.
        #expect(mirror([source], pods: pods(source)).map(\.metadata.name) == mirrored.map(\.metadata.name))
        #expect(Naming.isDNSLabel(slice.metadata.name!))
    }

    @Test(
        "forged targetRefs are not mirrored: another namespace, a wrong uid, an address the pod does not have, no targetRef"
    )
    func forged() throws {
        var source = try Fixtures.decode(EndpointSlice.self, "13e-get-endpointslice.json")
        let realPods = pods(source)
        var endpoints = source.endpoints!
        endpoints[0].targetRef?.namespace = "kube-system"  // claims another namespace's pod
        endpoints[1].targetRef?.uid = "00000000-0000-0000-0000-000000000000"  // a pod of that name, another uid
        endpoints[2].addresses = ["10.96.0.10"]  // the right pod, somebody else's address
        endpoints.append(EndpointSlice.Endpoint(addresses: ["10.244.9.9"]))  // no targetRef at all
        source.endpoints = endpoints
        let mirrored = mirror([source], pods: realPods)
        #expect(mirrored.count == 1)
        #expect(mirrored[0].endpoints == [])
        // And the legitimate one survives beside forged ones.
        var mixed = try Fixtures.decode(EndpointSlice.self, "13e-get-endpointslice.json")
        mixed.endpoints![0].targetRef?.namespace = "kube-system"
        #expect(mirror([mixed], pods: realPods)[0].endpoints?.map(\.addresses) == [["10.244.1.12"], ["10.244.1.13"]])
    }

    @Test("FQDN slices and slices we manage are skipped; ports the member has not placed are left out")
    func skipped() throws {
        var fqdn = try Fixtures.decode(EndpointSlice.self, "13e-get-endpointslice.json")
        fqdn.addressType = "FQDN"
        #expect(mirror([fqdn], pods: [:]).isEmpty)
        var ours = try Fixtures.decode(EndpointSlice.self, "13e-get-endpointslice.json")
        ours.metadata.labels?[Mirroring.managedByLabel] = Mirroring.managedBy
        #expect(mirror([ours], pods: [:]).isEmpty)
        var otherPort = try Fixtures.decode(EndpointSlice.self, "13e-get-endpointslice.json")
        otherPort.ports = [EndpointSlice.Port(name: "metrics", protocol: "TCP", port: 9090)]
        #expect(mirror([otherPort], pods: [:]).isEmpty)
    }

    @Test("large slices are split at 100 endpoints")
    func chunks() throws {
        var source = try Fixtures.decode(EndpointSlice.self, "13e-get-endpointslice.json")
        var pods: [String: Pod] = [:]
        source.endpoints = (0..<250).map { index in
            let name = "pod-\(index)"
            var pod = Pod(
                metadata: ObjectMeta(name: name, namespace: "team-a"),
                status: Pod.Status(podIPs: [Pod.PodIP(ip: "10.1.\(index / 200).\(index % 200)")]))
            pod.metadata.uid = "uid-\(index)"
            pods[name] = pod
            return EndpointSlice.Endpoint(
                addresses: ["10.1.\(index / 200).\(index % 200)"],
                targetRef: ObjectReference(kind: "Pod", namespace: "team-a", name: name, uid: "uid-\(index)"))
        }
        let mirrored = mirror([source], pods: pods)
        #expect(mirrored.map { $0.endpoints?.count ?? 0 } == [100, 100, 50])
        #expect(Set(mirrored.map(\.metadata.name)).count == 3)
    }

    @Test("audit names every broken invariant and passes a consistent state")
    func audit() {
        let a = memberService("x", "a", ports: [(80, "TCP")])
        let b = memberService("x", "b", ports: [(81, "TCP")])
        let memberA = Member(service: a)!
        let memberB = Member(service: b)!
        let shard = LedgerShard(
            sharedService: "sharedlb-default-1", key: memberA.key,
            allocations: [
                Allocation(slot: Slot(port: 80, protocol: .tcp), member: memberA, port: memberA.ports[0]),
                Allocation(slot: Slot(port: 81, protocol: .tcp), member: memberB, port: memberB.ports[0]),
            ])
        var lb = SharedService.make(shard: shard, namespace: "sharedlb-system", hostnames: [])
        lb.metadata.uid = "lb"
        let clean = Auditor(shards: [shard], sharedServices: [lb], mirroredSlices: [], memberServices: [a, b])
        #expect(clean.violations() == [])

        var broken = shard
        broken.allocations.append(
            Allocation(slot: Slot(port: 80, protocol: .tcp), member: memberB, port: memberB.ports[0]))
        var wrongPorts = lb
        wrongPorts.spec?.ports?.removeLast()
        wrongPorts.spec?.loadBalancerSourceRanges = ["0.0.0.0/0"]
        let orphan = SharedService.make(
            shard: LedgerShard(sharedService: "sharedlb-default-9", key: memberA.key), namespace: "sharedlb-system",
            hostnames: [])
        let stale = EndpointSlice(
            metadata: ObjectMeta(
                name: "sharedlb-default-1-x-0",
                labels: [Mirroring.serviceNameLabel: "sharedlb-default-1", Mirroring.memberUIDLabel: "gone"]))
        let auditor = Auditor(
            shards: [broken], unreadable: ["sharedlb-ledger-sharedlb-default-3": "bad line"],
            sharedServices: [wrongPorts, orphan], mirroredSlices: [stale], memberServices: [a])
        let codes = Set(auditor.violations().map(\.code))
        #expect(
            codes == [
                "slot-conflict", "ledger-unreadable", "shared-service-ports", "orphan-shared-service", "stale-mirror",
                "stale-allocation", "member-duplicated",
            ], "\(auditor.violations())")
    }
}

@Suite("Cloud verdicts on shared LBs")
struct LoadBalancerHealthTests {
    func event(_ reason: String, _ type: String, at time: String, on name: String = "sharedlb-default-1") -> Event {
        Event(
            metadata: ObjectMeta(name: "\(name).\(reason)", namespace: "sharedlb-system"), eventTime: time,
            reportingController: "service-controller", reportingInstance: "kcm", action: "Sync", reason: reason,
            regarding: ObjectReference(kind: "Service", namespace: "sharedlb-system", name: name),
            note: "quota exceeded",
            type: type)
    }

    @Test("the latest Event decides: a failure is reported until a later success, whatever the time precision")
    func latestWins() {
        let failed = event("SyncLoadBalancerFailed", "Warning", at: "2026-11-27T02:51:22.500000Z")
        let ensured = event("EnsuredLoadBalancer", "Normal", at: "2026-11-27T02:51:22Z")
        let lbs: Set<String> = ["sharedlb-default-1"]
        #expect(
            LoadBalancerHealth.failures(events: [ensured, failed], sharedServices: lbs)
                == ["sharedlb-default-1": "shared LB sharedlb-default-1: SyncLoadBalancerFailed: quota exceeded"])
        let later = event("EnsuredLoadBalancer", "Normal", at: "2026-11-27T02:51:23Z")
        #expect(LoadBalancerHealth.failures(events: [failed, later], sharedServices: lbs).isEmpty)
        // Events about other objects do not count.
        let other = event("SyncLoadBalancerFailed", "Warning", at: "2026-11-27T03:00:00Z", on: "someone-else")
        #expect(LoadBalancerHealth.failures(events: [other], sharedServices: lbs).isEmpty)
    }

    @Test("failure reasons of the service controller, the AWS Load Balancer Controller and MetalLB")
    func reasons() {
        let lbs: Set<String> = ["sharedlb-default-1"]
        for reason in ["SyncLoadBalancerFailed", "FailedDeployModel", "FailedBuildModel", "AllocationFailed"] {
            let failed = event(reason, "Warning", at: "2026-11-27T02:51:22Z")
            #expect(LoadBalancerHealth.failures(events: [failed], sharedServices: lbs).count == 1, "\(reason)")
        }
        for reason in ["EnsuredLoadBalancer", "SuccessfullyReconciled", "IPAllocated"] {
            let normal = event(reason, "Warning", at: "2026-11-27T02:51:22Z")
            #expect(LoadBalancerHealth.failures(events: [normal], sharedServices: lbs).isEmpty, "\(reason)")
        }
    }

    @Test("a core/v1 Event read through events.k8s.io (fixture 13n) is dated by deprecatedLastTimestamp")
    func coreEvent() throws {
        var event = try Fixtures.decode(Event.self, "13n-get-event-events-v1.json")
        #expect(event.eventTime == nil)
        #expect(event.deprecatedLastTimestamp == "2026-11-27T02:51:40Z")
        #expect(event.deprecatedCount == 1)
        // The cloud's service controller writes such Events on a shared LB; a repeat an hour
        // later moves only deprecatedLastTimestamp, and must still beat an earlier success.
        event.regarding = ObjectReference(kind: "Service", namespace: "sharedlb-system", name: "sharedlb-default-1")
        event.type = "Warning"
        event.reason = "SyncLoadBalancerFailed"
        event.deprecatedLastTimestamp = "2026-11-27T03:51:40Z"
        let ensured = self.event("EnsuredLoadBalancer", "Normal", at: "2026-11-27T03:00:00.000000Z")
        #expect(
            LoadBalancerHealth.failures(events: [ensured, event], sharedServices: ["sharedlb-default-1"]).count == 1)
    }
}
