import Foundation
import SharedLBAllocation
import SharedLBController
import SharedLBCore
import SharedLBEnvtest
import SharedLBKubernetes
import Testing

@Suite("Self-healing against the API server, with a stand-in cloud")
struct FailoverEndToEndTests {
    static let failing = testConfiguration(identity: "allocator").with { $0.failoverAfter = .seconds(2) }

    func sharedService(_ cluster: Cluster, _ id: String) -> String? {
        cluster.annotation(id, SharedLBNames.sharedServiceAnnotation)
    }

    /// Waits until every member listed is reported on the shared LB named.
    func waitForHomes(_ cluster: Cluster, _ homes: [String: String]) async throws {
        let arrived = try await waitUntil(cluster.services) { snapshot in
            homes.allSatisfy {
                snapshot[$0.key]?.metadata.annotations?[SharedLBNames.sharedServiceAnnotation]
                    == "\(SharedLBNames.defaultNamespace)/\($0.value)"
            }
        }
        #expect(arrived, "\(homes.keys.sorted().map { "\($0): \(sharedService(cluster, $0) ?? "none")" })")
    }

    @Test(
        "an LB the cloud keeps failing: who it never served moves after --failover-after, with Moved; nobody moves back",
        arguments: Backend.all)
    func cloudFailover(backend: Backend) async throws {
        try await Cluster.run(on: backend, configuration: Self.failing) { cluster in
            let client = cluster.client
            let cloud = EventRecorder(client: client, controller: "service-controller", instance: "test-cloud")
            let first = ObjectReference(
                apiVersion: "v1", kind: "Service", namespace: SharedLBNames.defaultNamespace,
                name: "sharedlb-default-1")
            _ = try await client.create(loadBalancer("a", namespace: "team-a", ports: [(80, "TCP")]))
            try await waitForHomes(cluster, ["team-a/a": "sharedlb-default-1"])
            // The cloud built the LB for a (the stand-in cloud's EnsuredLoadBalancer); then b
            // joins and the cloud fails to add its listener.
            _ = try await client.create(loadBalancer("b", namespace: "team-a", ports: [(81, "TCP")]))
            try await waitForHomes(cluster, ["team-a/b": "sharedlb-default-1"])
            try await cloud.record(
                regarding: first, type: .warning, reason: "SyncLoadBalancerFailed", action: "EnsureLoadBalancer",
                note: "Error syncing load balancer: TooManyListeners")
            // The failure is reported at once; after two seconds b moves to a new LB, a stays.
            try await waitForHomes(cluster, ["team-a/a": "sharedlb-default-1", "team-a/b": "sharedlb-default-2"])
            let events = try await client.list(Event.self, namespace: "team-a")
            #expect(events.items.contains { $0.reason == "Moved" && $0.regarding?.name == "b" })
            #expect(!events.items.contains { $0.reason == "Moved" && $0.regarding?.name == "a" })
            let ledger = try await cluster.ledger()
            #expect(ledger["sharedlb-ledger-sharedlb-default-2"]?["allocations"]?.contains(" team-a/b/") == true)
            #expect(ledger["sharedlb-ledger-sharedlb-default-1"]?["allocations"]?.contains(" team-a/b/") == false)
            // While it fails, the LB takes no newcomer.
            _ = try await client.create(loadBalancer("c", namespace: "team-a", ports: [(82, "TCP")]))
            try await waitForHomes(cluster, ["team-a/c": "sharedlb-default-2"])
            let metrics = String(decoding: cluster.allocators[0].metrics.exposition(), as: UTF8.self)
            #expect(metrics.contains("sharedlb_allocator_failover_moves_total 1"))

            // The cloud recovers: nobody moves back, and the LB takes newcomers again.
            #expect(cluster.annotation("team-a/a", SharedLBNames.errorAnnotation)?.contains("TooManyListeners") == true)
            try await cloud.record(
                regarding: first, type: .normal, reason: "EnsuredLoadBalancer", action: "EnsureLoadBalancer",
                note: "Ensured load balancer")
            // Its members hear of it in the round that also tells the failover.
            let cleared = try await waitUntil(cluster.services) {
                $0["team-a/a"]?.metadata.annotations?[SharedLBNames.errorAnnotation] == nil
            }
            #expect(cleared)
            _ = try await client.create(loadBalancer("d", namespace: "team-a", ports: [(83, "TCP")]))
            try await waitForHomes(cluster, ["team-a/d": "sharedlb-default-1"])
            try await cluster.settle()
            #expect(sharedService(cluster, "team-a/b") == "\(SharedLBNames.defaultNamespace)/sharedlb-default-2")
            #expect(try await cluster.audit() == [])
        }
    }

    /// A policy that refuses the allocator's writes of one shared LB Service.
    static let refusedLBPolicy = """
        apiVersion: admissionregistration.k8s.io/v1
        kind: ValidatingAdmissionPolicy
        metadata: {name: sharedlb-test-refused-lb}
        spec:
          failurePolicy: Fail
          matchConstraints:
            resourceRules:
            - {apiGroups: [""], apiVersions: [v1], operations: [UPDATE], resources: [services]}
          matchConditions:
          - name: allocator
            expression: 'request.userInfo.username == "\(Cluster.allocatorUser)"'
          - name: first-lb
            expression: 'object.metadata.name == "sharedlb-default-1"'
          validations:
          - {expression: "false", message: this load balancer is frozen}
        ---
        apiVersion: admissionregistration.k8s.io/v1
        kind: ValidatingAdmissionPolicyBinding
        metadata: {name: sharedlb-test-refused-lb}
        spec:
          policyName: sharedlb-test-refused-lb
          validationActions: [Deny]
        """

    @Test(
        "an LB the API server keeps refusing: the members whose ports it never took move after --failover-after",
        arguments: KubeAssets.versions.filter { $0.minor >= 30 }.map(Backend.real))
    func refusedFailover(backend: Backend) async throws {
        try await Cluster.run(on: backend, configuration: Self.failing) { cluster in
            let plane = try #require(cluster.environment.plane)
            let client = cluster.client
            _ = try await client.create(loadBalancer("a", namespace: "team-a", ports: [(80, "TCP")]))
            try await waitForHomes(cluster, ["team-a/a": "sharedlb-default-1"])
            let applied = try await plane.kubectl(["apply", "-f", "-"], input: Self.refusedLBPolicy)
            #expect(applied.succeeded, "\(applied)")
            // The API server loads a policy in the background: probe as the allocator until it refuses.
            let probe = [
                "annotate", "--overwrite", "--as", Cluster.allocatorUser, "-n", SharedLBNames.defaultNamespace,
                "service", "sharedlb-default-1", "probe=1",
            ]
            let active = ContinuousClock.now + .seconds(30)
            var answer = try await plane.kubectl(probe)
            while !answer.standardError.contains("frozen"), ContinuousClock.now < active {
                try await Task.sleep(for: .milliseconds(200))
                answer = try await plane.kubectl(probe)
            }
            #expect(answer.standardError.contains("frozen"), "the policy never took effect: \(answer)")
            _ = try await client.create(loadBalancer("b", namespace: "team-a", ports: [(81, "TCP")]))
            // b cannot be put on the frozen LB; after two seconds it moves, a stays where it is served.
            try await waitForHomes(cluster, ["team-a/a": "sharedlb-default-1", "team-a/b": "sharedlb-default-2"])
            let events = try await client.list(Event.self, namespace: "team-a")
            #expect(!events.items.contains { $0.reason == "Moved" && $0.regarding?.name == "a" })
            let deleted = try await plane.kubectl([
                "delete", "validatingadmissionpolicybinding", "sharedlb-test-refused-lb",
            ])
            #expect(deleted.succeeded, "\(deleted)")
            try await cluster.settle()
            #expect(sharedService(cluster, "team-a/b") == "\(SharedLBNames.defaultNamespace)/sharedlb-default-2")
            #expect(try await cluster.audit() == [])
        }
    }
}
