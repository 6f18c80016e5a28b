import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import SharedLBAllocation
import SharedLBController
import SharedLBCore
import SharedLBKubernetes

/// Where the API server is: shared by every command that talks to one.
struct KubeconfigOptions: ParsableArguments {
    @Option(help: "Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).")
    var kubeconfig: String?

    @Option(help: "Kubeconfig context (default: the current context).")
    var context: String?

    /// Runs `body` with a client, and closes the client however `body` ends. `identity` goes
    /// into the User-Agent, so the API server's audit log tells replicas apart.
    func withClient<T>(
        writeTimeout: Duration? = nil, identity: String? = nil, _ body: (KubernetesClient) async throws -> T
    ) async throws -> T {
        let client = try KubernetesClient(
            configuration: ClientConfiguration.resolve(kubeconfig: kubeconfig, context: context),
            writeTimeout: writeTimeout,
            userAgent: identity.map { "\(KubernetesClient.defaultUserAgent) (\($0))" }
                ?? KubernetesClient.defaultUserAgent)
        let result: Result<T, any Error>
        do {
            result = .success(try await body(client))
        } catch {
            result = .failure(error)
        }
        do {
            try await client.shutdown()
        } catch {
            // Its connections are gone either way; `body`'s outcome is what the command reports.
            FileHandle.standardError.write(Data("warning: closing the API client: \(error)\n".utf8))
        }
        return try result.get()
    }
}

/// Which annotations decide sharing: the allocator's and `audit`'s `--lb-annotation-prefix`.
struct SharingOptions: ParsableArguments {
    @Option(
        name: .customLong("lb-annotation-prefix"),
        help: ArgumentHelp(
            "An annotation prefix (or whole key) that shapes a load balancer, beside the built-in ones; repeatable.",
            discussion: """
                Members share a load balancer only when their annotations under these prefixes are equal; \
                other annotations never decide sharing. Built in: \(ShapingAnnotations.defaultPrefixes.joined(separator: " ")).
                """))
    var lbAnnotationPrefixes: [String] = []

    func validate() throws {
        if lbAnnotationPrefixes.contains(where: { $0.isEmpty || $0.contains(where: \.isWhitespace) }) {
            throw ValidationError("--lb-annotation-prefix must be a non-empty annotation key prefix without spaces")
        }
    }

    var shaping: ShapingAnnotations { ShapingAnnotations(adding: lbAnnotationPrefixes) }
}

/// `--mixed-protocol allow|deny`.
enum MixedProtocol: String, ExpressibleByArgument, CaseIterable {
    case allow, deny
}

/// `--port-policy preserve|remap`.
enum PortPolicyArgument: String, ExpressibleByArgument, CaseIterable {
    case preserve, remap

    var policy: PortPolicy { self == .preserve ? .preserve : .remap }
}

/// A port range, `20000-29999`.
struct PortRange: ExpressibleByArgument, CustomStringConvertible {
    var range: ClosedRange<Int>

    init?(argument: String) {
        let parts = argument.split(separator: "-")
        guard parts.count == 2, let low = Int(parts[0]), let high = Int(parts[1]), 1 <= low, low <= high,
            high <= 65535
        else { return nil }
        range = low...high
    }

    var description: String { "\(range.lowerBound)-\(range.upperBound)" }
}

/// The allocator's flags, shared by `allocator` and `run`.
struct AllocatorOptions: ParsableArguments {
    @OptionGroup var cluster: KubeconfigOptions

    @Option(help: "Controller namespace: shared LB Services, the ledger, mirrored EndpointSlices, the Lease.")
    var namespace = SharedLBNames.defaultNamespace

    @Flag(inversion: .prefixedNo, help: "Create the controller namespace when it is missing (and permitted).")
    var createNamespace = true

    @OptionGroup var providerOptions: ProviderOptions

    @Option(
        name: .customLong("max-lbs-per-pool"),
        help: "Shared LBs per pool; 0 for no limit. Past it, members get sharedlb.io/error.")
    var maxLBsPerPool = 100

    @Option(help: "Default port policy: preserve (external port = requested port) or remap.")
    var portPolicy: PortPolicyArgument = .preserve

    @Option(help: "Where the remap policy finds a free port for a taken one.")
    var remapPorts = PortRange(argument: "20000-29999")!

    @OptionGroup var sharing: SharingOptions

    @Option(help: "How long an emptied shared LB is kept before it is deleted (keeps its address over a re-create).")
    var emptyGrace = DurationArgument("10m")

    @Option(help: "Full reconcile at least this often.")
    var resync = DurationArgument("5m")

    @Option(help: "Members and shared LBs written at once (each object's own writes stay in order).")
    var concurrentWrites = 8

    @Option(
        help:
            "Longest wait between placements in a burst (they start 1/16 of it apart and double while each writes)."
    )
    var placementBatchPeriod = DurationArgument("4s")

    @Option(
        help: ArgumentHelp(
            "A shared LB failing this long is given up on: the members it does not serve move to another LB of their pool (0s: never).",
            discussion: """
                Failing: the cloud's latest Event on it is a failure, or the API server keeps refusing its writes. \
                Who moves: everyone when it never got an address; else only members the cloud or the API server \
                never took on (placed after the cloud's last success, or ports missing from the Service). \
                Moves are told with Moved Events and recorded in the ledger; nobody is moved back.
                """))
    var failoverAfter = DurationArgument("10m")

    @Flag(inversion: .prefixedNo, help: "Elect a leader through a Lease; only the leader writes.")
    var leaderElect = true

    @Option(help: "Lease duration: a standby takes over after this long without renewal.")
    var leaseDuration = DurationArgument("15s")

    @Option(help: "A leader that has not renewed within this stops writing.")
    var renewDeadline = DurationArgument("10s")

    @Option(help: "How often the Lease is renewed or tried.")
    var retryPeriod = DurationArgument("2s")

    @Option(help: "This instance's name in the Lease and in Events (default: hostname and process id).")
    var identity: String?

    func validate() throws {
        guard maxLBsPerPool >= 0 else { throw ValidationError("--max-lbs-per-pool must not be negative") }
        guard (1...64).contains(concurrentWrites) else { throw ValidationError("--concurrent-writes must be 1...64") }
        let (lease, renew, retry) = (leaseDuration.duration, renewDeadline.duration, retryPeriod.duration)
        guard retry > .zero, retry < renew, renew < lease
        else {
            throw ValidationError("need 0 < --retry-period < --renew-deadline < --lease-duration")
        }
        guard Naming.isDNSLabel(namespace) else { throw ValidationError("--namespace must be a DNS label") }
    }

    /// With leader election, a write may not outlast the margin between the renew deadline
    /// and the lease duration (a deposed leader's write must land before a standby takes over).
    var writeTimeout: Duration? {
        leaderElect ? min(.seconds(30), leaseDuration.duration - renewDeadline.duration) : nil
    }

    var configuration: AllocatorConfiguration {
        let preset = providerOptions.preset
        let identity = identity ?? "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
        return AllocatorConfiguration(
            namespace: namespace,
            placement: PlacementConfiguration(
                maximumPortsPerLB: preset.maximumPortsPerLB, maximumLBsPerPool: maxLBsPerPool,
                defaultPolicy: portPolicy.policy, remapRange: remapPorts.range, mixedProtocol: preset.mixedProtocol,
                shaping: sharing.shaping, maximumTargetsPerLB: preset.maximumTargetsPerLB),
            emptyGracePeriod: emptyGrace.duration, resyncInterval: resync.duration, identity: identity,
            leaderElection: leaderElect
                ? LeaderElector.Configuration(
                    namespace: namespace, identity: identity, leaseDuration: leaseDuration.duration,
                    renewDeadline: renewDeadline.duration, retryPeriod: retryPeriod.duration)
                : nil,
            createNamespace: createNamespace, concurrentWrites: concurrentWrites,
            placementBatchPeriod: placementBatchPeriod.duration,
            failoverAfter: failoverAfter.duration == .zero ? nil : failoverAfter.duration,
            failureReasons: preset.failureReasons, mixedProtocolAnnotations: preset.mixedProtocolAnnotations)
    }
}

struct AllocatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allocator",
        abstract: "Run the controller that places converted Services on shared load balancers.",
        discussion: """
            Watches Services labelled sharedlb.io/managed=true, places their ports on shared \
            `type: LoadBalancer` Services in --namespace, records every allocation in ConfigMaps \
            labelled sharedlb.io/role=ledger (compare-and-swap writes), mirrors each member's \
            EndpointSlices onto its shared LB, and annotates members with sharedlb.io/endpoint \
            once the shared LB has an address. With --leader-elect (the default) only the holder \
            of the Lease sharedlb-allocator writes. SIGTERM/SIGINT: the Lease is released.
            """
    )

    @OptionGroup var allocator: AllocatorOptions

    @Option(help: "Plain-HTTP address for /metrics, /healthz and /readyz (ready once every watch has listed).")
    var metricsListen = ListenAddress(argument: "0.0.0.0:8080")!

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.bootstrap(label: "sharedlb.allocator")
        let metrics = AllocatorMetrics()
        let configuration = allocator.configuration
        try await allocator.cluster.withClient(writeTimeout: allocator.writeTimeout, identity: configuration.identity) {
            client in
            let controller = Allocator(client: client, configuration: configuration, metrics: metrics, logger: logger)
            let operations = OperationsServer(
                host: metricsListen.host, port: metricsListen.port, logger: logger, exposition: metrics.exposition,
                ready: { controller.isReady })
            let group = ServiceGroup(
                configuration: .init(
                    services: [operations, controller], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        }
    }
}

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the webhook and the allocator in one process (small clusters, development).",
        discussion: """
            Out of cluster, for development:
              sharedlb certs --ip 192.0.2.10
              sharedlb webhook-config --ca certs/ca.crt --url https://192.0.2.10:8443/mutate | kubectl apply -f -
              sharedlb run --kubeconfig ~/.kube/config --listen 0.0.0.0:8443
            """
    )

    @OptionGroup var webhook: WebhookOptions
    @OptionGroup var allocator: AllocatorOptions
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.bootstrap(label: "sharedlb")
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let server = try webhook.makeServer(registry: registry, logger: logger)
        let configuration = allocator.configuration
        try await allocator.cluster.withClient(writeTimeout: allocator.writeTimeout, identity: configuration.identity) {
            client in
            // One registry: the webhook's /metrics shows the allocator's metrics too.
            let controller = Allocator(
                client: client, configuration: configuration, metrics: AllocatorMetrics(registry: registry),
                logger: logger)
            var configuration = ServiceGroupConfiguration(
                services: server.services + [controller], gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger)
            configuration.maximumGracefulShutdownDuration = webhook.shutdownDelay.duration + .seconds(30)
            try await ServiceGroup(configuration: configuration).run()
        }
    }
}
