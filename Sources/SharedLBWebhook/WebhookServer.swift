import HummingbirdCore
import HummingbirdHTTP2
import HummingbirdTLS
public import Logging
import NIOCore
import NIOPosix
import NIOSSL
public import ServiceLifecycle
import SharedLBCore

/// The admission webhook: an HTTPS server, a certificate reloader, an optional plain
/// metrics listener and a readiness gate, as lifecycle services.
///
/// Run ``services`` in one `ServiceGroup` (in the given order) so that on SIGTERM the
/// readiness gate hears first, then the HTTPS server drains in-flight requests and
/// closes keep-alive connections, then the rest stops.
///
/// ```swift
/// let webhook = WebhookServer(configuration: WebhookConfiguration(port: 8443), logger: logger)
/// let group = ServiceGroup(configuration: .init(
///     services: webhook.services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
/// try await group.run()
/// ```
public struct WebhookServer: Sendable {
    public let configuration: WebhookConfiguration
    public let metrics: WebhookMetrics
    public let readiness: Readiness
    public let certificates: CertificateStore
    let logger: Logger
    let onListening: @Sendable (_ scheme: String, _ port: Int) async -> Void
    let onCertificateCheck: @Sendable (CertificateStore.ReloadOutcome) -> Void

    /// - Parameters:
    ///   - onListening: called with `"https"` (and `"http"` for the metrics listener) and the
    ///     bound port once each server accepts connections; port 0 binds any free port.
    ///   - onCertificateCheck: called after every look at the certificate files that loaded
    ///     or rejected something (not when they were unchanged).
    public init(
        configuration: WebhookConfiguration,
        metrics: WebhookMetrics = WebhookMetrics(),
        logger: Logger,
        onListening: @escaping @Sendable (_ scheme: String, _ port: Int) async -> Void = { _, _ in },
        onCertificateCheck: @escaping @Sendable (CertificateStore.ReloadOutcome) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.metrics = metrics
        self.readiness = Readiness()
        self.certificates = CertificateStore(
            certificatePath: configuration.certificatePath, keyPath: configuration.keyPath)
        self.logger = logger
        self.onListening = onListening
        self.onCertificateCheck = onCertificateCheck
    }

    /// The services to run, in `ServiceGroup` order.
    public var services: [any Service] {
        let reloader = CertificateReloadService(
            store: certificates, interval: configuration.certificateReloadInterval, readiness: readiness,
            metrics: metrics,
            logger: logger, onCheck: onCertificateCheck)
        var services: [any Service] = [reloader]
        if let metricsPort = configuration.metricsPort {
            services.append(metricsServer(port: metricsPort))
        }
        services.append(HTTPSService(server: self, reloader: reloader))
        services.append(ReadinessGateService(readiness: readiness, delay: configuration.shutdownDelay))
        return services
    }

    func responder(servesMetrics: Bool) -> WebhookResponder {
        WebhookResponder(
            reviewer: AdmissionReviewer(policy: configuration.policy),
            metrics: metrics,
            readiness: readiness,
            maximumBodySize: configuration.maximumBodySize,
            servesMetrics: servesMetrics,
            logger: logger
        )
    }

    private func metricsServer(port: Int) -> some Service {
        let onListening = self.onListening
        return ResponderServer(
            builder: HTTPServerBuilder { hummingbird in
                WebhookHTTP1Channel(responder: hummingbird, admission: nil)
            },
            address: .hostname(configuration.metricsHost ?? configuration.host, port: port),
            responder: responder(servesMetrics: true),
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            onServerRunning: { channel in await onListening("http", channel.localAddress?.port ?? port) },
            logger: logger
        )
    }
}

/// Hummingbird's HTTP server answering with a ``WebhookResponder``, without Hummingbird's
/// `Application`: its date service formats the `Date` header with Foundation's calendar every
/// second, which loaded ICU's time-zone code and data into every webhook process (about a
/// megabyte resident) for a header ``HTTPDate`` writes with `gmtime_r`.
struct ResponderServer: Service, CustomStringConvertible {
    var description: String { "ResponderServer" }

    let builder: HTTPServerBuilder
    let address: BindAddress
    let responder: WebhookResponder
    let eventLoopGroup: any EventLoopGroup
    let onServerRunning: @Sendable (any Channel) async -> Void
    let logger: Logger

    func run() async throws {
        let responder = self.responder
        let server = try builder.buildServer(
            configuration: ServerConfiguration(address: address),
            eventLoopGroup: eventLoopGroup,
            logger: logger,
            responder: { request, writer, _ in
                var response = await responder.respond(to: request)
                response.headers[.date] = HTTPDate.now
                try await writer.write(response: response.head, body: response.body)
            },
            onServerRunning: onServerRunning
        )
        try await server.run()
    }
}

/// Waits for a serving certificate, then runs the HTTPS server with it.
private struct HTTPSService: Service, CustomStringConvertible {
    var description: String { "HTTPSService" }

    let server: WebhookServer
    let reloader: CertificateReloadService

    func run() async throws {
        let initial = try await firstCertificate()
        let configuration = server.configuration
        let tls = server.certificates.tlsConfiguration(
            initial: initial, applicationProtocols: configuration.http2 ? ["h2", "http/1.1"] : ["http/1.1"])
        let responder = server.responder(servesMetrics: configuration.metricsPort == nil)
        let http1 = HTTPServerBuilder { hummingbird in
            WebhookHTTP1Channel(
                responder: hummingbird, admission: responder, idleTimeout: configuration.idleTimeout,
                coalescesWrites: true)
        }
        let builder: HTTPServerBuilder =
            configuration.http2
            ? try .http2Upgrade(tlsConfiguration: tls) : try .tls(http1, tlsConfiguration: tls)
        let onListening = server.onListening
        let logger = server.logger
        let eventLoopGroup = configuration.eventLoopThreads.map { MultiThreadedEventLoopGroup(numberOfThreads: $0) }
        let https = ResponderServer(
            builder: builder,
            address: .hostname(configuration.host, port: configuration.port),
            responder: responder,
            eventLoopGroup: eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton,
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                logger.info(
                    "admission webhook listening",
                    metadata: [
                        "net.host": "\(configuration.host)", "net.port": "\(port)", "http2": "\(configuration.http2)",
                        "threads": "\(configuration.eventLoopThreads ?? System.coreCount)",
                    ])
                await onListening("https", port)
            },
            logger: logger
        )
        do {
            try await https.run()
        } catch {
            try? await eventLoopGroup?.shutdownGracefully()
            throw error
        }
        try? await eventLoopGroup?.shutdownGracefully()
    }

    /// The certificate loaded now, or the first one that appears (readiness stays false until then).
    private func firstCertificate() async throws -> CertificateStore.Loaded {
        while true {
            reloader.checkNow()
            if let loaded = server.certificates.current { return loaded }
            try await cancelWhenGracefulShutdown {
                try await Task.sleep(for: server.configuration.certificateReloadInterval)
            }
        }
    }
}
