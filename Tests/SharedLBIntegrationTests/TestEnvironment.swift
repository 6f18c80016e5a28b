import Foundation
import Logging
import ServiceLifecycle
import SharedLBAPIServer
import SharedLBCertificates
import SharedLBCore
import SharedLBDemo
import SharedLBEnvtest
import SharedLBKubernetes
import SharedLBWebhook
import Testing

/// Where an end-to-end test runs: the in-repo API server, or a real control plane of
/// `SHAREDLB_KUBE_ASSETS` (one test case per version found).
enum Backend: Sendable, CustomTestStringConvertible {
    case mock
    case real(KubeVersion)

    /// The mock, and every real version.
    static var all: [Backend] { [.mock] + real }
    /// Every real version (none when the tier is skipped).
    static var real: [Backend] { KubeAssets.versions.map { .real($0) } }
    /// The mock, and the real versions from `minor` on.
    static func all(from minor: Int) -> [Backend] {
        [.mock] + KubeAssets.versions.filter { $0.minor >= minor }.map { .real($0) }
    }

    var testDescription: String {
        switch self {
        case .mock: "mock"
        case .real(let version): version.name
        }
    }

    var isReal: Bool {
        if case .real = self { return true }
        return false
    }
}

/// The repository's root, for manifests/.
let repositoryRoot = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// An API server with the real webhook beside it, reachable over TLS: the in-repo one (which
/// also allows injected faults and reading its request log) or a real control plane.
struct TestEnvironment: Sendable {
    let backend: Backend
    /// An admin client.
    let client: KubernetesClient
    /// Where the webhook listens (`https://127.0.0.1:PORT/mutate`) and the `caBundle` that trusts it.
    let webhookURL: String
    let caBundle: String
    let webhookMetrics: WebhookMetrics
    /// The in-repo API server, on the mock backend.
    let local: LocalCluster?
    /// The real control plane, on a real backend.
    let plane: ControlPlane?

    /// The in-repo API server's handler (mock-only tests: faults, the request log, the store).
    var handler: APIHandler { local!.handler }

    /// Registers the webhook with `sharedlb webhook-config`'s generator, by URL.
    func register(
        url: String? = nil, failurePolicy: WebhookRegistration.FailurePolicy, name: String = "sharedlb-webhook",
        matchConditions: Bool = false
    ) async throws {
        _ = try await client.create(
            WebhookRegistration(
                name: name, endpoint: .url(url ?? webhookURL), caBundle: caBundle, failurePolicy: failurePolicy,
                matchConditions: matchConditions
            ).manifest())
    }

    /// Registers the fail-closed overlay's MutatingWebhookConfiguration (`failurePolicy: Fail` with
    /// `matchConditions`) pointed at `url`: on a real API server the overlay itself, rendered with
    /// `kubectl kustomize`; on the mock the generator it is made from (`make manifests-check`
    /// keeps the two equal).
    func registerFailClosedOverlay(url: String? = nil, name: String) async throws {
        guard let plane else {
            try await register(url: url, failurePolicy: .fail, name: name, matchConditions: true)
            return
        }
        let rendered = try await plane.kubectl(
            ["kustomize", repositoryRoot.appending(path: "manifests/overlays/fail-closed").path])
        try #require(rendered.succeeded, "\(rendered)")
        let document = try #require(
            rendered.standardOutput.components(separatedBy: "\n---\n").first {
                $0.contains("kind: MutatingWebhookConfiguration")
            })
        let json = try await plane.kubectl(["create", "--dry-run=client", "-o", "json", "-f", "-"], input: document)
        try #require(json.succeeded, "\(json)")
        var configuration = try JSONDecoder().decode(
            MutatingWebhookConfiguration.self, from: Data(json.standardOutput.utf8))
        configuration.metadata = ObjectMeta(name: name, labels: configuration.metadata.labels)
        for index in configuration.webhooks.indices {
            #expect(configuration.webhooks[index].failurePolicy == "Fail")
            #expect(configuration.webhooks[index].matchConditions?.isEmpty == false)
            configuration.webhooks[index].clientConfig = WebhookClientConfig(
                url: url ?? webhookURL, service: nil, caBundle: caBundle)
        }
        _ = try await client.create(configuration)
    }

    /// Waits until the API server acts on the webhook registrations as they now are: kube-apiserver
    /// loads them through its own informer, a moment after they are written, and nothing shows
    /// when but the answer to a create. Probes with throwaway LoadBalancer creates until they
    /// are refused (`refusing`) or admitted.
    func waitForRegistration(refusing: Bool, timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        var attempt = 0
        while true {
            attempt += 1
            let name = "registration-probe-\(attempt)"
            let probe: KubeService = loadBalancer(name, namespace: "default")
            var refused = false
            do {
                _ = try await client.create(probe)
                try await client.delete(KubeService.self, namespace: "default", name: name)
            } catch {
                guard error.code == 500 else { throw error }
                refused = true
            }
            if refused == refusing { return }
            if ContinuousClock.now >= deadline {
                Issue.record("the API server did not act on the webhook registrations within \(timeout)")
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    func unregister(_ name: String) async throws {
        try await client.delete(MutatingWebhookConfiguration.self, namespace: nil, name: name)
    }

    /// Writes an admin kubeconfig, so that kubectl or a `sharedlb` process can reach the API server.
    func writeKubeconfig(to path: String) throws {
        if let local {
            try local.writeKubeconfig(to: path)
        } else {
            try FileManager.default.copyItem(atPath: plane!.adminKubeconfig.path, toPath: path)
        }
    }

    /// Runs `body` with the webhook and an API server of `backend`, then stops them. `options`
    /// shape a real control plane (admission plugins, flags); the mock ignores them.
    static func run(
        on backend: Backend, options: ControlPlane.Options = .init(),
        _ body: @escaping @Sendable (TestEnvironment) async throws -> Void
    ) async throws {
        let logger = {
            var logger = Logger(label: "test.e2e")
            logger.logLevel = .warning
            return logger
        }()
        switch backend {
        case .mock:
            try await LocalCluster.run(logger: logger) { local in
                try await body(
                    TestEnvironment(
                        backend: backend, client: local.client, webhookURL: local.webhookURL, caBundle: local.caBundle,
                        webhookMetrics: local.webhookMetrics, local: local, plane: nil))
            }
        case .real(let version):
            try await ControlPlane.run(version, options: options) { plane in
                try await withLocalWebhook(logger: logger) { url, caBundle, metrics in
                    try await body(
                        TestEnvironment(
                            backend: backend, client: plane.client, webhookURL: url, caBundle: caBundle,
                            webhookMetrics: metrics, local: nil, plane: plane))
                }
            }
        }
    }
}

/// The real webhook on 127.0.0.1 (any free port) with a freshly minted serving certificate,
/// until `body` returns.
func withLocalWebhook(
    logger: Logger, _ body: @escaping @Sendable (_ url: String, _ caBundle: String, WebhookMetrics) async throws -> Void
) async throws {
    let directory = FileManager.default.temporaryDirectory.appending(path: "sharedlb-webhook-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    let webhook = try LocalWebhook(directory: directory, logger: logger)
    let group = ServiceGroup(configuration: .init(services: webhook.server.services, logger: logger))
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        var ports = webhook.ports.makeAsyncIterator()
        guard let port = await ports.next() else { throw CancellationError() }
        do {
            try await body("https://127.0.0.1:\(port)/mutate", webhook.caBundle, webhook.server.metrics)
        } catch {
            await group.triggerGracefulShutdown()
            throw error
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
    }
}
