import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOSSL
public import SharedLBKubernetes
import Synchronization

/// A real Kubernetes control plane for a test, in the spirit of controller-runtime's envtest:
/// etcd, kube-apiserver and (by default) kube-controller-manager from ``KubeAssets``, on free
/// ports of 127.0.0.1, with certificates minted for this run, an admin kubeconfig and an audit
/// log. ``run(_:options:_:)`` stops every process and removes every file it made, also when the
/// body throws.
///
/// ```swift
/// for version in KubeAssets.versions {
///     try await ControlPlane.run(version) { plane in
///         let namespaces = try await plane.client.list(Namespace.self, namespace: nil)
///     }
/// }
/// ```
public final class ControlPlane: Sendable {
    /// What to start, beyond etcd and kube-apiserver.
    public struct Options: Sendable {
        /// kube-controller-manager: EndpointSlices, ServiceAccounts, garbage collection,
        /// namespace deletion. Without it a start takes about a second.
        public var controllerManager: Bool
        /// Admission plugins enabled beside the default set, e.g. `OwnerReferencesPermissionEnforcement`.
        public var admissionPlugins: [String]
        /// Further kube-apiserver flags, e.g. `--feature-gates=...`.
        public var apiServerArguments: [String]

        public init(controllerManager: Bool = true, admissionPlugins: [String] = [], apiServerArguments: [String] = [])
        {
            self.controllerManager = controllerManager
            self.admissionPlugins = admissionPlugins
            self.apiServerArguments = apiServerArguments
        }
    }

    public let version: KubeVersion
    public let options: Options
    /// Where its certificates, data, logs and kubeconfigs live (removed at the end).
    public let directory: URL
    /// `https://127.0.0.1:PORT`
    public let server: String
    public let caCertificatePEM: String
    /// A `system:masters` client.
    public let client: KubernetesClient
    /// A kubeconfig for `system:masters` (for kubectl and child processes).
    public let adminKubeconfig: URL
    /// The audit log: every request at Metadata level.
    public let auditLogFile: URL

    let pki: ControlPlanePKI
    let ports: Ports
    let http: HTTPClient
    let insecureHTTP: HTTPClient
    private let processes: Mutex<Processes>

    struct Ports {
        var etcdClient: Int
        var etcdPeer: Int
        var apiServer: Int
        var controllerManager: Int
    }

    struct Processes {
        var etcd: ChildProcess?
        var apiServer: ChildProcess?
        var controllerManager: ChildProcess?
        /// From each kill to a second after the API server answered ready again.
        var restarts: [ClosedRange<Date>] = []
    }

    /// How many control planes may run at once in this test process (`SHAREDLB_KUBE_PARALLEL`, default 2):
    /// each API server holds ~300 MB and a share of the CPUs.
    static let slots = AsyncSemaphore(
        max(Int(ProcessInfo.processInfo.environment["SHAREDLB_KUBE_PARALLEL"] ?? "") ?? 2, 1))

    /// Starts a control plane of `version`, runs `body` with it, and stops and removes it.
    public static func run<T: Sendable>(
        _ version: KubeVersion, options: Options = Options(),
        _ body: @Sendable (ControlPlane) async throws -> T
    ) async throws -> T {
        await slots.acquire()
        let plane: ControlPlane
        do {
            plane = try await start(version, options: options)
        } catch {
            await slots.release()
            throw error
        }
        let result: Result<T, any Error>
        do {
            result = .success(try await body(plane))
        } catch {
            result = .failure(error)
        }
        await plane.stop()
        await slots.release()
        return try result.get()
    }

    static func start(_ version: KubeVersion, options: Options) async throws -> ControlPlane {
        var lastError: (any Error)?
        // A port taken between choosing and binding it: start again with new ports.
        for _ in 0..<3 {
            let plane = try ControlPlane(version: version, options: options)
            do {
                try await plane.boot()
                return plane
            } catch {
                lastError = error
                await plane.stop()
            }
        }
        throw lastError!
    }

    private init(version: KubeVersion, options: Options) throws {
        self.version = version
        self.options = options
        directory = try ScratchDirectory.make(prefix: "sharedlb-envtest-\(version.name)")
        let chosen = try LocalPorts.free(4)
        ports = Ports(etcdClient: chosen[0], etcdPeer: chosen[1], apiServer: chosen[2], controllerManager: chosen[3])
        pki = try ControlPlanePKI.generate()
        caCertificatePEM = pki.caCertificatePEM
        server = "https://127.0.0.1:\(ports.apiServer)"
        auditLogFile = directory.appending(path: "audit.log")
        adminKubeconfig = directory.appending(path: "admin.kubeconfig")
        let admin = try pki.client(user: "envtest-admin", group: "system:masters")
        let adminConfiguration = ClientConfiguration(
            server: server, certificateAuthorityPEM: caCertificatePEM,
            credentials: .clientCertificate(certificatePEM: admin.certificatePEM, keyPEM: admin.keyPEM))
        client = try KubernetesClient(configuration: adminConfiguration)
        var httpConfiguration = HTTPClient.Configuration(tlsConfiguration: try adminConfiguration.tlsConfiguration())
        httpConfiguration.timeout.connect = .seconds(2)
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
        var insecure = TLSConfiguration.makeClientConfiguration()
        insecure.certificateVerification = .none
        httpConfiguration.tlsConfiguration = insecure
        insecureHTTP = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
        processes = Mutex(Processes())
        try writeFiles(admin: admin)
    }

    func path(_ name: String) -> String { directory.appending(path: name).path }

    private func writeFiles(admin: ControlPlanePKI.Pair) throws {
        let files = [
            "ca.crt": pki.caCertificatePEM,
            "apiserver.crt": pki.serving.certificatePEM, "apiserver.key": pki.serving.keyPEM,
            "front-proxy-ca.crt": pki.frontProxyCACertificatePEM,
            "front-proxy-client.crt": pki.frontProxyClient.certificatePEM,
            "front-proxy-client.key": pki.frontProxyClient.keyPEM,
            "sa.key": pki.serviceAccountKeyPEM, "sa.pub": pki.serviceAccountPublicKeyPEM,
            "audit-policy.yaml": AuditEvent.policy,
        ]
        for (name, text) in files { try Data(text.utf8).write(to: directory.appending(path: name)) }
        try writeKubeconfig(
            to: adminKubeconfig,
            credentials: .clientCertificate(certificatePEM: admin.certificatePEM, keyPEM: admin.keyPEM))
        let manager = try pki.client(user: "system:kube-controller-manager")
        try writeKubeconfig(
            to: directory.appending(path: "controller-manager.kubeconfig"),
            credentials: .clientCertificate(certificatePEM: manager.certificatePEM, keyPEM: manager.keyPEM))
    }

    // MARK: Processes

    private func boot() async throws {
        try startEtcd()
        try await waitForEtcd()
        try startAPIServer()
        try await waitForAPIServer()
        if options.controllerManager { try await startControllerManager() }
    }

    private func startEtcd() throws {
        let process = try ChildProcess(
            executable: version.etcd,
            arguments: [
                "--data-dir", path("etcd"), "--name", "default",
                "--listen-client-urls", "http://127.0.0.1:\(ports.etcdClient)",
                "--advertise-client-urls", "http://127.0.0.1:\(ports.etcdClient)",
                "--listen-peer-urls", "http://127.0.0.1:\(ports.etcdPeer)",
                "--initial-advertise-peer-urls", "http://127.0.0.1:\(ports.etcdPeer)",
                "--initial-cluster", "default=http://127.0.0.1:\(ports.etcdPeer)",
                "--log-level", "warn",
                // Tests write little: a small backend and no fsync wait keep etcd light.
                "--unsafe-no-fsync",
            ],
            log: directory.appending(path: "etcd.log"))
        processes.withLock { $0.etcd = process }
    }

    private func waitForEtcd() async throws {
        try await waitUntil("etcd", process: \.etcd, timeout: .seconds(30)) {
            let response = try await self.http.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(self.ports.etcdClient)/health"), timeout: .seconds(2))
            let body = try await response.body.collect(upTo: 1 << 16)
            return response.status == .ok && String(decoding: body.readableBytesView, as: UTF8.self).contains("true")
        }
    }

    var apiServerArguments: [String] {
        let admission =
            ["NamespaceLifecycle", "ServiceAccount", "MutatingAdmissionWebhook", "ValidatingAdmissionWebhook"]
            + options.admissionPlugins
        return [
            "--etcd-servers=http://127.0.0.1:\(ports.etcdClient)",
            "--secure-port=\(ports.apiServer)", "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            "--service-cluster-ip-range=10.96.0.0/12", "--authorization-mode=Node,RBAC",
            "--client-ca-file=\(path("ca.crt"))",
            "--tls-cert-file=\(path("apiserver.crt"))", "--tls-private-key-file=\(path("apiserver.key"))",
            "--cert-dir=\(path("certs"))",
            "--service-account-key-file=\(path("sa.pub"))",
            "--service-account-signing-key-file=\(path("sa.key"))",
            "--service-account-issuer=https://kubernetes.default.svc",
            "--enable-admission-plugins=\(admission.joined(separator: ","))",
            // With --advertise-address=127.0.0.1 the `kubernetes` Endpoints write fails every 10 s otherwise.
            "--endpoint-reconciler-type=none",
            "--requestheader-client-ca-file=\(path("front-proxy-ca.crt"))",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            "--proxy-client-cert-file=\(path("front-proxy-client.crt"))",
            "--proxy-client-key-file=\(path("front-proxy-client.key"))",
            "--audit-policy-file=\(path("audit-policy.yaml"))", "--audit-log-path=\(auditLogFile.path)",
            "--audit-log-maxsize=0",
        ] + options.apiServerArguments
    }

    private func startAPIServer() throws {
        let process = try ChildProcess(
            executable: version.apiServer, arguments: apiServerArguments,
            log: directory.appending(path: "kube-apiserver.log"))
        processes.withLock { $0.apiServer = process }
    }

    /// Until `/readyz` answers ok (RBAC bootstrap roles, priority classes and all).
    public func waitForAPIServer(timeout: Duration = .seconds(60)) async throws {
        try await waitUntil("kube-apiserver", process: \.apiServer, timeout: timeout) {
            let response = try await self.http.execute(
                HTTPClientRequest(url: self.server + "/readyz"), timeout: .seconds(5))
            _ = try await response.body.collect(upTo: 1 << 20)
            return response.status == .ok
        }
    }

    private var controllerList: String {
        // The controllers that need a kubelet or a cloud stay off (names changed in 1.27).
        version.minor >= 27
            ? "*,-node-ipam-controller,-node-lifecycle-controller,-taint-eviction-controller,-service-lb-controller,"
                + "-node-route-controller,-cloud-node-lifecycle-controller,-service-ca-certificate-publisher-controller"
            : "*,-nodeipam,-nodelifecycle,-service,-route,-cloud-node-lifecycle"
    }

    private func startControllerManager() async throws {
        let kubeconfig = path("controller-manager.kubeconfig")
        let arguments = [
            "--kubeconfig=\(kubeconfig)", "--authentication-kubeconfig=\(kubeconfig)",
            "--authorization-kubeconfig=\(kubeconfig)", "--use-service-account-credentials",
            "--service-account-private-key-file=\(path("sa.key"))", "--root-ca-file=\(path("ca.crt"))",
            "--leader-elect=false", "--secure-port=\(ports.controllerManager)", "--bind-address=127.0.0.1",
            "--cert-dir=\(path("controller-manager-certs"))", "--controllers=\(controllerList)",
        ]
        // Just after /readyz its RBAC may not yet see the bootstrap bindings, and it exits: try again.
        var lastError: (any Error)?
        for _ in 0..<5 {
            let process = try ChildProcess(
                executable: version.controllerManager, arguments: arguments,
                log: directory.appending(path: "kube-controller-manager.log"))
            processes.withLock { $0.controllerManager = process }
            do {
                try await waitUntil("kube-controller-manager", process: \.controllerManager, timeout: .seconds(60)) {
                    // Its serving certificate is self-signed.
                    let response = try await self.insecureHTTP.execute(
                        HTTPClientRequest(url: "https://127.0.0.1:\(self.ports.controllerManager)/healthz"),
                        timeout: .seconds(2))
                    _ = try await response.body.collect(upTo: 1 << 16)
                    return response.status == .ok
                }
                return
            } catch let error as ControlPlaneError where error.exited {
                lastError = error
                try await Task.sleep(for: .milliseconds(500))
            }
        }
        throw lastError!
    }

    /// Polls `ready` every 100 ms until it holds; fails early when the process has ended.
    private func waitUntil(
        _ name: String, process: KeyPath<Processes, ChildProcess?>, timeout: Duration,
        _ ready: @Sendable () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if (try? await ready()) == true { return }
            let child = processes.withLock { $0[keyPath: process] }
            if let child, !child.isRunning {
                throw ControlPlaneError(
                    message: "\(name) exited with \(child.status): \(child.logTail(1500))", exited: true)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let log = processes.withLock { $0[keyPath: process] }?.logTail(1500) ?? ""
        throw ControlPlaneError(message: "\(name) not ready after \(timeout): \(log)", exited: false)
    }

    /// Stops every process (controller manager, API server, etcd) and removes the directory,
    /// unless `SHAREDLB_KUBE_KEEP` is set (its path is printed then).
    func stop() async {
        try? await client.shutdown()
        try? await http.shutdown()
        try? await insecureHTTP.shutdown()
        let running = processes.withLock { $0 }
        for process in [running.controllerManager, running.apiServer, running.etcd].compactMap({ $0 }) {
            await process.stop()
        }
        if ProcessInfo.processInfo.environment["SHAREDLB_KUBE_KEEP"] != nil {
            print("control plane \(version.name) kept in \(directory.path)")
        } else {
            try? FileManager.default.removeItem(at: directory)
        }
    }

    // MARK: Faults

    /// Stops kube-apiserver (SIGKILL: no graceful drain, as a crash) and starts it again on the
    /// same port; returns once it is ready.
    public func restartAPIServer(signal: Int32 = SIGKILL) async throws {
        let start = Date()
        await processes.withLock { $0.apiServer }?.stop(signal: signal)
        try startAPIServer()
        try await waitForAPIServer()
        recordRestart(since: start)
    }

    /// A starting kube-apiserver answers before its authorizer has read the RBAC objects: for a
    /// moment every non-admin request is Forbidden. Audit checks leave those moments out.
    private func recordRestart(since start: Date) {
        let end = Date().addingTimeInterval(1)
        processes.withLock { $0.restarts.append(start...end) }
    }

    /// Whether `event` was received while a restart was under way.
    public func duringRestart(_ event: AuditEvent) -> Bool {
        guard let text = event.requestReceivedTimestamp, let received = AuditEvent.parseTime(text) else { return false }
        return processes.withLock { $0.restarts }.contains { $0.contains(received) }
    }

    /// Stops etcd (SIGKILL) and starts it again on the same data; returns once the API server
    /// answers ready again.
    public func restartEtcd() async throws {
        let start = Date()
        await processes.withLock { $0.etcd }?.stop(signal: SIGKILL)
        try startEtcd()
        try await waitForEtcd()
        try await waitForAPIServer()
        recordRestart(since: start)
    }

    // MARK: Access

    /// A client with a client certificate of this control plane's CA: `user` in `group`.
    public func clientConfiguration(user: String, group: String? = nil) throws -> ClientConfiguration {
        let pair = try pki.client(user: user, group: group)
        return ClientConfiguration(
            server: server, certificateAuthorityPEM: caCertificatePEM,
            credentials: .clientCertificate(certificatePEM: pair.certificatePEM, keyPEM: pair.keyPEM))
    }

    /// Writes a kubeconfig (mode 0600) for this API server (or `server`, a relay to it) with `credentials`.
    public func writeKubeconfig(
        to file: URL, credentials: ClientConfiguration.Credentials, server: String? = nil
    ) throws {
        let server = server ?? self.server
        let user: String
        switch credentials {
        case .token(let token): user = "{token: \"\(token)\"}"
        case .tokenFile(let path): user = "{tokenFile: \"\(path)\"}"
        case .clientCertificate(let certificate, let key):
            user =
                "{client-certificate-data: \"\(Data(certificate.utf8).base64EncodedString())\", "
                + "client-key-data: \"\(Data(key.utf8).base64EncodedString())\"}"
        case .none: user = "{}"
        }
        let text = """
            apiVersion: v1
            kind: Config
            clusters:
            - name: envtest
              cluster: {server: "\(server)", certificate-authority-data: "\(Data(caCertificatePEM.utf8).base64EncodedString())"}
            users:
            - name: envtest
              user: \(user)
            contexts:
            - name: envtest
              context: {cluster: envtest, user: envtest}
            current-context: envtest

            """
        try Data(text.utf8).write(to: file, options: .atomic)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)
    }

    /// A bound token of a ServiceAccount from the TokenRequest API, as a kubelet would mount it.
    public func serviceAccountToken(namespace: String, name: String, expirationSeconds: Int = 3600)
        async throws -> String
    {
        struct TokenRequest: Codable {
            struct Spec: Codable { var expirationSeconds: Int }
            struct Status: Codable { var token: String }
            var apiVersion = "authentication.k8s.io/v1"
            var kind = "TokenRequest"
            var spec: Spec
            var status: Status?
        }
        var request = HTTPClientRequest(
            url: "\(server)/api/v1/namespaces/\(namespace)/serviceaccounts/\(name)/token")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(
            ByteBuffer(bytes: try JSONEncoder().encode(TokenRequest(spec: .init(expirationSeconds: expirationSeconds))))
        )
        let response = try await http.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .created || response.status == .ok,
            let token = try? JSONDecoder().decode(TokenRequest.self, from: Data(body.readableBytesView)).status?.token
        else {
            throw ControlPlaneError(
                message: "TokenRequest \(response.status): \(String(decoding: body.readableBytesView, as: UTF8.self))",
                exited: false)
        }
        return token
    }

    /// The audit log so far.
    public func auditEvents() throws -> [AuditEvent] {
        try AuditEvent.read(auditLogFile)
    }

    /// Runs kubectl (from `PATH`) with the admin kubeconfig.
    public func kubectl(_ arguments: [String], input: String? = nil) async throws -> CommandResult {
        guard let kubectl = findExecutable("kubectl") else {
            throw ControlPlaneError(message: "kubectl is not on PATH", exited: false)
        }
        return try await runCommand(kubectl, ["--kubeconfig", adminKubeconfig.path] + arguments, input: input)
    }
}

/// A control plane that did not start or answer.
public struct ControlPlaneError: Error, CustomStringConvertible {
    public var message: String
    /// The process ended by itself.
    var exited: Bool
    public var description: String { message }
}
