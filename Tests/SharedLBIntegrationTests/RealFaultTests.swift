import Foundation
import SharedLBAllocation
import SharedLBCore
import SharedLBEnvtest
import SharedLBKubernetes
import Testing

/// Faults of a real control plane: what a proxy injects (throttling, errors, latency, broken
/// and expired watches) and what a crash does (kube-apiserver and etcd killed and restarted).
@Suite("Allocator against a real API server that fails")
struct RealFaultTests {
    /// Creates member `index` (one port of `distinctPorts`, each shared by many) as a user keeps
    /// doing while the control plane fails: a create that meets an outage is tried again.
    static func create(_ cluster: Cluster, _ index: Int, distinctPorts: Int) async throws -> String {
        let namespace = index % 2 == 0 ? "team-a" : "team-b"
        let service = loadBalancer("svc-\(index)", namespace: namespace, ports: [(1000 + index % distinctPorts, "TCP")])
        let deadline = ContinuousClock.now + .seconds(60)
        var lastError: KubernetesError?
        while ContinuousClock.now < deadline {
            do {
                _ = try await cluster.client.create(service)
                return "\(namespace)/svc-\(index)"
            } catch {
                // AlreadyExists: the first attempt landed before the outage cut its answer.
                if error.kind == .alreadyExists { return "\(namespace)/svc-\(index)" }
                guard error.isRetryable || error.kind == .unauthorized else { throw error }
                lastError = error
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw lastError!
    }

    @Test(
        "429 with Retry-After, 500s, latency, cut and expired watches mid-burst: every member placed, no slot twice, audit clean",
        arguments: Backend.real)
    func injectedFaults(backend: Backend) async throws {
        try await Cluster.run(on: backend, faultProxy: true) { cluster in
            let proxy = try #require(cluster.proxy)
            proxy.inject(.init(method: "PATCH", path: "/configmaps", count: 3, action: .status(500)))
            proxy.inject(.init(method: "POST", path: "/configmaps", count: 1, action: .status(500)))
            proxy.inject(
                .init(method: "PATCH", path: "/services", count: 3, action: .status(429, retryAfterSeconds: 1)))
            proxy.inject(.init(method: "POST", path: "/services", count: 2, action: .status(500)))
            proxy.inject(.init(method: "GET", watch: false, count: 20, action: .delay(.milliseconds(300))))
            // Expired watches first: the informers meet them at once (each relists and watches
            // again), and cut ones after; a burst that converges fast must not end before both.
            proxy.inject(.init(method: "GET", watch: true, count: 4, action: .expireWatch))
            proxy.inject(.init(method: "GET", watch: true, count: 6, action: .cutWatch(after: .seconds(1))))
            var history = AllocationHistory()
            var ids: [String] = []
            for index in 0..<40 {
                ids.append(try await Self.create(cluster, index, distinctPorts: 8))
                if index % 10 == 9 { try history.check(try await cluster.ledger(), after: "\(index + 1) creates") }
            }
            try await cluster.waitForEndpoints(ids, timeout: .seconds(90))
            try await cluster.settle()
            try history.check(try await cluster.ledger(), after: "the burst")
            #expect(history.members.count == ids.count)
            #expect(try await cluster.audit() == [])
            // Every kind of fault was met.
            let applied = proxy.appliedFaults.joined(separator: "\n")
            for kind in ["status(500", "status(429", "delay(", "cutWatch(", "expireWatch"] {
                #expect(applied.contains(kind), "no \(kind) applied: \(applied)")
            }
        }
    }

    @Test(
        "kube-apiserver killed and restarted, then etcd killed and restarted, mid-burst: nothing lost, no slot twice, audit clean",
        arguments: Backend.real)
    func controlPlaneRestarts(backend: Backend) async throws {
        try await Cluster.run(on: backend) { cluster in
            let plane = try #require(cluster.environment.plane)
            var history = AllocationHistory()
            var ids: [String] = []
            for index in 0..<45 {
                if index == 15 {
                    try history.check(try await cluster.ledger(), after: "15 creates")
                    try await plane.restartAPIServer()
                }
                if index == 30 {
                    try history.check(try await cluster.ledger(), after: "30 creates")
                    try await plane.restartEtcd()
                }
                ids.append(try await Self.create(cluster, index, distinctPorts: 9))
            }
            try await cluster.waitForEndpoints(ids, timeout: .seconds(90))
            try await cluster.settle()
            try history.check(try await cluster.ledger(), after: "the burst")
            #expect(history.members.count == ids.count)
            #expect(try await cluster.audit() == [])
        }
    }

    /// A ValidatingAdmissionPolicy that refuses the allocator's writes of Services in the
    /// namespaces labelled `sharedlb-test/locked=true` (GA since v1.30).
    static let lockedNamespacePolicy = """
        apiVersion: admissionregistration.k8s.io/v1
        kind: ValidatingAdmissionPolicy
        metadata: {name: sharedlb-test-locked}
        spec:
          failurePolicy: Fail
          matchConstraints:
            resourceRules:
            - {apiGroups: [""], apiVersions: [v1], operations: [UPDATE], resources: [services]}
          matchConditions:
          - name: allocator
            expression: 'request.userInfo.username == "\(Cluster.allocatorUser)"'
          validations:
          - {expression: "false", message: the allocator may not write Services in this namespace}
        ---
        apiVersion: admissionregistration.k8s.io/v1
        kind: ValidatingAdmissionPolicyBinding
        metadata: {name: sharedlb-test-locked}
        spec:
          policyName: sharedlb-test-locked
          validationActions: [Deny]
          matchResources:
            namespaceSelector:
              matchLabels: {sharedlb-test/locked: "true"}
        """

    @Test(
        "one namespace whose writes a ValidatingAdmissionPolicy denies backs off alone: the others converge at full speed",
        arguments: KubeAssets.versions.filter { $0.minor >= 30 }.map(Backend.real))
    func failureIsolation(backend: Backend) async throws {
        try await Cluster.run(on: backend) { cluster in
            let plane = try #require(cluster.environment.plane)
            let client = cluster.client
            let applied = try await plane.kubectl(["apply", "-f", "-"], input: Self.lockedNamespacePolicy)
            #expect(applied.succeeded, "\(applied)")
            _ = try await client.create(
                Namespace(metadata: ObjectMeta(name: "locked", labels: ["sharedlb-test/locked": "true"])))
            // The API server loads a policy in the background: wait until it refuses the
            // allocator's identity (impersonated) before the member whose report it refuses.
            _ = try await client.create(
                KubeService(
                    metadata: ObjectMeta(name: "probe", namespace: "locked"),
                    spec: KubeService.Spec(type: "ClusterIP", ports: [KubeService.Port(port: 1)])))
            let active = ContinuousClock.now + .seconds(30)
            var probe = try await plane.kubectl([
                "annotate", "--overwrite", "--as", Cluster.allocatorUser, "-n", "locked", "service", "probe", "probe=1",
            ])
            while !probe.standardError.contains("may not write"), ContinuousClock.now < active {
                try await Task.sleep(for: .milliseconds(200))
                probe = try await plane.kubectl([
                    "annotate", "--overwrite", "--as", Cluster.allocatorUser, "-n", "locked", "service", "probe",
                    "probe=1",
                ])
            }
            #expect(probe.standardError.contains("may not write"), "the policy never took effect: \(probe)")
            _ = try await client.create(loadBalancer("held", namespace: "locked", ports: [(7000, "TCP")]))
            func refusals() throws -> Int {
                try plane.auditEvents().filter {
                    $0.username == Cluster.allocatorUser && $0.verb == "patch" && $0.code == 422
                        && $0.objectRef?.resource == "services" && $0.objectRef?.namespace == "locked"
                }.count
            }
            // The report to locked/held fails again and again (a single controller-wide backoff
            // would be at 3.2 s after the fourth failure, and double with each one after).
            let refused = ContinuousClock.now + .seconds(30)
            while try refusals() < 4, ContinuousClock.now < refused {
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(try refusals() >= 4, "the policy never refused the allocator")
            // Operators see it: refused writes by reason, and the object waiting out its backoff.
            @Sendable func exported(_ series: String) -> Double? {
                String(decoding: cluster.allocators[0].metrics.exposition(), as: UTF8.self).split(separator: "\n")
                    .first { $0.hasPrefix(series + " ") }.flatMap { Double($0.dropFirst(series.count + 1)) }
            }
            #expect(exported(#"sharedlb_allocator_api_write_failures_total{reason="invalid"}"#) ?? 0 >= 4)
            #expect(exported("sharedlb_allocator_backoff_objects") == 1)
            let before = try refusals()
            // Meanwhile each new member elsewhere is placed and told at once.
            var ids: [String] = []
            for index in 0..<8 {
                _ = try await client.create(
                    loadBalancer("svc-\(index)", namespace: "team-a", ports: [(8000 + index, "TCP")]))
                ids.append("team-a/svc-\(index)")
                try await cluster.waitForEndpoints(ids, timeout: .seconds(5))
            }
            // The held member is retried on its own schedule, with no other change to wake a pass.
            let retried = ContinuousClock.now + .seconds(20)
            while try refusals() <= before, ContinuousClock.now < retried {
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(try refusals() > before, "locked/held was never retried")
            #expect(cluster.annotation("locked/held", SharedLBNames.endpointAnnotation) == nil)
            // The policy lifted: the held member is told on its next retry.
            let deleted = try await plane.kubectl([
                "delete", "validatingadmissionpolicybinding", "sharedlb-test-locked",
            ])
            #expect(deleted.succeeded, "\(deleted)")
            try await cluster.waitForEndpoints(ids + ["locked/held"], timeout: .seconds(90))
            try await cluster.settle()
            #expect(exported("sharedlb_allocator_backoff_objects") == 0)
            #expect(try await cluster.audit() == [])
        }
    }
}
