public import Prometheus
import SharedLBCore

/// The webhook's Prometheus metrics, all named `sharedlb_webhook_…`.
///
/// Every labelled series is created up front, so the request path only touches
/// atomics and operators see zero-valued series before the first request.
public struct WebhookMetrics: Sendable {
    /// Values of the `result` label on `sharedlb_webhook_requests_total`.
    public enum Result: String, Sendable, CaseIterable {
        case converted, skipped, unchanged, malformed, ignored
        /// Answered with a 4xx status: not a usable AdmissionReview.
        case rejected
    }

    static let operations = ["CREATE", "UPDATE", "DELETE", "CONNECT", "other"]
    /// Includes kube-apiserver's webhook latency buckets (5 ms, 25 ms).
    public static let latencyBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2.5), .seconds(5),
    ]

    public let registry: PrometheusCollectorRegistry
    /// Indexed by operation (see `operations`) times `Result.allCases.count` plus result.
    private let requests: [Counter]
    private let skipped: [SkipReason: Counter]
    let duration: DurationHistogram
    let inFlight: Gauge
    let certificateReloads: Counter
    let certificateReloadFailures: Counter
    let certificateExpiry: Gauge

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var requests: [Counter] = []
        for operation in Self.operations {
            for result in Result.allCases {
                requests.append(
                    registry.makeCounter(
                        descriptor: Self.name(
                            "requests", unit: "total", help: "AdmissionReviews answered, by operation and result."),
                        labels: [("operation", operation), ("result", result.rawValue)]
                    ))
            }
        }
        self.requests = requests
        var skipped: [SkipReason: Counter] = [:]
        for reason in SkipReason.allCases {
            skipped[reason] = registry.makeCounter(
                descriptor: Self.name(
                    "skipped", unit: "total", help: "LoadBalancer Services left unconverted, by first reason."),
                labels: [("reason", reason.rawValue)]
            )
        }
        self.skipped = skipped
        duration = registry.makeDurationHistogram(
            descriptor: Self.name(
                "request_duration", unit: "seconds", help: "Time from request head to response, /mutate only."),
            buckets: Self.latencyBuckets
        )
        inFlight = registry.makeGauge(
            descriptor: Self.name("in_flight_requests", unit: "", help: "/mutate requests being handled now.")
        )
        certificateReloads = registry.makeCounter(
            descriptor: Self.name(
                "certificate_reloads", unit: "total", help: "Serving certificates loaded (initial load included)."),
            labels: [("result", "success")]
        )
        certificateReloadFailures = registry.makeCounter(
            descriptor: Self.name(
                "certificate_reloads", unit: "total", help: "Serving certificates loaded (initial load included)."),
            labels: [("result", "failure")]
        )
        certificateExpiry = registry.makeGauge(
            descriptor: Self.name(
                "certificate_expiry", unit: "timestamp_seconds",
                help: "notAfter of the serving certificate in use (Unix time; 0 until one is loaded).")
        )
    }

    private static func name(_ metric: String, unit: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: SharedLBNames.metricsPrefix, subsystem: "webhook", metricName: metric, unitName: unit,
            helpText: help)
    }

    func recordRequest(operation: String, result: Result) {
        let operationIndex = Self.operations.firstIndex(of: operation) ?? Self.operations.count - 1
        let resultIndex = Result.allCases.firstIndex(of: result)!
        requests[operationIndex * Result.allCases.count + resultIndex].increment()
    }

    func recordSkip(_ reason: SkipReason) {
        skipped[reason]?.increment()
    }

    /// The Prometheus text exposition of every metric in the registry.
    public func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }
}
