import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import SharedLBCertificates
import SharedLBCore
import SharedLBWebhook

struct WebhookCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhook",
        abstract: "Run the HTTPS admission webhook that converts LoadBalancer Services.",
        discussion: """
            Endpoints: POST /mutate (AdmissionReview v1), GET /healthz, GET /readyz, GET /metrics \
            (on --metrics-listen instead when given). Certificate files are re-read every \
            --cert-reload-interval; a bad or half-written file keeps the last good certificate. \
            SIGTERM/SIGINT: readiness turns false, in-flight requests finish, connections close.

            With the default --cert/--key and no files there, a development CA and certificate \
            for localhost and 127.0.0.1 are generated into certs/ (see `sharedlb certs`).

            Try it:
              sharedlb webhook --listen 127.0.0.1:8443
              curl --cacert certs/ca.crt -H 'Content-Type: application/json' \\
                --data @manifests/examples/admissionreview-create-lb.json \\
                https://127.0.0.1:8443/mutate
            """
    )

    @OptionGroup var webhook: WebhookOptions
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.bootstrap(label: "sharedlb.webhook")
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let server = try webhook.makeServer(registry: registry, logger: logger)
        var groupConfiguration = ServiceGroupConfiguration(
            services: server.services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        groupConfiguration.maximumGracefulShutdownDuration = webhook.shutdownDelay.duration + .seconds(30)
        try await ServiceGroup(configuration: groupConfiguration).run()
    }
}

/// The webhook's flags, shared by `webhook` and `run`.
struct WebhookOptions: ParsableArguments {
    static let defaultCertificate = "certs/tls.crt"
    static let defaultKey = "certs/tls.key"

    @Option(help: "HTTPS listen address.")
    var listen = ListenAddress(argument: "0.0.0.0:8443")!

    @Option(help: "PEM serving certificate (chain).")
    var cert = Self.defaultCertificate

    @Option(help: "PEM private key of the serving certificate.")
    var key = Self.defaultKey

    @Option(help: "Plain-HTTP address for /metrics, /healthz and /readyz (default: served on the HTTPS port).")
    var metricsListen: ListenAddress?

    @Option(
        name: .customLong("convert-class"),
        help:
            "Also convert Services with this loadBalancerClass (repeatable). By default a class means another implementation owns the Service."
    )
    var convertClasses: [String] = []

    @Flag(
        help:
            "Also convert externalTrafficPolicy: Local Services (they can only share with members selecting the same pods)."
    )
    var convertLocal = false

    @Flag(help: "Also convert Services whose controlling owner (an operator, a gateway) manages them.")
    var convertOwned = false

    @Flag(help: "Offer HTTP/2 via ALPN. kube-apiserver only uses HTTP/1.1 for webhooks.")
    var http2 = false

    @Option(help: "How often certificate files are checked for changes (e.g. 5s).")
    var certReloadInterval = DurationArgument("5s")

    @Option(help: "After SIGTERM, report not-ready for this long before closing the listener (e.g. 5s in a cluster).")
    var shutdownDelay = DurationArgument("0s")

    @Option(
        help:
            "Event-loop threads serving HTTPS (default: the CPUs this process may use, by its CPU affinity and cgroup CPU quota)."
    )
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        guard certReloadInterval.duration >= .milliseconds(10) else {
            throw ValidationError("--cert-reload-interval must be at least 10ms")
        }
    }

    /// The server, its certificate files minted first when the defaults point at nothing.
    func makeServer(registry: PrometheusCollectorRegistry, logger: Logger) throws -> WebhookServer {
        try createDevelopmentCertificateIfNeeded(logger: logger)
        let configuration = WebhookConfiguration(
            host: listen.host,
            port: listen.port,
            certificatePath: cert,
            keyPath: key,
            policy: ConversionPolicy(
                convertClasses: Set(convertClasses), convertLocal: convertLocal, convertOwned: convertOwned),
            http2: http2,
            metricsHost: metricsListen?.host,
            metricsPort: metricsListen?.port,
            certificateReloadInterval: certReloadInterval.duration,
            shutdownDelay: shutdownDelay.duration,
            eventLoopThreads: threads ?? AvailableCPUs.count()
        )
        return WebhookServer(configuration: configuration, metrics: WebhookMetrics(registry: registry), logger: logger)
    }

    /// `sharedlb webhook` on a fresh machine needs no setup: with the default paths and no
    /// files there, mint a development CA and certificate for localhost.
    private func createDevelopmentCertificateIfNeeded(logger: Logger) throws {
        guard cert == Self.defaultCertificate, key == Self.defaultKey else { return }
        let manager = FileManager.default
        guard !manager.fileExists(atPath: cert), !manager.fileExists(atPath: key) else { return }
        let directory = URL(filePath: cert).deletingLastPathComponent()
        let (bundle, _) = try issueCertificates(ServingCertificateRequest(), in: directory)
        try bundle.write(to: directory)
        logger.notice(
            "generated a development certificate for localhost, 127.0.0.1 and the in-cluster names; trust it with --cacert certs/ca.crt",
            metadata: ["tls.certificate.path": "\(cert)"])
    }
}
