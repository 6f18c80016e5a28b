import SharedLBAllocation
import SharedLBCore
import Testing

@Suite("Which work a change makes, and what a member is told")
struct WorkRoutingTests {
    static let controller = "sharedlb-system"

    func slice(
        _ namespace: String, _ name: String, service: String?, pods: [String] = [], mirroredFor uid: String? = nil
    ) -> EndpointSlice {
        var labels: [String: String] = [:]
        if let service { labels[Mirroring.serviceNameLabel] = service }
        if let uid {
            labels[Mirroring.managedByLabel] = Mirroring.managedBy
            labels[Mirroring.memberUIDLabel] = uid
        }
        return EndpointSlice(
            metadata: ObjectMeta(name: name, namespace: namespace, labels: labels), addressType: "IPv4",
            endpoints: pods.map {
                EndpointSlice.Endpoint(
                    addresses: ["10.0.0.1"], targetRef: ObjectReference(kind: "Pod", namespace: namespace, name: $0))
            })
    }

    func route(_ old: KubeService?, _ new: KubeService?) -> Work {
        WorkRouting.service(old, new, controllerNamespace: Self.controller, shaping: .standard)
    }

    @Test("a member's Service: plans again only when what placement reads changed; its results are always checked")
    func memberServices() {
        let web = memberService("team-a", "web", ports: [(80, "TCP")])
        let uid = web.metadata.uid!
        let created = route(nil, web)
        #expect(created == Work(placement: true, members: [uid], services: ["team-a/web"]))
        // The allocator's own result annotation (and the resourceVersion): no new plan.
        var reported = web
        reported.metadata.annotations?[SharedLBNames.endpointAnnotation] = "1.2.3.4:80/TCP"
        reported.metadata.resourceVersion = "7"
        #expect(route(web, reported) == Work(members: [uid], services: ["team-a/web"]))
        // A port, a shaping annotation: plan again.
        var moved = web
        moved.spec?.ports?[0].port = 81
        #expect(route(web, moved).placement)
        var shaped = web
        shaped.metadata.annotations?["service.beta.kubernetes.io/aws-load-balancer-internal"] = "true"
        #expect(route(web, shaped).placement)
        // An unrelated annotation shares as before.
        var unrelated = web
        unrelated.metadata.annotations?["linkerd.io/inject"] = "enabled"
        #expect(!route(web, unrelated).placement)
        // Unlabelled: plan again, and its results are cleared.
        var released = reported
        released.metadata.labels = [:]
        #expect(route(reported, released) == Work(placement: true, members: [uid], services: ["team-a/web"]))
        #expect(route(web, nil) == Work(placement: true, members: [uid], services: ["team-a/web"]))
    }

    @Test(
        "a Service that is none of SharedLB's business makes no work",
        arguments: [
            KubeService(metadata: ObjectMeta(name: "db", namespace: "team-a", annotations: ["a": "b"])),
            KubeService(
                metadata: ObjectMeta(name: "lb", namespace: "team-a"), spec: KubeService.Spec(type: "LoadBalancer")),
        ])
    func unrelatedServices(service: KubeService) {
        var changed = service
        changed.metadata.annotations = ["c": "d"]
        #expect(route(nil, service).isEmpty)
        #expect(route(service, changed).isEmpty)
        #expect(route(service, nil).isEmpty)
    }

    @Test(
        "in the controller namespace: the shared LB of that name is synced; a Service that comes or goes changes the names taken"
    )
    func controllerNamespace() {
        let shared = KubeService(
            metadata: ObjectMeta(
                name: "sharedlb-default-1", namespace: Self.controller,
                labels: [SharedLBNames.roleLabel: SharedLBNames.sharedLBRole]))
        var addressed = shared
        addressed.status = KubeService.Status(
            loadBalancer: KubeService.LoadBalancerStatus(ingress: [KubeService.Ingress(ip: "1.2.3.4")]))
        #expect(route(nil, shared) == Work(placement: true, sharedLBs: ["sharedlb-default-1"]))
        #expect(route(shared, addressed) == Work(sharedLBs: ["sharedlb-default-1"]))
        let foreign = KubeService(metadata: ObjectMeta(name: "sharedlb-default-2", namespace: Self.controller))
        // Someone else's Service of a shared LB's name: that LB's members are told.
        #expect(route(nil, foreign) == Work(placement: true, sharedLBs: ["sharedlb-default-2"]))
        #expect(route(foreign, foreign) == Work(sharedLBs: ["sharedlb-default-2"]))
    }

    @Test(
        "a slice is its member's: by service name in a member's namespace, by member uid when mirrored",
        arguments: [
            // (namespace, service label, mirrored for, expected members)
            ("team-a", "web", nil, ["uid-web"]),
            ("team-a", "db", nil, []),  // not a member
            ("bulk", "web", nil, []),  // another namespace's "web"
            (controller, "sharedlb-default-1", "uid-web", ["uid-web"]),
            ("team-a", nil, nil, []),  // no service label
        ] as [(String, String?, String?, [String])])
    func slices(namespace: String, service: String?, mirroredFor: String?, expected: [String]) {
        let uids = ["team-a/web": "uid-web"]
        let one = slice(namespace, "s", service: service, mirroredFor: mirroredFor)
        for (old, new) in [(nil, one), (one, nil), (one, one)] as [(EndpointSlice?, EndpointSlice?)] {
            let work = WorkRouting.slice(old, new, controllerNamespace: Self.controller) { uids[$0] }
            #expect(work == Work(members: Set(expected)))
        }
    }

    @Test("a Pod change is work only for the members whose slices point at it, and only when its summary changed")
    func pods() {
        let referencing = ["team-a/web-1": Set(["uid-web"])]
        func route(_ old: PodSummary?, _ new: PodSummary?) -> Work {
            WorkRouting.pod(old, new, membersReferencing: { referencing[$0] ?? [] })
        }
        let pod = PodSummary(name: "web-1", namespace: "team-a", uid: "p1", phase: "Running", ips: ["10.0.0.1"])
        var moved = pod
        moved.ips = ["10.0.0.2"]
        var relabelled = pod
        relabelled.resourceVersion = "9"  // a label or container status edit: the summary is the same
        let other = PodSummary(name: "batch-7", namespace: "team-a", uid: "p2", ips: ["10.0.0.9"])
        #expect(route(pod, moved) == Work(members: ["uid-web"]))
        #expect(route(nil, pod) == Work(members: ["uid-web"]))
        #expect(route(pod, nil) == Work(members: ["uid-web"]))
        #expect(route(pod, relabelled).isEmpty)
        #expect(route(nil, other).isEmpty)
    }

    @Test("slices are indexed by their Service, or as mirrored by their member")
    func sliceIndex() {
        #expect(
            WorkRouting.sliceIndex(
                slice("team-a", "web-abc", service: "web", pods: ["web-1", "web-2"]),
                controllerNamespace: Self.controller) == [WorkRouting.sourceIndex(service: "team-a/web")])
        #expect(
            WorkRouting.sliceIndex(
                slice(Self.controller, "m", service: "sharedlb-default-1", pods: ["web-1"], mirroredFor: "uid-web"),
                controllerNamespace: Self.controller) == [
                    WorkRouting.allMirroredIndex, WorkRouting.mirroredIndex(memberUID: "uid-web"),
                ])
    }

    @Test("an Event about a Service syncs that shared LB; other Events are nothing")
    func events() {
        let event = Event(
            metadata: ObjectMeta(name: "e", namespace: Self.controller), eventTime: "2026-12-04T00:00:00.000000Z",
            reportingController: "service-controller", reportingInstance: "", action: "EnsureLoadBalancer",
            reason: "EnsuredLoadBalancer",
            regarding: ObjectReference(
                kind: "Service", namespace: Self.controller, name: "sharedlb-default-1"),
            note: "", type: "Normal")
        #expect(WorkRouting.event(nil, event) == Work(sharedLBs: ["sharedlb-default-1"]))
        var aboutPod = event
        aboutPod.regarding?.kind = "Pod"
        #expect(WorkRouting.event(nil, aboutPod).isEmpty)
    }

    @Test("a new placement makes work only for what it changed")
    func placementChanges() {
        let web = member("team-a", "web", ports: [(80, "TCP")])
        let api = member("team-a", "api", ports: [(81, "TCP")])
        let configuration = PlacementConfiguration()
        let first = Planner.plan(members: [web, api], shards: [], reservedNames: [], configuration: configuration)
        let placed = PlacedMembers(placement: first, members: [web, api])
        #expect(PlacedMembers.changes(from: nil, to: placed) == .everything)
        // Planned again with nothing changed: nothing to do.
        let again = Planner.plan(
            members: [web, api], shards: Array(first.shards.values), reservedNames: [], configuration: configuration)
        #expect(PlacedMembers.changes(from: placed, to: PlacedMembers(placement: again, members: [web, api])).isEmpty)
        // A new member: its shared LB and itself; the member already there is left alone.
        let db = member("team-b", "db", ports: [(5432, "TCP")])
        let third = Planner.plan(
            members: [web, api, db], shards: Array(first.shards.values), reservedNames: [],
            configuration: configuration)
        let work = PlacedMembers.changes(from: placed, to: PlacedMembers(placement: third, members: [web, api, db]))
        #expect(work.members == [db.uid] && work.services == ["team-b/db"])
        #expect(work.sharedLBs == Set(third.shards.keys) && !work.placement && !work.everything)
        // A member gone: itself (its mirrored slices go) and its shared LB.
        let fourth = Planner.plan(
            members: [web], shards: Array(first.shards.values), reservedNames: [], configuration: configuration)
        let gone = PlacedMembers.changes(from: placed, to: PlacedMembers(placement: fourth, members: [web]))
        #expect(gone.members == [api.uid] && gone.sharedLBs == Set(first.shards.keys))
    }

    @Test(
        "a member's results follow its placement and its shared LBs",
        arguments: [
            // (address, placement failure, LB failure, endpoint, shared-service, error)
            ("1.2.3.4", nil, nil, "1.2.3.4:80/TCP", "sharedlb-system/lb-1", nil),
            (nil, nil, nil, nil, nil, nil),  // no address yet
            ("1.2.3.4", "port 81/TCP is taken", nil, "1.2.3.4:80/TCP", "sharedlb-system/lb-1", "port 81/TCP is taken"),
            ("1.2.3.4", nil, "quota", "1.2.3.4:80/TCP", "sharedlb-system/lb-1", "quota"),
        ] as [(String?, String?, String?, String?, String?, String?)])
    func results(
        address: String?, failure: String?, lbFailure: String?, endpoint: String?, shared: String?, error: String?
    ) {
        let web = member("team-a", "web", ports: [(80, "TCP")])
        let allocation = Allocation(slot: Slot(port: 80, protocol: .tcp), member: web, port: web.ports[0])
        let wanted = MemberResults.member(
            allocations: ["lb-1": [allocation]],
            ingress: address.map { ["lb-1": [KubeService.Ingress(ip: $0)]] } ?? [:], failure: failure,
            failedLBs: lbFailure.map { ["lb-1": $0] } ?? [:], namespace: Self.controller)
        #expect(wanted[SharedLBNames.endpointAnnotation] == .some(endpoint))
        #expect(wanted[SharedLBNames.sharedServiceAnnotation] == .some(shared))
        #expect(wanted[SharedLBNames.errorAnnotation] == .some(error))
    }

    @Test("only differing annotations are patched, and the Event says what changed")
    func patchesAndNotices() {
        let wanted: MemberResults.Annotations = [
            SharedLBNames.endpointAnnotation: "1.2.3.4:80/TCP", SharedLBNames.sharedServiceAnnotation: "ns/lb-1",
            SharedLBNames.errorAnnotation: nil,
        ]
        let reported = [
            SharedLBNames.endpointAnnotation: "1.2.3.4:80/TCP", SharedLBNames.sharedServiceAnnotation: "ns/lb-1",
        ]
        #expect(MemberResults.patch(wanted, current: reported) == nil)
        #expect(MemberResults.notice(wanted, current: reported, isMember: true, moves: nil) == nil)
        let patch = MemberResults.patch(wanted, current: [SharedLBNames.errorAnnotation: "old"])
        #expect(patch?[SharedLBNames.errorAnnotation] == .null)
        #expect(patch?[SharedLBNames.endpointAnnotation] == .string("1.2.3.4:80/TCP"))
        #expect(MemberResults.notice(wanted, current: [:], isMember: true, moves: nil)?.reason == "Allocated")
        #expect(MemberResults.notice(wanted, current: [:], isMember: true, moves: ["a -> b"])?.reason == "Moved")
        var failing = wanted
        failing[SharedLBNames.errorAnnotation] = "quota"
        #expect(MemberResults.notice(failing, current: [:], isMember: true, moves: nil)?.warning == true)
        #expect(
            MemberResults.notice(MemberResults.released, current: reported, isMember: false, moves: nil)?.reason
                == "Released")
        #expect(MemberResults.patch(MemberResults.released, current: reported)?.members.count == 2)
    }
}
