import Foundation
import Logging
import SharedLBAPIServer
import SharedLBAllocation
import SharedLBController
import SharedLBCore
import SharedLBEnvtest
import SharedLBKubernetes
import Synchronization
import Testing

@Suite("Allocator: endpoints, races, leadership and faults")
struct AllocatorFaultTests {
    func endpoint(_ pod: Pod, address: String? = nil, ready: Bool = true) -> EndpointSlice.Endpoint {
        EndpointSlice.Endpoint(
            addresses: [address ?? pod.status!.podIP!],
            conditions: .init(ready: ready, serving: ready, terminating: false),
            targetRef: ObjectReference(
                kind: "Pod", namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid),
            nodeName: Cluster.nodeName, zone: Cluster.zone)
    }

    /// On the mock, the test writes the member's slice as kube-controller-manager would; on a
    /// real control plane its EndpointSlice controller does, from the Pods the selector matches.
    func publish(_ cluster: Cluster, _ endpoints: [EndpointSlice.Endpoint], existing: EndpointSlice?) async throws
        -> EndpointSlice?
    {
        guard !cluster.backend.isReal else { return nil }
        var slice =
            existing
            ?? EndpointSlice(
                metadata: ObjectMeta(
                    name: "web-abcde", namespace: "team-a",
                    labels: [
                        "kubernetes.io/service-name": "web",
                        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                    ]),
                ports: [EndpointSlice.Port(name: "tcp-8080", protocol: "TCP", port: 8080)])
        slice.endpoints = endpoints
        return existing == nil ? try await cluster.client.create(slice) : try await cluster.client.update(slice)
    }

    @Test(
        "endpoints are mirrored slice by slice, only for the member's own pods, and follow scaling and readiness",
        arguments: Backend.all)
    func mirroring(backend: Backend) async throws {
        try await Cluster.run(on: backend) { cluster in
            let client = cluster.client
            _ = try await client.create(loadBalancer("web", namespace: "team-a", ports: [(8080, "TCP")]))
            try await cluster.waitForEndpoints(["team-a/web"])
            let web1 = try await cluster.runningPod("team-a", "web-1", ip: "10.244.1.11", labels: ["app": "web"])
            let secret = try await cluster.runningPod("team-b", "secret-db", ip: "10.244.2.50", labels: ["app": "db"])
            var source = try await publish(cluster, [endpoint(web1)], existing: nil)
            // A slice anyone with EndpointSlice rights in team-a can write, claiming the member:
            // a pod of another namespace, and the member's pod name with someone else's address.
            _ = try await client.create(
                EndpointSlice(
                    metadata: ObjectMeta(
                        name: "web-forged", namespace: "team-a",
                        labels: [
                            "kubernetes.io/service-name": "web", "endpointslice.kubernetes.io/managed-by": "someone",
                        ]),
                    endpoints: [endpoint(secret), endpoint(web1, address: "10.244.2.50")],
                    ports: [EndpointSlice.Port(name: "tcp-8080", protocol: "TCP", port: 8080)]))
            let mirrors = Informer(
                client: client, type: EndpointSlice.self, namespace: SharedLBNames.defaultNamespace,
                labelSelector: "endpointslice.kubernetes.io/managed-by=allocator.sharedlb.io")
            /// Mirrored addresses and whether each is ready.
            @Sendable func mirrored(_ slices: [String: EndpointSlice]) -> [String: Bool] {
                var result: [String: Bool] = [:]
                for endpoint in slices.values.flatMap({ $0.endpoints ?? [] }) {
                    for address in endpoint.addresses { result[address] = endpoint.conditions?.ready ?? false }
                }
                return result
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try? await mirrors.run() }
                #expect(try await waitUntil(mirrors) { mirrored($0) == ["10.244.1.11": true] })
                let slices = mirrors.snapshot().values
                #expect(slices.allSatisfy { $0.metadata.labels?["kubernetes.io/service-name"] == "sharedlb-default-1" })
                #expect(slices.allSatisfy { $0.ports?.map(\.name) == ["tcp-8080"] })
                #expect(slices.allSatisfy { $0.metadata.ownerReferences?.map(\.name) == ["sharedlb-default-1"] })
                // The member scales: the mirror follows.
                let web2 = try await cluster.runningPod("team-a", "web-2", ip: "10.244.1.12", labels: ["app": "web"])
                source = try await publish(cluster, [endpoint(web1), endpoint(web2)], existing: source)
                #expect(
                    try await waitUntil(mirrors) { mirrored($0) == ["10.244.1.11": true, "10.244.1.12": true] })
                // A pod that is no longer Ready is mirrored as not ready.
                try await cluster.setPodReady("team-a", "web-2", ip: "10.244.1.12", ready: false)
                _ = try await publish(cluster, [endpoint(web1), endpoint(web2, ready: false)], existing: source)
                #expect(
                    try await waitUntil(mirrors) { mirrored($0) == ["10.244.1.11": true, "10.244.1.12": false] })
                group.cancelAll()
            }
            try await cluster.settle()
            #expect(try await cluster.audit() == [])
        }
    }

    @Test(
        "a hardened cluster (OwnerReferencesPermissionEnforcement): mirrored slices are written with the manifests' RBAC",
        arguments: Backend.real)
    func hardenedOwnerReferences(backend: Backend) async throws {
        let hardened = ControlPlane.Options(admissionPlugins: ["OwnerReferencesPermissionEnforcement"])
        try await Cluster.run(on: backend, planeOptions: hardened) { cluster in
            _ = try await cluster.client.create(loadBalancer("web", namespace: "team-a", ports: [(8080, "TCP")]))
            _ = try await cluster.runningPod("team-a", "web-1", ip: "10.244.1.11", labels: ["app": "web"])
            try await cluster.waitForEndpoints(["team-a/web"])
            let mirrors = Informer(
                client: cluster.client, type: EndpointSlice.self, namespace: SharedLBNames.defaultNamespace,
                labelSelector: "endpointslice.kubernetes.io/managed-by=allocator.sharedlb.io")
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try? await mirrors.run() }
                #expect(
                    try await waitUntil(mirrors) { slices in
                        slices.values.contains { $0.endpoints?.map(\.addresses) == [["10.244.1.11"]] }
                    })
                // Owned by the shared LB (garbage collection), without blocking its deletion.
                let owner = try #require(mirrors.snapshot().values.first?.metadata.ownerReferences?.first)
                #expect(owner.name == "sharedlb-default-1" && owner.blockOwnerDeletion != true)
                group.cancelAll()
            }
            try await cluster.settle()
            #expect(try await cluster.audit() == [])
        }
    }

    @Test("two allocators racing without leader election never give one slot to two members", arguments: Backend.all)
    func racing(backend: Backend) async throws {
        try await Cluster.run(on: backend, allocators: 2) { cluster in
            let client = cluster.client
            var ids: [String] = []
            for index in 0..<16 {
                let namespace = index % 2 == 0 ? "team-a" : "team-b"
                _ = try await client.create(
                    loadBalancer("svc-\(index)", namespace: namespace, ports: [(80 + index % 3, "TCP")]))
                ids.append("\(namespace)/svc-\(index)")
            }
            try await cluster.waitForEndpoints(ids, timeout: .seconds(30))
            try await cluster.settle(0)
            try await cluster.settle(1)
            #expect(try await cluster.audit() == [])
            // Three ports, sixteen members: each LB holds each port once.
            let ledger = try await cluster.ledger()
            #expect(ledger.count >= 6)
        }
    }

    @Test("leader election: only the leader writes; a standby takes over when the leader dies", arguments: Backend.all)
    func failover(backend: Backend) async throws {
        try await Cluster.run(
            on: backend, allocators: 2, configuration: testConfiguration(identity: "allocator", election: true)
        ) {
            cluster in
            let client = cluster.client
            _ = try await client.create(loadBalancer("one", namespace: "team-a", ports: [(80, "TCP")]))
            try await cluster.waitForEndpoints(["team-a/one"])
            let leader = try #require(cluster.allocators.firstIndex { $0.isLeader })
            let standby = 1 - leader
            #expect(!cluster.allocators[standby].isLeader)
            #expect(cluster.allocators[standby].passes == 0)
            cluster.kill(leader)
            let started = ContinuousClock.now
            _ = try await client.create(loadBalancer("two", namespace: "team-a", ports: [(81, "TCP")]))
            try await cluster.waitForEndpoints(["team-a/two"])
            // Lease 2 s: within a lease duration plus a pass or two.
            #expect(ContinuousClock.now - started < .seconds(6))
            #expect(cluster.allocators[standby].isLeader)
            let lease = try await client.get(
                Lease.self, namespace: SharedLBNames.defaultNamespace, name: "sharedlb-allocator")
            #expect(lease.spec?.holderIdentity == "allocator-\(standby)")
            #expect(lease.spec?.leaseTransitions == 1)
            #expect(
                cluster.annotation("team-a/one", SharedLBNames.sharedServiceAnnotation)
                    == "sharedlb-system/sharedlb-default-1")
            try await cluster.settle(standby)
            #expect(try await cluster.audit() == [])
        }
    }

    @Test("a replica that loses the Lease zeroes the gauges only the leader measures, and sets them again as leader")
    func deposedGauges() async throws {
        try await Cluster.run(on: .mock, configuration: testConfiguration(identity: "allocator", election: true)) {
            cluster in
            _ = try await cluster.client.create(loadBalancer("one", namespace: "team-a", ports: [(80, "TCP")]))
            try await cluster.waitForEndpoints(["team-a/one"])
            let allocator = cluster.allocators[0]
            /// The leader gauge, placed members and shared LBs, as exported.
            @Sendable func gauges() -> [Double] {
                let lines = String(decoding: allocator.metrics.exposition(), as: UTF8.self).split(separator: "\n")
                return [
                    "sharedlb_allocator_leader ", "sharedlb_allocator_members{state=\"placed\"} ",
                    "sharedlb_allocator_shared_lbs ",
                ].map { name in
                    lines.first { $0.hasPrefix(name) }.flatMap { Double($0.dropFirst(name.count)) } ?? -1
                }
            }
            /// Polls `gauges()` until it reads `want` (no event tells when the worker has looked).
            @Sendable func waitFor(_ want: [Double]) async throws -> Bool {
                try await withTimeout(.seconds(15)) {
                    while gauges() != want { try await Task.sleep(for: .milliseconds(50)) }
                    return true
                }
            }
            let leading: [Double] = [1, 1, 1]
            #expect(try await waitFor(leading))
            // The Lease cannot be renewed (nor taken): this replica steps down.
            cluster.handler.inject(
                .init(verb: "update", resource: "leases", count: 1000, status: .internalError("etcd timeout")))
            #expect(try await waitFor([0, 0, 0]))
            cluster.handler.clearFaults()
            #expect(try await waitFor(leading))
        }
    }

    @Test("a standby that never held the Lease releases nothing: it sends no request on shutdown")
    func standbyReleasesNothing() async throws {
        try await TestEnvironment.run(on: .mock) { environment in
            let standby = LeaderElector(
                client: environment.client, configuration: .init(identity: "standby"), logger: Logger(label: "elector"))
            // The next Lease read is refused: whoever sends it gets the 403.
            environment.handler.inject(
                .init(
                    verb: "get", resource: "leases", count: 1,
                    status: .forbidden("leases", "sharedlb-allocator", "off limits")))
            await standby.release()
            do {
                _ = try await environment.client.get(
                    Lease.self, namespace: SharedLBNames.defaultNamespace, name: "sharedlb-allocator")
                Issue.record("the Lease read was not refused")
            } catch let error as KubernetesError {
                #expect(error.kind == .forbidden, "release() sent a request: \(error)")
            }
        }
    }

    @Test("a leader that cannot renew stops being the leader within the renew deadline")
    func leaderLosesLease() async throws {
        try await TestEnvironment.run(on: .mock) { environment in
            _ = try await environment.client.create(
                Namespace(metadata: ObjectMeta(name: SharedLBNames.defaultNamespace)))
            let elector = LeaderElector(
                client: environment.client,
                configuration: .init(
                    identity: "solo", leaseDuration: .seconds(2), renewDeadline: .milliseconds(800),
                    retryPeriod: .milliseconds(100)),
                logger: Logger(label: "elector"))
            try await withTimeout(.seconds(20)) {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { try? await elector.run() }
                    var changes = elector.changes.makeAsyncIterator()
                    _ = await changes.next()
                    #expect(elector.isLeader)
                    environment.handler.inject(
                        .init(verb: "update", resource: "leases", count: 1000, status: .internalError("etcd timeout")))
                    let lost = ContinuousClock.now
                    _ = await changes.next()
                    #expect(!elector.isLeader)
                    // Stepped down before the lease ran out, when a standby may take it (the renew
                    // deadline is 0.8 s; the margin is for a loaded machine's scheduling).
                    #expect(ContinuousClock.now - lost < .seconds(2))
                    environment.handler.clearFaults()
                    _ = await changes.next()
                    #expect(elector.isLeader)
                    group.cancelAll()
                }
            }
        }
    }

    @Test("a replica whose Lease is forbidden says so at warning level, once a minute, instead of idling silently")
    func forbiddenLease() async throws {
        try await TestEnvironment.run(on: .mock) { environment in
            _ = try await environment.client.create(
                Namespace(metadata: ObjectMeta(name: SharedLBNames.defaultNamespace)))
            environment.handler.inject(
                .init(
                    verb: "get", resource: "leases", count: 1000,
                    status: APIStatus(code: 403, reason: "Forbidden", message: "leases is forbidden")))
            let records = LogRecords()
            let elector = LeaderElector(
                client: environment.client,
                configuration: .init(
                    identity: "solo", leaseDuration: .seconds(2), renewDeadline: .milliseconds(800),
                    retryPeriod: .milliseconds(50)),
                logger: Logger(label: "elector") { _ in RecordingLogHandler(records: records) })
            try await withTimeout(.seconds(20)) {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { try? await elector.run() }
                    // Ten attempts or more: one warning, the rest at debug.
                    while records.all.filter({ $0.level == .debug }).count < 9 {
                        try? await Task.sleep(for: .milliseconds(20))
                    }
                    group.cancelAll()
                }
            }
            let warnings = records.all.filter { $0.level == .warning }
            #expect(warnings.count == 1, "\(warnings)")
            #expect(warnings.first?.message.contains("cannot read or renew the leader Lease") == true)
            #expect(warnings.first?.metadata.contains("leases is forbidden") == true)
            #expect(!elector.isLeader)
        }
    }

    @Test(
        "409 storms, 429 with Retry-After, 500s, dropped watches and an API server restart mid-burst: the allocator converges"
    )
    func faults() async throws {
        try await Cluster.run { cluster in
            let client = cluster.client
            let handler = cluster.handler
            handler.inject(.init(verb: "patch", resource: "configmaps", count: 3, status: .conflict("configmaps", "x")))
            handler.inject(.init(verb: "create", resource: "configmaps", count: 1, status: .internalError("etcd")))
            handler.inject(
                .init(verb: "patch", resource: "services", count: 3, status: .tooManyRequests(retryAfterSeconds: 1)))
            handler.inject(.init(verb: "create", resource: "services", count: 2, status: .internalError("etcd")))
            var ids: [String] = []
            for index in 0..<12 {
                if index == 6 { handler.store.dropWatches() }
                if index == 9 { await cluster.environment.local!.restartAPIServer() }
                // The test's own creates meet the injected 500s too: a user would retry.
                let service = loadBalancer("svc-\(index)", namespace: "team-a", ports: [(1000 + index % 4, "TCP")])
                for attempt in 1...5 {
                    do {
                        _ = try await client.create(service)
                        break
                    } catch let error as KubernetesError where error.kind == .serverError && attempt < 5 {}
                }
                ids.append("team-a/svc-\(index)")
            }
            handler.store.dropWatches()
            try await cluster.waitForEndpoints(ids, timeout: .seconds(40))
            try await cluster.settle()
            #expect(try await cluster.audit() == [])
        }
    }

    @Test("a shared LB that cannot be created (node port range full) is reported to its members, then recovers")
    func sharedServiceFailure() async throws {
        try await Cluster.run { cluster in
            let client = cluster.client
            cluster.handler.inject(
                .init(
                    verb: "create", resource: "services", namespace: SharedLBNames.defaultNamespace, count: 1000,
                    status: .internalError("failed to allocate a nodePort: range is full")))
            _ = try await client.create(loadBalancer("web", namespace: "team-a", ports: [(80, "TCP")]))
            try await cluster.waitForEndpoints([], failing: ["team-a/web"])
            #expect(cluster.annotation("team-a/web", SharedLBNames.errorAnnotation)?.contains("range is full") == true)
            cluster.handler.clearFaults()
            try await cluster.waitForEndpoints(["team-a/web"])
            #expect(
                try await waitUntil(cluster.services) {
                    $0["team-a/web"]?.metadata.annotations?[SharedLBNames.errorAnnotation] == nil
                })
            try await cluster.settle()
            #expect(try await cluster.audit() == [])
        }
    }

    @Test("a namespace whose Services cannot be patched (a policy) never holds up the others")
    func isolation() async throws {
        try await Cluster.run { cluster in
            let client = cluster.client
            cluster.handler.inject(
                .init(
                    verb: "patch", resource: "services", namespace: "team-a", count: 1000,
                    status: APIStatus(code: 403, reason: "Forbidden", message: "denied by policy")))
            _ = try await client.create(loadBalancer("web", namespace: "team-a", ports: [(80, "TCP")]))
            _ = try await client.create(loadBalancer("web", namespace: "team-b", ports: [(81, "TCP")]))
            try await cluster.waitForEndpoints(["team-b/web"])
            #expect(cluster.annotation("team-a/web", SharedLBNames.endpointAnnotation) == nil)
            cluster.handler.clearFaults()
            try await cluster.waitForEndpoints(["team-a/web", "team-b/web"])
        }
    }

    @Test(
        "a ConfigMap that is not a shard but has a shard's name is never written; the LB takes another name",
        arguments: Backend.all)
    func foreignName(backend: Backend) async throws {
        try await Cluster.run(on: backend) { cluster in
            let client = cluster.client
            // (The allocator has created the namespace by now, or will: create it if not.)
            _ = try? await client.create(Namespace(metadata: ObjectMeta(name: SharedLBNames.defaultNamespace)))
            _ = try await client.create(
                ConfigMap(
                    metadata: ObjectMeta(
                        name: "sharedlb-ledger-sharedlb-default-1", namespace: SharedLBNames.defaultNamespace),
                    data: ["mine": "yes"]))
            _ = try await client.create(loadBalancer("web", namespace: "team-a", ports: [(80, "TCP")]))
            try await cluster.waitForEndpoints(["team-a/web"])
            #expect(
                cluster.annotation("team-a/web", SharedLBNames.sharedServiceAnnotation)
                    == "sharedlb-system/sharedlb-default-2")
            let foreign = try await client.get(
                ConfigMap.self, namespace: SharedLBNames.defaultNamespace, name: "sharedlb-ledger-sharedlb-default-1")
            #expect(foreign.data == ["mine": "yes"])
            try await cluster.settle()
            #expect(try await cluster.audit() == [])
        }
    }

    @Test(
        "a ledger shard edited into something unreadable is never written over, and audit names it",
        arguments: Backend.all)
    func unreadableShard(backend: Backend) async throws {
        try await Cluster.run(on: backend) { cluster in
            let client = cluster.client
            _ = try await client.create(loadBalancer("web", namespace: "team-a", ports: [(80, "TCP")]))
            try await cluster.waitForEndpoints(["team-a/web"])
            let broken = #"{"data":{"allocations":"80/TCP this is not a ledger line\n"}}"#
            let edited = try await client.patch(
                ConfigMap.self, namespace: SharedLBNames.defaultNamespace, name: "sharedlb-ledger-sharedlb-default-1",
                patch: .merge(try JSONParser.parse(Array(broken.utf8))))
            try await cluster.settle()
            let after = try await client.get(
                ConfigMap.self, namespace: SharedLBNames.defaultNamespace, name: "sharedlb-ledger-sharedlb-default-1")
            #expect(after.metadata.resourceVersion == edited.metadata.resourceVersion)
            #expect(after.data == edited.data)
            let codes = Set(try await cluster.audit().map(\.code))
            #expect(codes.contains("ledger-unreadable"))
            let metrics = String(decoding: cluster.allocators[0].metrics.exposition(), as: UTF8.self)
            #expect(metrics.contains("sharedlb_allocator_unreadable_ledger_shards 1"))
            // The shared LB it describes is neither deleted nor given to anyone else.
            _ = try await client.get(
                KubeService.self, namespace: SharedLBNames.defaultNamespace, name: "sharedlb-default-1")
        }
    }
}

/// Log lines kept for a test to read.
final class LogRecords: Sendable {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: String
    }

    private let records = Mutex<[Record]>([])
    var all: [Record] { records.withLock { $0 } }
    func append(_ record: Record) { records.withLock { $0.append(record) } }
}

/// A LogHandler that keeps every line (all levels) in ``LogRecords``.
struct RecordingLogHandler: LogHandler {
    let records: LogRecords
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        records.append(
            .init(
                level: event.level, message: "\(event.message)",
                metadata: merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")))
    }
}
