import Foundation
import Logging
import SharedLBAPIServer
import SharedLBAllocation
import SharedLBController
import SharedLBCore
import SharedLBDemo
import SharedLBEnvtest
import SharedLBKubernetes
import Testing

struct TimedOut: Error {}

/// Warnings and errors only: the allocators' and informers' log in tests.
let testLogger = {
    var logger = Logger(label: "test.allocator")
    logger.logLevel = .warning
    return logger
}()

/// Runs `body`, failing with ``TimedOut`` (and cancelling it) when it takes longer than `timeout`.
func withTimeout<T: Sendable>(_ timeout: Duration, _ body: @Sendable @escaping () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        let first = try await group.next()!
        group.cancelAll()
        guard let first else { throw TimedOut() }
        return first
    }
}

/// Waits until `condition` holds for the informer's store (see ``Informer/wait(timeout:until:)``).
func waitUntil<Object: KubernetesObject>(
    _ informer: Informer<Object>, timeout: Duration = .seconds(20),
    _ condition: @Sendable @escaping ([String: Object]) -> Bool
) async throws -> Bool {
    try await informer.wait(timeout: timeout, until: condition)
}

/// Allocators beside an environment, a cloud provider that gives each shared LB an address,
/// and an informer over every Service for the test to wait on.
///
/// On a real control plane the allocators run as the manifests' ServiceAccount, with only the
/// manifests' RBAC and a token from the TokenRequest API; the audit log must show no request of
/// theirs refused.
struct Cluster: Sendable {
    let environment: TestEnvironment
    let services: Informer<KubeService>
    let allocators: [Allocator]
    let kills: [AsyncStream<Void>.Continuation]
    /// The client the allocators use, and how it reaches the API server.
    let allocatorClient: KubernetesClient
    let allocatorAccess: ClientConfiguration
    /// The fault proxy between the allocators and a real API server, when the test asked for one.
    let proxy: FaultProxy?

    /// The allocators' user in a real API server's audit log.
    static let allocatorUser = "system:serviceaccount:\(SharedLBNames.defaultNamespace):sharedlb-allocator"

    var client: KubernetesClient { environment.client }
    var handler: APIHandler { environment.handler }
    var backend: Backend { environment.backend }

    /// Stops allocator `index` as if its process died (no clean-up, no Lease release).
    func kill(_ index: Int) { kills[index].yield() }
    /// Waits until every listed member carries an endpoint (or, with `failing`, an error).
    func waitForEndpoints(_ ids: [String], failing: [String] = [], timeout: Duration = .seconds(20)) async throws {
        let converged = try await waitUntil(services, timeout: timeout) { snapshot in
            ids.allSatisfy { snapshot[$0]?.metadata.annotations?[SharedLBNames.endpointAnnotation] != nil }
                && failing.allSatisfy { snapshot[$0]?.metadata.annotations?[SharedLBNames.errorAnnotation] != nil }
        }
        if !converged {
            let state = (ids + failing).map {
                "\($0): \(services.snapshot()[$0]?.metadata.annotations?.filter { $0.key.hasPrefix("sharedlb.io/") && $0.key != SharedLBNames.requestedAnnotation } ?? [:])"
            }
            Issue.record("members did not converge: \(state.joined(separator: "; "))")
        }
    }

    /// Waits for a full pass of allocator `index`, begun after this call, that wrote nothing:
    /// the cluster is then as the ledger says.
    func settle(_ index: Int = 0, timeout: Duration = .seconds(20)) async throws {
        let allocator = allocators[index]
        let start = allocator.passes
        let settled: Bool
        do {
            settled = try await withTimeout(timeout) {
                allocator.resync()
                for await _ in allocator.reconciled where allocator.passes > start {
                    if allocator.lastPassWasFull && allocator.lastPassWrites == 0 { return true }
                    // Its own writes queue nothing: look at everything again.
                    allocator.resync()
                }
                return false
            }
        } catch is TimedOut {
            settled = false
        }
        if !settled { Issue.record("allocator \(index) did not settle") }
    }

    func annotation(_ id: String, _ name: String) -> String? {
        services.snapshot()[id]?.metadata.annotations?[name]
    }

    /// The ledger ConfigMaps' data, by name.
    func ledger() async throws -> [String: [String: String]] {
        let list = try await client.listAll(
            ConfigMap.self, namespace: SharedLBNames.defaultNamespace, labelSelector: "sharedlb.io/role=ledger")
        return Dictionary(uniqueKeysWithValues: list.items.map { ($0.metadata.name!, $0.data ?? [:]) })
    }

    /// Every DESIGN.md invariant over the live state, once the allocators have settled.
    func audit(mixedProtocol: Bool = false) async throws -> [Violation] {
        try await Auditor.load(
            client: client, namespace: SharedLBNames.defaultNamespace, mixedProtocol: mixedProtocol
        ).violations()
    }

    /// Runs `count` allocators, each with `configuration` under its own identity, until `body`
    /// returns. With `faultProxy` (real control planes only) the allocators reach the API server
    /// through a ``FaultProxy`` the test injects faults into.
    static func run(
        on backend: Backend = .mock, allocators count: Int = 1, registerWebhook: Bool = true,
        configuration: AllocatorConfiguration = testConfiguration(identity: "allocator"), faultProxy: Bool = false,
        planeOptions: ControlPlane.Options = .init(),
        _ body: @Sendable @escaping (Cluster) async throws -> Void
    ) async throws {
        try await TestEnvironment.run(on: backend, options: planeOptions) { environment in
            if registerWebhook { try await environment.register(failurePolicy: .fail) }
            let access = try await allocatorAccess(environment)
            if faultProxy, let plane = environment.plane {
                try await FaultProxy.run(plane: plane, logger: testLogger) { proxy in
                    var proxied = access
                    proxied.server = proxy.url
                    try await runAllocators(
                        environment, access: proxied, proxy: proxy, count: count, configuration, body)
                }
            } else {
                try await runAllocators(environment, access: access, proxy: nil, count: count, configuration, body)
            }
            if let plane = environment.plane {
                let refused = try plane.auditEvents().filter {
                    $0.username == allocatorUser && $0.code == 403 && !plane.duringRestart($0)
                }
                #expect(refused.isEmpty, "the manifests' RBAC refused the allocator: \(refused)")
            }
        }
    }

    private static func runAllocators(
        _ environment: TestEnvironment, access: ClientConfiguration, proxy: FaultProxy?, count: Int,
        _ configuration: AllocatorConfiguration, _ body: @Sendable @escaping (Cluster) async throws -> Void
    ) async throws {
        let client = environment.client
        let allocatorClient = environment.local != nil ? client : try KubernetesClient(configuration: access)
        let allocators = (0..<count).map {
            Allocator(
                client: allocatorClient, configuration: configuration.named("allocator-\($0)"), logger: testLogger)
        }
        let streams = (0..<count).map { _ in AsyncStream.makeStream(of: Void.self) }
        let services = Informer(
            client: client, type: KubeService.self, namespace: nil, labelSelector: nil, logger: testLogger)
        let cluster = Cluster(
            environment: environment, services: services, allocators: allocators, kills: streams.map(\.1),
            allocatorClient: allocatorClient, allocatorAccess: access, proxy: proxy)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (allocator, stream) in zip(allocators, streams.map(\.0)) {
                group.addTask {
                    try await withThrowingTaskGroup(of: Void.self) { inner in
                        inner.addTask { try? await allocator.run() }
                        inner.addTask { for await _ in stream { return } }
                        _ = try await inner.next()
                        inner.cancelAll()
                    }
                }
            }
            group.addTask { try? await services.run() }
            group.addTask { await StandInCloud(client: client, logger: testLogger).run() }
            for namespace in ["team-a", "team-b"] {
                _ = try await client.create(Namespace(metadata: ObjectMeta(name: namespace)))
            }
            try await body(cluster)
            group.cancelAll()
        }
        if allocatorClient !== client { try await allocatorClient.shutdown() }
    }

    /// How the allocators reach the API server: as the test itself on the mock; on a real
    /// control plane as the manifests' ServiceAccount with the manifests' RBAC (applied with
    /// kubectl) and a TokenRequest token.
    static func allocatorAccess(_ environment: TestEnvironment) async throws -> ClientConfiguration {
        guard let plane = environment.plane else { return environment.client.configuration }
        for manifest in ["manifests/webhook/namespace.yaml", "manifests/allocator/rbac.yaml"] {
            let applied = try await plane.kubectl(["apply", "-f", repositoryRoot.appending(path: manifest).path])
            try #require(applied.succeeded, "kubectl apply -f \(manifest): \(applied)")
        }
        let token = try await plane.serviceAccountToken(
            namespace: SharedLBNames.defaultNamespace, name: "sharedlb-allocator")
        return ClientConfiguration(
            server: plane.server, certificateAuthorityPEM: plane.caCertificatePEM, credentials: .token(token))
    }

    /// Writes of the allocators after `marker` (from ``writeMarker()``): the in-repo server's
    /// request log, or the real API server's audit log. Namespace creation is left out.
    func allocatorWrites(after marker: Int) throws -> [String] {
        if let plane = environment.plane {
            return try plane.auditEvents().dropFirst(marker).filter {
                $0.username == Self.allocatorUser && $0.isWrite
            }.map(\.description)
        }
        return handler.requestLog.all.dropFirst(marker).filter { $0.isWrite && $0.resource != "namespaces" }.map {
            "\($0.verb) \($0.resource) \($0.namespace)/\($0.name)"
        }
    }

    /// Where the request or audit log stands now.
    func writeMarker() throws -> Int {
        if let plane = environment.plane { return try plane.auditEvents().count }
        return handler.requestLog.all.count
    }
}

extension AllocatorConfiguration {
    /// The same configuration for another instance.
    func named(_ identity: String) -> AllocatorConfiguration {
        var copy = self
        copy.identity = identity
        copy.leaderElection?.identity = identity
        return copy
    }

    func with(_ change: (inout AllocatorConfiguration) -> Void) -> AllocatorConfiguration {
        var copy = self
        change(&copy)
        return copy
    }
}

/// Fast timings for tests: short grace and resync.
func testConfiguration(identity: String, election: Bool = false) -> AllocatorConfiguration {
    AllocatorConfiguration(
        emptyGracePeriod: .seconds(600), resyncInterval: .seconds(30), identity: identity,
        leaderElection: election
            ? LeaderElector.Configuration(
                identity: identity, leaseDuration: .seconds(2), renewDeadline: .milliseconds(1500),
                retryPeriod: .milliseconds(200))
            : nil,
        watchTimeoutSeconds: 60)
}

func loadBalancer(
    _ name: String, namespace: String, ports: [(Int, String)], annotations: [String: String] = [:],
    sourceRanges: [String]? = nil
) -> KubeService {
    var service = KubeService(
        metadata: ObjectMeta(name: name, namespace: namespace, annotations: annotations.isEmpty ? nil : annotations),
        spec: .init(
            type: "LoadBalancer",
            ports: ports.map { KubeService.Port(name: "\($0.1.lowercased())-\($0.0)", protocol: $0.1, port: $0.0) },
            selector: ["app": name]))
    service.spec?.loadBalancerSourceRanges = sourceRanges
    return service
}

extension Cluster {
    /// `team-a/svc-0`, `team-b/svc-1`, …: the members ``burst(_:distinctPorts:nodePorts:)`` creates.
    static func burstIDs(_ count: Int) -> [String] {
        (0..<count).map { "\($0 % 2 == 0 ? "team-a" : "team-b")/svc-\($0)" }
    }

    /// Creates `count` LoadBalancer Services from 8 concurrent clients, one TCP port each from
    /// `distinctPorts` numbers (so every port is wanted by several members).
    func burst(_ count: Int, distinctPorts: Int, nodePorts: Bool = true) async throws {
        let client = self.client
        try await withThrowingTaskGroup(of: Void.self) { clients in
            for worker in 0..<8 {
                clients.addTask {
                    for index in stride(from: worker, to: count, by: 8) {
                        var service = loadBalancer(
                            "svc-\(index)", namespace: index % 2 == 0 ? "team-a" : "team-b",
                            ports: [(1000 + index % distinctPorts, "TCP")])
                        if !nodePorts { service.spec?.allocateLoadBalancerNodePorts = false }
                        _ = try await client.create(service)
                    }
                }
            }
            try await clients.waitForAll()
        }
    }

    /// A scratch directory holding a kubeconfig with the allocators' access (for `sharedlb`
    /// child processes), removed when `body` returns.
    func withKubeconfig<T>(_ body: (_ directory: URL, _ kubeconfig: String) async throws -> T) async throws -> T {
        // Owned by this process: if it crashes, the next test run kills the allocators it left.
        let directory = try ScratchDirectory.make(prefix: "sharedlb-allocators")
        defer { try? FileManager.default.removeItem(at: directory) }
        let kubeconfig = directory.appending(path: "kubeconfig").path
        if let plane = environment.plane {
            try plane.writeKubeconfig(
                to: URL(filePath: kubeconfig), credentials: allocatorAccess.credentials, server: allocatorAccess.server)
        } else {
            try environment.writeKubeconfig(to: kubeconfig)
        }
        return try await body(directory, kubeconfig)
    }
}
