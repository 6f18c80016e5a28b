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
            proxy.inject(.init(method: "GET", watch: true, count: 6, action: .cutWatch(after: .seconds(1))))
            proxy.inject(.init(method: "GET", watch: true, count: 4, action: .expireWatch))
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
}
