import Foundation
public import Logging
import ServiceLifecycle
import SharedLBAPIServer
import SharedLBAllocation
import SharedLBCertificates
import SharedLBController
public import SharedLBCore
import SharedLBKubernetes
import SharedLBWebhook
import Yams

/// `sharedlb-demo`: the whole system in one process, no cluster needed. The in-repo API
/// server (TLS, bearer token) calls the real webhook over TLS for every Service write; the
/// allocator, leader-elected, places the converted Services; a stand-in cloud gives each
/// shared LB an address. The example Services are created as any user would, and the
/// result is printed.
public struct Demo: Sendable {
    public var keep: Bool
    /// Where `--keep` writes the kubeconfig for kubectl.
    public var kubeconfigPath: String
    public var timeout: Duration
    let logger: Logger

    public init(keep: Bool, kubeconfigPath: String, timeout: Duration = .seconds(60), logger: Logger) {
        self.keep = keep
        self.kubeconfigPath = kubeconfigPath
        self.timeout = timeout
        self.logger = logger
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The example Services, parsed.
    public static func exampleServices() throws -> [KubeService] {
        try Yams.load_all(yaml: DemoExamples.services).map { document in
            let data = try JSONSerialization.data(withJSONObject: document)
            return try JSONDecoder().decode(KubeService.self, from: data)
        }
    }

    /// Runs the demo, handing the report (and, with `keep`, the kubectl hints) to `output`.
    public func run(print output: @escaping @Sendable (String) -> Void) async throws {
        try await LocalCluster.run(gracefulShutdownSignals: [.sigterm, .sigint], logger: logger) { cluster in
            try cluster.register(failurePolicy: .fail)
            try await scenario(cluster: cluster, print: output)
        }
    }

    func scenario(cluster: LocalCluster, print output: @escaping @Sendable (String) -> Void) async throws {
        let client = cluster.client
        let allocator = Allocator(
            client: client,
            configuration: AllocatorConfiguration(
                identity: "demo", leaderElection: LeaderElector.Configuration(identity: "demo")),
            logger: logger)
        let services = Informer(
            client: client, type: KubeService.self, namespace: nil, labelSelector: nil, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await allocator.run() }
            tasks.addTask { try await services.run() }
            tasks.addTask { await StandInCloud(client: client, firstHost: 10, logger: logger).run() }
            let examples = try Self.exampleServices()
            for namespace in Set(examples.compactMap(\.metadata.namespace)).sorted() {
                _ = try await client.create(Namespace(metadata: ObjectMeta(name: namespace)))
            }
            for service in examples { _ = try await client.create(service) }
            let ids = examples.map { "\($0.metadata.namespace ?? "")/\($0.metadata.name ?? "")" }
            let placed = try await services.wait(timeout: timeout) { snapshot in
                ids.allSatisfy {
                    snapshot[$0]?.metadata.annotations?[SharedLBNames.endpointAnnotation] != nil
                        || snapshot[$0]?.metadata.annotations?[SharedLBNames.errorAnnotation] != nil
                }
            }
            guard placed else { throw Failure(description: "not every Service was placed within \(timeout)") }
            output(try await report(client: client, services: services.snapshot(), ids: ids))
            if keep {
                try cluster.writeKubeconfig(to: kubeconfigPath)
                output(
                    """

                    Still running. Point kubectl at it:
                      export KUBECONFIG=\(kubeconfigPath)
                      kubectl get services -A
                      kubectl get configmap -n sharedlb-system -l sharedlb.io/role=ledger -o yaml
                    Ctrl-C stops it.

                    """)
                // Until SIGINT/SIGTERM stops the servers, which cancels this task.
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(200))
                }
            }
            tasks.cancelAll()
        }
    }

    /// The table: every example Service, its shared LB and external endpoint; then the ledger.
    func report(client: KubernetesClient, services: [String: KubeService], ids: [String]) async throws -> String {
        var rows = [["SERVICE", "TYPE", "SHARED LB", "EXTERNAL ENDPOINT"]]
        for id in ids {
            let service = services[id]
            let annotations = service?.metadata.annotations ?? [:]
            rows.append([
                id, service?.spec?.type ?? "?",
                annotations[SharedLBNames.sharedServiceAnnotation] ?? "-",
                annotations[SharedLBNames.endpointAnnotation]
                    ?? annotations[SharedLBNames.errorAnnotation].map { "error: \($0)" } ?? "-",
            ])
        }
        var text = "Ordinary LoadBalancer Services, as created (manifests/examples/demo-services.yaml):\n\n"
        text += TextTable.render(rows)
        let shared = services.values.filter {
            $0.metadata.labels?[SharedLBNames.roleLabel] == SharedLBNames.sharedLBRole
        }
        text += "\n\(ids.count) LoadBalancer Services now share \(shared.count) cloud load balancers:\n\n"
        var lbRows = [["SHARED LB", "ADDRESS", "PORTS"]]
        for service in shared.sorted(by: { ($0.metadata.name ?? "") < ($1.metadata.name ?? "") }) {
            lbRows.append([
                "\(service.metadata.namespace ?? "")/\(service.metadata.name ?? "")",
                service.status?.loadBalancer?.ingress?.compactMap { $0.ip ?? $0.hostname }.joined(separator: ",")
                    ?? "-",
                (service.spec?.ports ?? []).map { "\($0.port)/\($0.protocol ?? "TCP")" }.joined(separator: " "),
            ])
        }
        text += TextTable.render(lbRows)
        text += "\nThe ledger (ConfigMaps sharedlb-ledger-*, the source of truth):\n\n"
        let ledger = try await client.listAll(
            ConfigMap.self, namespace: SharedLBNames.defaultNamespace,
            labelSelector: "\(SharedLBNames.roleLabel)=\(SharedLBNames.ledgerRole)")
        for configMap in ledger.items.sorted(by: { ($0.metadata.name ?? "") < ($1.metadata.name ?? "") }) {
            text += "\(configMap.metadata.name ?? ""):\n"
            for line in (configMap.data?["allocations"] ?? "").split(separator: "\n") { text += "  \(line)\n" }
        }
        let violations = try await Auditor.load(
            client: client, namespace: SharedLBNames.defaultNamespace, mixedProtocol: false
        ).violations()
        text +=
            violations.isEmpty
            ? "\naudit: every invariant holds\n"
            : "\naudit: \(violations.map(\.description).joined(separator: "\n       "))\n"
        return text
    }
}
