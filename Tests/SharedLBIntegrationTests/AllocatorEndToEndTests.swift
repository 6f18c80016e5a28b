import Foundation
import SharedLBAPIServer
import SharedLBAllocation
import SharedLBController
import SharedLBCore
import SharedLBKubernetes
import Testing

@Suite("Allocator against the API server, with the real webhook registered")
struct AllocatorEndToEndTests {
    @Test(
        "ordinary LoadBalancer Services share LBs: conflicts spill, UDP splits, settings separate pools, results reported",
        arguments: Backend.all
    )
    func placesAndReports(backend: Backend) async throws {
        try await Cluster.run(on: backend) { cluster in
            let client = cluster.client
            _ = try await client.create(loadBalancer("db", namespace: "team-a", ports: [(5432, "TCP")]))
            _ = try await client.create(loadBalancer("web", namespace: "team-a", ports: [(80, "TCP"), (443, "TCP")]))
            _ = try await client.create(loadBalancer("web", namespace: "team-b", ports: [(80, "TCP")]))
            _ = try await client.create(loadBalancer("dns", namespace: "team-b", ports: [(53, "TCP"), (53, "UDP")]))
            _ = try await client.create(
                loadBalancer(
                    "admin", namespace: "team-b", ports: [(8443, "TCP")], sourceRanges: ["10.0.0.0/8"]))
            _ = try await client.create(
                loadBalancer(
                    "metrics", namespace: "team-a", ports: [(9090, "TCP")],
                    annotations: [SharedLBNames.poolAnnotation: "internal"]))
            let all = ["team-a/db", "team-a/web", "team-b/web", "team-b/dns", "team-b/admin", "team-a/metrics"]
            try await cluster.waitForEndpoints(all)

            #expect(cluster.annotation("team-a/db", SharedLBNames.endpointAnnotation) == "203.0.113.1:5432/TCP")
            #expect(
                cluster.annotation("team-a/db", SharedLBNames.sharedServiceAnnotation)
                    == "sharedlb-system/sharedlb-default-1")
            #expect(
                cluster.annotation("team-a/web", SharedLBNames.sharedServiceAnnotation)
                    == "sharedlb-system/sharedlb-default-1")
            // Port 80 is taken on the first LB: the second web spills to another one.
            let spilled = cluster.annotation("team-b/web", SharedLBNames.sharedServiceAnnotation)
            #expect(spilled != nil && spilled != "sharedlb-system/sharedlb-default-1")
            // TCP and UDP never share one LB by default: dns is split, and both halves are reported.
            // (Each half is reported once its LB has an address: wait for the second.)
            #expect(
                try await waitUntil(cluster.services) {
                    $0["team-b/dns"]?.metadata.annotations?[SharedLBNames.sharedServiceAnnotation]?
                        .split(separator: ",").count == 2
                })
            let dns = try #require(cluster.annotation("team-b/dns", SharedLBNames.endpointAnnotation))
            #expect(dns.contains(":53/TCP") && dns.contains(":53/UDP"))
            // Source ranges make a pool of their own, and the shared LB carries them.
            let admin = try #require(cluster.annotation("team-b/admin", SharedLBNames.sharedServiceAnnotation))
            let adminLB = try await client.get(
                KubeService.self, namespace: SharedLBNames.defaultNamespace,
                name: String(admin.split(separator: "/")[1]))
            #expect(adminLB.spec?.loadBalancerSourceRanges == ["10.0.0.0/8"])
            #expect(adminLB.spec?.type == "LoadBalancer")
            #expect(adminLB.spec?.selector == nil)

            // A pool annotation makes a pool of its own, named after it.
            #expect(
                cluster.annotation("team-a/metrics", SharedLBNames.sharedServiceAnnotation)
                    == "sharedlb-system/sharedlb-internal-1")
            let first = try await client.get(
                KubeService.self, namespace: SharedLBNames.defaultNamespace, name: "sharedlb-default-1")
            let names = Set(first.spec?.ports?.compactMap(\.name) ?? [])
            #expect(names.isSuperset(of: ["tcp-5432", "tcp-80", "tcp-443"]))
            #expect(first.metadata.labels?[SharedLBNames.roleLabel] == "shared-lb")
            let ledger = try await cluster.ledger()
            let lines = try #require(ledger["sharedlb-ledger-sharedlb-default-1"]?["allocations"])
            #expect(lines.contains("5432/TCP team-a/db/tcp-5432 "))
            #expect(ledger.values.allSatisfy { $0["schema"] == "sharedlb.io/ledger/v1" })
            // The users were told, with Events on their Services.
            let events = try await client.list(Event.self, namespace: "team-a")
            #expect(events.items.contains { $0.reason == "Allocated" && $0.regarding?.name == "db" })
            try await cluster.settle()
            #expect(try await cluster.audit() == [])
            let metrics = String(decoding: cluster.allocators[0].metrics.exposition(), as: UTF8.self)
            #expect(metrics.contains("sharedlb_allocator_allocations 8"))
            #expect(metrics.contains(#"sharedlb_allocator_members{state="placed"} 6"#))
            #expect(metrics.contains("sharedlb_allocator_leader 1"))
        }
    }

    @Test(
        "a restarted allocator rebuilds from the ledger and writes nothing: the ledger's bytes are identical",
        arguments: Backend.all)
    func restart(backend: Backend) async throws {
        try await Cluster.run(on: backend) { cluster in
            let client = cluster.client
            for (index, namespace) in ["team-a", "team-b"].enumerated() {
                _ = try await client.create(loadBalancer("db", namespace: namespace, ports: [(5432, "TCP")]))
                _ = try await client.create(
                    loadBalancer("web", namespace: namespace, ports: [(80 + index, "TCP"), (53, "UDP")]))
            }
            try await cluster.waitForEndpoints(["team-a/db", "team-b/db", "team-a/web", "team-b/web"])
            try await cluster.settle()
            let before = try await cluster.ledger()
            cluster.kill(0)
            let marker = try cluster.writeMarker()
            // A fresh allocator, same cluster.
            let fresh = Allocator(
                client: cluster.allocatorClient, configuration: testConfiguration(identity: "fresh"),
                logger: .init(label: "fresh"))
            await withTaskGroup(of: Void.self) { group in
                group.addTask { try? await fresh.run() }
                var passes = fresh.reconciled.makeAsyncIterator()
                _ = await passes.next()
                group.cancelAll()
            }
            #expect(try await cluster.ledger() == before)
            let writes = try cluster.allocatorWrites(after: marker)
            #expect(writes.isEmpty, "a restart wrote \(writes)")
            #expect(try await cluster.audit() == [])
        }
    }

    @Test(
        "changes that concern no member queue no work; a member's own edit is that member's work, without a new plan",
        arguments: Backend.all)
    func eventFilters(backend: Backend) async throws {
        try await Cluster.run(on: backend) { cluster in
            let client = cluster.client
            _ = try await client.create(loadBalancer("web", namespace: "team-a", ports: [(80, "TCP")]))
            try await cluster.waitForEndpoints(["team-a/web"])
            // The stand-in cloud's EnsuredLoadBalancer is the shared LB's news: seen before the count.
            let ensured = try await client.list(Event.self, namespace: SharedLBNames.defaultNamespace).items
            #expect(ensured.contains { $0.reason == "EnsuredLoadBalancer" })
            try await cluster.settle()
            let allocator = cluster.allocators[0]
            @Sendable func queued(_ kind: String) -> Double {
                let prefix = #"sharedlb_allocator_work_queued_total{kind="\#(kind)"} "#
                let exposition = String(decoding: allocator.metrics.exposition(), as: UTF8.self)
                return exposition.split(separator: "\n").first { $0.hasPrefix(prefix) }
                    .flatMap { Double($0.dropFirst(prefix.count)) } ?? 0
            }
            // Quiet first: nothing queued over a whole settle (the stand-in cloud's Event and
            // status are the shared LB's news, and may arrive after the first settle).
            var quiet = ["member", "service", "placement", "shared_lb"].map(queued)
            for _ in 0..<5 {
                try await cluster.settle()
                let now = ["member", "service", "placement", "shared_lb"].map(queued)
                if now == quiet { break }
                quiet = now
            }
            let before = quiet
            // Another team's Services in the member's namespace, edited and deleted: none of
            // SharedLB's business.
            for index in 0..<10 {
                _ = try await client.create(
                    KubeService(
                        metadata: ObjectMeta(name: "plain-\(index)", namespace: "team-a"),
                        spec: KubeService.Spec(type: "ClusterIP", ports: [KubeService.Port(port: 80)])))
                _ = try await client.patch(
                    KubeService.self, namespace: "team-a", name: "plain-\(index)",
                    patch: .merge(try JSONParser.parse(Array(#"{"metadata":{"annotations":{"team":"b"}}}"#.utf8))))
                try await client.delete(KubeService.self, namespace: "team-a", name: "plain-\(index)")
            }
            // The member's own edit of an annotation that shapes nothing, after them in the same
            // watch stream: once it is queued, every change before it has been seen.
            _ = try await client.patch(
                KubeService.self, namespace: "team-a", name: "web",
                patch: .merge(try JSONParser.parse(Array(#"{"metadata":{"annotations":{"team":"a"}}}"#.utf8))))
            let seen = try await withTimeout(.seconds(20)) {
                for await _ in allocator.reconciled where queued("member") > before[0] { return true }
                return false
            }
            #expect(seen)
            let after = ["member", "service", "placement", "shared_lb"].map(queued)
            #expect(after[0] - before[0] == 1, "member keys queued")
            #expect(after[1] - before[1] == 1, "service keys queued")
            #expect(after[2] == before[2], "placements queued")
            // Ten unrelated Services created, patched and deleted would queue dozens. On v1.24 one
            // shared LB key is sometimes queued in this window since the stand-in cloud reports
            // EnsuredLoadBalancer (2 of 4 runs; its source is not identified yet): at most one.
            #expect(after[3] - before[3] <= 1, "shared LB keys queued")
        }
    }

    @Test(
        "an unrelated annotation edit moves nothing; a load-balancer-shaping one moves the member, with a Moved Event",
        arguments: Backend.all)
    func annotationEdits(backend: Backend) async throws {
        try await Cluster.run(on: backend) { cluster in
            let client = cluster.client
            _ = try await client.create(loadBalancer("web", namespace: "team-a", ports: [(80, "TCP")]))
            _ = try await client.create(loadBalancer("db", namespace: "team-a", ports: [(5432, "TCP")]))
            try await cluster.waitForEndpoints(["team-a/web", "team-a/db"])
            func annotate(_ annotations: String) async throws {
                let patch = try JSONParser.parse(Array(#"{"metadata":{"annotations":\#(annotations)}}"#.utf8))
                _ = try await client.patch(KubeService.self, namespace: "team-a", name: "web", patch: .merge(patch))
            }
            let ledger = try await cluster.ledger()
            try await annotate(#"{"linkerd.io/inject":"enabled","team.example.com/owner":"blue"}"#)
            try await cluster.settle()
            #expect(try await cluster.ledger() == ledger)
            #expect(
                cluster.annotation("team-a/web", SharedLBNames.sharedServiceAnnotation)
                    == "sharedlb-system/sharedlb-default-1")
            try await annotate(#"{"service.beta.kubernetes.io/aws-load-balancer-scheme":"internal"}"#)
            #expect(
                try await waitUntil(cluster.services) {
                    $0["team-a/web"]?.metadata.annotations?[SharedLBNames.sharedServiceAnnotation]
                        == "sharedlb-system/sharedlb-default-2"
                })
            let moved = try await client.get(
                KubeService.self, namespace: SharedLBNames.defaultNamespace, name: "sharedlb-default-2")
            #expect(moved.metadata.annotations?["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internal")
            #expect(moved.metadata.annotations?["team.example.com/owner"] == nil)
            let events = try await client.list(Event.self, namespace: "team-a")
            #expect(events.items.contains { $0.reason == "Moved" && $0.regarding?.name == "web" })
            #expect(
                cluster.annotation("team-a/db", SharedLBNames.sharedServiceAnnotation)
                    == "sharedlb-system/sharedlb-default-1")
            try await cluster.settle()
            #expect(try await cluster.audit() == [])
        }
    }

    @Test(
        "port changes keep the LB and untouched ports; deletion and opt-out release and clear the results",
        arguments: Backend.all)
    func changesAndRelease(backend: Backend) async throws {
        try await Cluster.run(on: backend) { cluster in
            let client = cluster.client
            _ = try await client.create(loadBalancer("web", namespace: "team-a", ports: [(80, "TCP"), (443, "TCP")]))
            _ = try await client.create(loadBalancer("db", namespace: "team-a", ports: [(5432, "TCP")]))
            _ = try await client.create(loadBalancer("cache", namespace: "team-b", ports: [(6379, "TCP")]))
            try await cluster.waitForEndpoints(["team-a/web", "team-a/db", "team-b/cache"])
            // Replace 443 by 8443 (a labels-only edit would arrive as ClusterIP; this is a spec edit).
            let patch =
                #"{"spec":{"ports":[{"name":"tcp-80","port":80,"protocol":"TCP"},{"name":"tcp-8443","port":8443,"protocol":"TCP"}]}}"#
            _ = try await client.patch(
                KubeService.self, namespace: "team-a", name: "web",
                patch: .merge(try JSONParser.parse(Array(patch.utf8))))
            #expect(
                try await waitUntil(cluster.services) {
                    $0["team-a/web"]?.metadata.annotations?[SharedLBNames.endpointAnnotation]
                        == "203.0.113.1:80/TCP,203.0.113.1:8443/TCP"
                })
            var lines = try await cluster.ledger()["sharedlb-ledger-sharedlb-default-1"]?["allocations"] ?? ""
            #expect(!lines.contains("443/TCP team-a/web/tcp-443 "))
            #expect(lines.contains("80/TCP team-a/web/tcp-80 "))
            // Deleted: its slots are free again.
            try await client.delete(KubeService.self, namespace: "team-a", name: "db")
            // Opted out: result annotations go (the Service itself is the user's to change back).
            _ = try await client.patch(
                KubeService.self, namespace: "team-b", name: "cache",
                patch: .merge(
                    try JSONParser.parse(Array(#"{"metadata":{"annotations":{"sharedlb.io/dedicated":"true"}}}"#.utf8)))
            )
            #expect(
                try await waitUntil(cluster.services) {
                    $0["team-b/cache"]?.metadata.annotations?[SharedLBNames.endpointAnnotation] == nil
                        && $0["team-b/cache"]?.metadata.annotations?[SharedLBNames.sharedServiceAnnotation] == nil
                })
            lines = try await cluster.ledger()["sharedlb-ledger-sharedlb-default-1"]?["allocations"] ?? ""
            #expect(!lines.contains("team-a/db"))
            #expect(!lines.contains("team-b/cache"))
            let events = try await client.list(Event.self, namespace: "team-b")
            #expect(events.items.contains { $0.reason == "Released" && $0.regarding?.name == "cache" })
            try await cluster.settle()
            #expect(try await cluster.audit() == [])
        }
    }

    @Test(
        "remap: a member whose port is taken shares the LB on another port, and is told the real one",
        arguments: Backend.all)
    func remap(backend: Backend) async throws {
        try await Cluster.run(on: backend) { cluster in
            let client = cluster.client
            _ = try await client.create(loadBalancer("first", namespace: "team-a", ports: [(80, "TCP")]))
            try await cluster.waitForEndpoints(["team-a/first"])
            _ = try await client.create(
                loadBalancer(
                    "second", namespace: "team-b", ports: [(80, "TCP")],
                    annotations: [SharedLBNames.portPolicyAnnotation: "remap"]))
            try await cluster.waitForEndpoints(["team-a/first", "team-b/second"])
            #expect(cluster.annotation("team-b/second", SharedLBNames.endpointAnnotation) == "203.0.113.1:20000/TCP")
            #expect(
                cluster.annotation("team-b/second", SharedLBNames.sharedServiceAnnotation)
                    == "sharedlb-system/sharedlb-default-1")
            try await cluster.settle()
            #expect(try await cluster.audit() == [])
        }
    }

    @Test("an emptied shared LB is deleted after the grace period, its shard with it", arguments: Backend.all)
    func emptiedLBCollected(backend: Backend) async throws {
        let configuration = testConfiguration(identity: "allocator").with { $0.emptyGracePeriod = .milliseconds(300) }
        try await Cluster.run(on: backend, configuration: configuration) { cluster in
            let client = cluster.client
            _ = try await client.create(loadBalancer("web", namespace: "team-a", ports: [(80, "TCP")]))
            try await cluster.waitForEndpoints(["team-a/web"])
            try await client.delete(KubeService.self, namespace: "team-a", name: "web")
            #expect(
                try await waitUntil(cluster.services) {
                    $0["sharedlb-system/sharedlb-default-1"] == nil
                })
            try await cluster.settle()
            #expect(try await cluster.ledger().isEmpty)
            #expect(try await cluster.audit() == [])
        }
    }

    @Test(
        "capacity: a member that does not fit gets sharedlb.io/error and a Warning, and is placed when room appears",
        arguments: Backend.all)
    func capacityAndRetry(backend: Backend) async throws {
        let configuration = testConfiguration(identity: "allocator").with {
            $0.placement = PlacementConfiguration(maximumPortsPerLB: 2, maximumLBsPerPool: 1)
        }
        try await Cluster.run(on: backend, configuration: configuration) { cluster in
            let client = cluster.client
            _ = try await client.create(loadBalancer("a", namespace: "team-a", ports: [(1000, "TCP"), (1001, "TCP")]))
            try await cluster.waitForEndpoints(["team-a/a"])
            _ = try await client.create(loadBalancer("b", namespace: "team-a", ports: [(2000, "TCP")]))
            try await cluster.waitForEndpoints([], failing: ["team-a/b"])
            #expect(
                cluster.annotation("team-a/b", SharedLBNames.errorAnnotation)?.contains("no room for 2000/TCP") == true)
            let events = try await client.list(Event.self, namespace: "team-a")
            #expect(events.items.contains { $0.reason == "AllocationFailed" && $0.type == "Warning" })
            try await client.delete(KubeService.self, namespace: "team-a", name: "a")
            try await cluster.waitForEndpoints(["team-a/b"])
            #expect(cluster.annotation("team-a/b", SharedLBNames.errorAnnotation) == nil)
            try await cluster.settle()
            #expect(try await cluster.audit() == [])
        }
    }
}

@Suite("sharedlb restore against the API server, with the webhook still registered")
struct RestoreEndToEndTests {
    @Test(
        "every member becomes the LoadBalancer it asked for, source ranges included, and the webhook leaves it alone",
        arguments: Backend.all)
    func restore(backend: Backend) async throws {
        try await Cluster.run(on: backend) { cluster in
            let client = cluster.client
            _ = try await client.create(
                loadBalancer("db", namespace: "team-a", ports: [(5432, "TCP")], sourceRanges: ["10.0.0.0/8"]))
            try await cluster.waitForEndpoints(["team-a/db"])
            cluster.kill(0)
            let dry = try await Restore.all(client: client, dryRun: true)
            #expect(dry.map(\.id) == ["team-a/db"])
            #expect(try await client.get(KubeService.self, namespace: "team-a", name: "db").spec?.type == "ClusterIP")
            let outcomes = try await Restore.all(client: client, dryRun: false)
            #expect(outcomes.allSatisfy { $0.error == nil })
            let restored = try await client.get(KubeService.self, namespace: "team-a", name: "db")
            #expect(restored.spec?.type == "LoadBalancer")
            #expect(restored.spec?.loadBalancerSourceRanges == ["10.0.0.0/8"])
            #expect(restored.spec?.externalTrafficPolicy == "Cluster")
            #expect(restored.spec?.ports?.first?.nodePort != nil)
            #expect(restored.metadata.labels?[SharedLBNames.managedLabel] == nil)
            #expect(restored.metadata.annotations?[SharedLBNames.requestedAnnotation] == nil)
            #expect(restored.metadata.annotations?[SharedLBNames.endpointAnnotation] == nil)
            #expect(restored.metadata.annotations?[SharedLBNames.dedicatedAnnotation] == "true")
        }
    }
}

/// A core/v1 Event as a cloud provider's service controller records it (client-go's
/// `record.EventRecorder`, fixture 13m's shape): the allocator reads it through events.k8s.io/v1.
struct CoreEvent: KubernetesObject {
    static let descriptor = ResourceDescriptor(
        group: "", version: "v1", plural: "events", kind: "Event", namespaced: true)
    var apiVersion: String? = "v1"
    var kind: String? = "Event"
    var metadata: ObjectMeta
    var involvedObject: ObjectReference
    var reason: String
    var message: String
    var source = ["component": "service-controller"]
    var firstTimestamp: String
    var lastTimestamp: String
    var count = 1
    var type: String

    init(regarding: ObjectReference, type: String, reason: String, message: String, at time: Date) {
        let stamp = ISO8601DateFormatter().string(from: time)
        metadata = ObjectMeta(
            name: "\(regarding.name ?? "").\(String(UInt64(time.timeIntervalSince1970 * 1e9), radix: 16))",
            namespace: regarding.namespace)
        involvedObject = regarding
        self.type = type
        self.reason = reason
        self.message = message
        firstTimestamp = stamp
        lastTimestamp = stamp
    }
}

@Suite("Allocator: the cloud's verdict on a shared LB")
struct CloudFailureTests {
    @Test(
        "a SyncLoadBalancerFailed Event (core/v1, as the service controller records it) is reported to the members; a later success clears it",
        arguments: Backend.all
    )
    func cloudFailure(backend: Backend) async throws {
        try await Cluster.run(on: backend) { cluster in
            let client = cluster.client
            _ = try await client.create(loadBalancer("web", namespace: "team-a", ports: [(80, "TCP")]))
            try await cluster.waitForEndpoints(["team-a/web"])
            let reference = ObjectReference(
                apiVersion: "v1", kind: "Service", namespace: SharedLBNames.defaultNamespace, name: "sharedlb-default-1"
            )
            // core/v1 Event times are whole seconds: the failure a second on, so that it is later
            // than the stand-in cloud's EnsuredLoadBalancer (microseconds, before `now`), and the
            // success 2 s after it.
            let now = Date().addingTimeInterval(1)
            _ = try await client.create(
                CoreEvent(
                    regarding: reference, type: "Warning", reason: "SyncLoadBalancerFailed",
                    message: "Error syncing load balancer: TooManyLoadBalancers: quota exceeded", at: now))
            try await cluster.waitForEndpoints(["team-a/web"], failing: ["team-a/web"])
            #expect(cluster.annotation("team-a/web", SharedLBNames.errorAnnotation)?.contains("quota exceeded") == true)
            _ = try await client.create(
                CoreEvent(
                    regarding: reference, type: "Normal", reason: "EnsuredLoadBalancer",
                    message: "Ensured load balancer", at: now.addingTimeInterval(2)))
            #expect(
                try await waitUntil(cluster.services) {
                    $0["team-a/web"]?.metadata.annotations?[SharedLBNames.errorAnnotation] == nil
                })
        }
    }
}
