public import Foundation
public import Logging
import ServiceLifecycle
public import SharedLBAPIServer
import SharedLBCertificates
public import SharedLBCore
public import SharedLBKubernetes
public import SharedLBWebhook
public import UnixSignals

/// The in-repo API server calling the real webhook over TLS, as kube-apiserver would, and a
/// client for it: what `sharedlb-demo` and the end-to-end tests run on.
public struct LocalCluster: Sendable {
    public let client: KubernetesClient
    public let handler: APIHandler
    /// `https://127.0.0.1:PORT` of the API server, its CA and its bearer token.
    public let server: String
    public let caCertificatePEM: String
    public let token: String
    /// Where the webhook listens (`https://127.0.0.1:PORT/mutate`) and the `caBundle` that trusts it.
    public let webhookURL: String
    public let caBundle: String
    public let webhookMetrics: WebhookMetrics
    let apiServer: APIServer

    /// Registers the webhook with `sharedlb webhook-config`'s generator.
    public func register(
        url: String? = nil, failurePolicy: WebhookRegistration.FailurePolicy, name: String = "sharedlb-webhook",
        matchConditions: Bool = false
    ) throws {
        try store(
            WebhookRegistration(
                name: name, endpoint: .url(url ?? webhookURL), caBundle: caBundle, failurePolicy: failurePolicy,
                matchConditions: matchConditions))
    }

    private func store(_ registration: WebhookRegistration) throws {
        _ = try handler.store.create(
            .mutatingWebhookConfigurations,
            object: JSONParser.parse(Array(try JSONEncoder().encode(registration.manifest()))))
    }

    /// Registers the webhook as the manifests do (`clientConfig.service`
    /// `sharedlb-system/sharedlb-webhook:443`), with that Service and an EndpointSlice whose
    /// endpoint is the local webhook, as the EndpointSlice controller would write it.
    public func registerAsService(
        failurePolicy: WebhookRegistration.FailurePolicy, service: String = "sharedlb-webhook"
    ) async throws {
        let namespace = "sharedlb-system"
        if (try? handler.store.get(.namespaces, namespace: "", name: namespace)) == nil {
            _ = try await client.create(Namespace(metadata: ObjectMeta(name: namespace)))
        }
        _ = try await client.create(
            KubeService(
                metadata: ObjectMeta(name: service, namespace: namespace),
                spec: .init(
                    type: "ClusterIP", ports: [.init(name: "https", port: 443, targetPort: .string("https"))],
                    selector: ["app.kubernetes.io/component": "webhook"])))
        let webhookPort = URLComponents(string: webhookURL)?.port ?? 0
        _ = try await client.create(
            EndpointSlice(
                metadata: ObjectMeta(
                    name: "\(service)-local", namespace: namespace, labels: ["kubernetes.io/service-name": service]),
                addressType: "IPv4",
                endpoints: [
                    .init(addresses: ["127.0.0.1"], conditions: .init(ready: true, serving: true, terminating: false))
                ],
                ports: [.init(name: "https", protocol: "TCP", port: webhookPort)]))
        try store(
            WebhookRegistration(
                name: "sharedlb-webhook",
                endpoint: .service(namespace: namespace, name: service, port: 443, path: "/mutate"),
                caBundle: caBundle, failurePolicy: failurePolicy))
    }

    /// Restarts the API server as a kube-apiserver rollout would: every connection and watch is
    /// cut, state is kept, and it is back on the same address before this returns.
    public func restartAPIServer() async {
        await apiServer.restart()
    }

    /// Writes a kubeconfig (mode 0600) for this API server, its CA and token, so that kubectl or
    /// another `sharedlb` process can reach it.
    public func writeKubeconfig(to path: String) throws {
        let ca = Data(caCertificatePEM.utf8).base64EncodedString()
        let text = """
            apiVersion: v1
            kind: Config
            clusters:
            - name: sharedlb-local
              cluster: {server: "\(server)", certificate-authority-data: "\(ca)"}
            users:
            - name: sharedlb-local
              user: {token: "\(token)"}
            contexts:
            - name: sharedlb-local
              context: {cluster: sharedlb-local, user: sharedlb-local}
            current-context: sharedlb-local

            """
        try Data(text.utf8).write(to: URL(filePath: path), options: .atomic)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
    }

    /// Starts the webhook and the API server, runs `body`, and stops them. With signals, a
    /// SIGINT/SIGTERM stops the servers and cancels `body`.
    public static func run(
        gracefulShutdownSignals: [UnixSignal] = [], logger: Logger,
        _ body: @escaping @Sendable (LocalCluster) async throws -> Void
    ) async throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "sharedlb-local-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let local = try LocalWebhook(directory: directory, logger: logger)
        let webhook = local.server
        let store = ObjectStore()
        let admission = RegisteredWebhookAdmission(store: store)
        let token = UUID().uuidString
        let handler = APIHandler(store: store, token: token, admission: [admission])
        let apiServer = try APIServer(handler: handler, token: token, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: webhook.services + [try apiServer.makeService()],
                gracefulShutdownSignals: gracefulShutdownSignals, logger: logger))
        try await withThrowingTaskGroup(of: Bool.self) { tasks in
            // false: the servers stopped (a signal); true: `body` is done.
            tasks.addTask {
                try await group.run()
                return false
            }
            var ports = local.ports.makeAsyncIterator()
            guard let webhookPort = await ports.next() else { throw CancellationError() }
            let server = await apiServer.url
            let client = try KubernetesClient(
                configuration: ClientConfiguration(
                    server: server, certificateAuthorityPEM: apiServer.caCertificatePEM, credentials: .token(token)))
            let cluster = LocalCluster(
                client: client, handler: handler, server: server, caCertificatePEM: apiServer.caCertificatePEM,
                token: token, webhookURL: "https://127.0.0.1:\(webhookPort)/mutate", caBundle: local.caBundle,
                webhookMetrics: webhook.metrics, apiServer: apiServer)
            tasks.addTask {
                try await body(cluster)
                return true
            }
            var failure: (any Error)?
            do {
                if try await tasks.next() == true {
                    await group.triggerGracefulShutdown()
                } else {
                    tasks.cancelAll()
                }
                try await tasks.waitForAll()
            } catch {
                failure = error
                await group.triggerGracefulShutdown()
                tasks.cancelAll()
                try? await tasks.waitForAll()
            }
            try? await client.shutdown()
            await admission.shutdown()
            if let failure { throw failure }
        }
    }
}

/// The real webhook for 127.0.0.1 (any free port) with a serving certificate minted into
/// `directory`: run ``server``'s services in a ServiceGroup; ``ports`` yields the port once it listens.
public struct LocalWebhook: Sendable {
    public let server: WebhookServer
    /// The `caBundle` that trusts its certificate.
    public let caBundle: String
    public let ports: AsyncStream<Int>

    public init(directory: URL, logger: Logger) throws {
        // The in-cluster Service names as well as 127.0.0.1, as `sharedlb certs` issues them.
        let pki = try CertificateAuthority.generate().issue(ServingCertificateRequest())
        try pki.write(to: directory)
        let (ports, listened) = AsyncStream.makeStream(of: Int.self)
        server = WebhookServer(
            configuration: WebhookConfiguration(
                host: "127.0.0.1", port: 0, certificatePath: directory.appending(path: "tls.crt").path,
                keyPath: directory.appending(path: "tls.key").path),
            logger: logger, onListening: { _, port in listened.yield(port) })
        caBundle = pki.caBundle
        self.ports = ports
    }
}
