import AsyncHTTPClient
import Foundation
import SharedLBEnvtest
import Testing

/// `manifests/monitoring` against what the binaries really export, and the base manifests
/// against a real API server's Pod Security admission.
@Suite("Operations kit")
struct OperationsKitTests {
    static let monitoring = repositoryRoot.appending(path: "manifests/monitoring")
    /// Labels Prometheus adds to every scraped series (the PodMonitors' targets).
    static let targetLabels: Set<String> = ["job", "instance", "namespace", "pod", "container", "endpoint", "service"]

    /// Metric names and label names a PromQL text refers to.
    static func references(_ text: String) -> (metrics: Set<String>, labels: Set<String>) {
        func matches(_ pattern: String, _ group: Int = 0) -> [String] {
            let regex = try! NSRegularExpression(pattern: pattern)
            return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).map {
                String(text[Range($0.range(at: group), in: text)!])
            }
        }
        let metrics = Set(matches(#"sharedlb_[a-z0-9_]+"#))
        var labels = Set<String>()
        for list in matches(#"\{([a-z_][^{}"]*(?:"[^"]*"[^{}"]*)*)\}"#, 1) + matches(#"(?:by|without) \(([^)]*)\)"#, 1)
        {
            for item in list.split(separator: ",") {
                let name = item.split(whereSeparator: { "=!~ ".contains($0) }).first.map(String.init) ?? ""
                if !name.isEmpty, name.first!.isLetter, !name.hasPrefix("$") { labels.insert(name) }
            }
        }
        return (metrics, labels)
    }

    /// Metric names and label names of a Prometheus text exposition.
    static func exported(_ text: String) -> (metrics: Set<String>, labels: Set<String>) {
        var metrics = Set<String>()
        var labels = Set<String>()
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let name = line.prefix { $0 != "{" && $0 != " " }
            metrics.insert(String(name))
            if let open = line.firstIndex(of: "{"), let close = line.lastIndex(of: "}") {
                for pair in line[line.index(after: open)..<close].split(separator: ",") {
                    labels.insert(String(pair.prefix { $0 != "=" }))
                }
            }
        }
        return (metrics, labels)
    }

    @Test("every metric and label the PrometheusRule and the dashboard use is in the binaries' /metrics")
    func alertsAndPanelsMatchMetrics() async throws {
        try await TestEnvironment.run(on: .mock) { environment in
            let directory = try ScratchDirectory.make(prefix: "sharedlb-operations")
            defer { try? FileManager.default.removeItem(at: directory) }
            let kubeconfig = directory.appending(path: "kubeconfig").path
            try environment.writeKubeconfig(to: kubeconfig)
            let binary = AllocatorProcess.binary
            let certs = try await runCommand(binary, ["certs", "--out", directory.appending(path: "certs").path])
            try #require(certs.succeeded, "\(certs)")
            let ports = try LocalPorts.free(3)
            let webhook = try ChildProcess(
                executable: binary,
                arguments: [
                    "webhook", "--listen", "127.0.0.1:\(ports[0])", "--metrics-listen", "127.0.0.1:\(ports[1])",
                    "--cert", directory.appending(path: "certs/tls.crt").path,
                    "--key", directory.appending(path: "certs/tls.key").path, "--log-level", "warning",
                ],
                log: directory.appending(path: "webhook.log"))
            let allocator = try AllocatorProcess(
                kubeconfig: kubeconfig, log: directory.appending(path: "allocator.log"),
                arguments: ["--metrics-listen", "127.0.0.1:\(ports[2])"])
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            var exposition = ""
            do {
                for port in [ports[1], ports[2]] {
                    let deadline = ContinuousClock.now + .seconds(30)
                    var body: String?
                    while body == nil, ContinuousClock.now < deadline {
                        if let response = try? await http.execute(
                            HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics"), timeout: .seconds(5)),
                            response.status == .ok
                        {
                            body = String(buffer: try await response.body.collect(upTo: 1 << 22))
                        } else {
                            try await Task.sleep(for: .milliseconds(100))
                        }
                    }
                    exposition += try #require(body, "no /metrics on port \(port)") + "\n"
                }
            } catch {
                Issue.record("\(error)")
            }
            try? await http.shutdown()
            await webhook.stop()
            _ = await allocator.kill(signal: SIGTERM)
            let exported = Self.exported(exposition)
            #expect(exported.metrics.contains("sharedlb_webhook_requests_total"), "\(webhook.logTail())")
            #expect(exported.metrics.contains("sharedlb_allocator_leader"), "\(allocator.logTail())")

            let rule = try String(contentsOf: Self.monitoring.appending(path: "prometheusrule.yaml"), encoding: .utf8)
            let dashboard = try String(
                contentsOf: Self.monitoring.appending(path: "grafana-dashboard.json"), encoding: .utf8)
            let root = try JSONSerialization.jsonObject(with: Data(dashboard.utf8)) as? [String: Any]
            let panels = try #require(root?["panels"] as? [[String: Any]])
            let expressions = panels.flatMap {
                ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String }
            }
            #expect(expressions.count >= 12)
            for (source, text) in [
                ("prometheusrule.yaml", rule), ("grafana-dashboard.json", expressions.joined(separator: "\n")),
            ] {
                let used = Self.references(text)
                #expect(!used.metrics.isEmpty && !used.labels.isEmpty, "\(source) refers to nothing")
                let unknownMetrics = used.metrics.subtracting(exported.metrics)
                let unknownLabels = used.labels.subtracting(exported.labels).subtracting(Self.targetLabels)
                #expect(
                    unknownMetrics.isEmpty, "\(source) refers to metrics no binary exports: \(unknownMetrics.sorted())")
                #expect(unknownLabels.isEmpty, "\(source) refers to labels no metric has: \(unknownLabels.sorted())")
            }
            // The alerts the issue asks for are there.
            for alert in [
                "SharedLBAllocationFailures", "SharedLBLedgerShardUnreadable", "SharedLBNoLeader",
                "SharedLBWebhookErrors",
                "SharedLBWebhookLatencyHigh", "SharedLBWebhookCertificateExpiresSoon",
            ] {
                #expect(rule.contains("alert: \(alert)\n"), "\(alert)")
            }
        }
    }

    @Test("the check above fails on a metric or a label that does not exist")
    func checkCatchesTypos() {
        let used = Self.references(
            #"sum by (reason) (rate(sharedlb_webhook_skiped_total{resul="x"}[5m])) and sharedlb_allocator_leader"#)
        #expect(used.metrics == ["sharedlb_webhook_skiped_total", "sharedlb_allocator_leader"])
        #expect(used.labels == ["reason", "resul"])
        let exported = Self.exported(
            "# TYPE sharedlb_allocator_leader gauge\nsharedlb_allocator_leader 1\nsharedlb_webhook_skipped_total{reason=\"dedicated\"} 0\n"
        )
        #expect(used.metrics.subtracting(exported.metrics) == ["sharedlb_webhook_skiped_total"])
        #expect(used.labels.subtracting(exported.labels) == ["resul"])
    }

    @Test(
        "the base manifests pass Pod Security restricted and create their NetworkPolicies (server-side dry run)",
        .enabled(if: findExecutable("kubectl") != nil, "needs kubectl"), arguments: Backend.real.suffix(1))
    func podSecurity(backend: Backend) async throws {
        try await TestEnvironment.run(on: backend) { environment in
            let plane = try #require(environment.plane)
            let namespace = try await plane.kubectl([
                "apply", "-f", repositoryRoot.appending(path: "manifests/webhook/namespace.yaml").path,
            ])
            try #require(namespace.succeeded, "\(namespace)")
            let applied = try await plane.kubectl([
                "apply", "--dry-run=server", "-k", repositoryRoot.appending(path: "manifests").path,
            ])
            #expect(applied.succeeded, "\(applied)")
            #expect(!applied.standardError.contains("PodSecurity"), "\(applied)")
            #expect(applied.standardOutput.contains("networkpolicy.networking.k8s.io/sharedlb-allocator"), "\(applied)")
            #expect(applied.standardOutput.contains("networkpolicy.networking.k8s.io/sharedlb-webhook"), "\(applied)")
            // The namespace really enforces it: a Pod without the restricted settings is refused. (Its ServiceAccount
            // first: the controller manager makes `default` a moment after the namespace.)
            _ = try await plane.kubectl(["-n", "sharedlb-system", "create", "serviceaccount", "default"])
            let unrestricted = try await plane.kubectl(
                ["apply", "--dry-run=server", "-f", "-"],
                input: """
                    apiVersion: v1
                    kind: Pod
                    metadata: {name: probe, namespace: sharedlb-system}
                    spec:
                      containers: [{name: c, image: registry.invalid/x}]
                    """)
            #expect(
                !unrestricted.succeeded && unrestricted.standardError.contains("violates PodSecurity \"restricted"),
                "\(unrestricted)")
        }
    }
}
