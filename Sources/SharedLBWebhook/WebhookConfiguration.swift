public import SharedLBCore

/// Settings of `sharedlb webhook` (each is a flag of the executable).
public struct WebhookConfiguration: Sendable {
    /// Where the HTTPS server listens.
    public var host: String
    public var port: Int
    public var certificatePath: String
    public var keyPath: String
    /// Which Services are converted.
    public var policy: ConversionPolicy
    /// Offer HTTP/2 through ALPN. kube-apiserver speaks only HTTP/1.1 to webhooks.
    public var http2: Bool
    /// A separate plain-HTTP listener for `/metrics`, `/healthz` and `/readyz`; `nil` serves
    /// them on the HTTPS port only.
    public var metricsHost: String?
    public var metricsPort: Int?
    /// How often the certificate files are checked for changes.
    public var certificateReloadInterval: Duration
    public var maximumBodySize: Int
    /// How long readiness is false before the server stops accepting connections.
    public var shutdownDelay: Duration
    /// Close idle keep-alive connections after this long.
    public var idleTimeout: Duration
    /// Event-loop threads for the HTTPS server; `nil` uses SwiftNIO's shared group (one per
    /// core by `System.coreCount`; `sharedlb webhook` passes ``AvailableCPUs/count()``).
    public var eventLoopThreads: Int?

    public init(
        host: String = "0.0.0.0",
        port: Int = 8443,
        certificatePath: String = "certs/tls.crt",
        keyPath: String = "certs/tls.key",
        policy: ConversionPolicy = ConversionPolicy(),
        http2: Bool = false,
        metricsHost: String? = nil,
        metricsPort: Int? = nil,
        certificateReloadInterval: Duration = .seconds(5),
        maximumBodySize: Int = WebhookResponder.defaultMaximumBodySize,
        shutdownDelay: Duration = .zero,
        idleTimeout: Duration = .seconds(120),
        eventLoopThreads: Int? = nil
    ) {
        self.host = host
        self.port = port
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.policy = policy
        self.http2 = http2
        self.metricsHost = metricsHost
        self.metricsPort = metricsPort
        self.certificateReloadInterval = certificateReloadInterval
        self.maximumBodySize = maximumBodySize
        self.shutdownDelay = shutdownDelay
        self.idleTimeout = idleTimeout
        self.eventLoopThreads = eventLoopThreads
    }
}
