import Foundation
import SharedLBAllocation
import SharedLBCore
import SharedLBKubernetes
import Testing

/// What a Service that kube-apiserver would refuse as a LoadBalancer becomes with SharedLB.
@Suite("Services invalid as LoadBalancers: the API server's own answer, and no shared LB made unwritable")
struct InvalidLoadBalancerTests {
    static let cases: [(name: String, spec: String, annotations: String)] = [
        ("plain", #""ports":[{"name":"a","port":80}]"#, "{}"),
        ("kubelet-port", #""ports":[{"name":"a","port":10250}]"#, "{}"),
        ("headless", #""clusterIP":"None","ports":[{"name":"a","port":80}]"#, "{}"),
        ("bad-range", #""loadBalancerSourceRanges":["10.0.0.0/33"],"ports":[{"name":"a","port":80}]"#, "{}"),
        (
            "bad-range-annotation", #""ports":[{"name":"a","port":80}]"#,
            #"{"service.beta.kubernetes.io/load-balancer-source-ranges":"nonsense"}"#
        ),
        (
            "range-annotation", #""ports":[{"name":"a","port":80}]"#,
            #"{"service.beta.kubernetes.io/load-balancer-source-ranges":"10.0.0.0/8"}"#
        ),
        ("traffic-policy", #""externalTrafficPolicy":"Foo","ports":[{"name":"a","port":80}]"#, "{}"),
        ("health-check", #""healthCheckNodePort":30001,"ports":[{"name":"a","port":80}]"#, "{}"),
        (
            "twice", #""ports":[{"name":"a","port":80,"nodePort":30080},{"name":"b","port":81,"nodePort":30080}]"#,
            "{}"
        ),
    ]

    /// "accepted as TYPE" or the API server's message.
    static func outcome(
        _ client: KubernetesClient, _ name: String, _ namespace: String, spec: String, annotations: String
    )
        async throws -> String
    {
        let decoded = try JSONDecoder().decode([String: String].self, from: Data(annotations.utf8))
        let manifest = Manifest<KubeService>(
            metadata: ObjectMeta(name: name, namespace: namespace, annotations: decoded.isEmpty ? nil : decoded),
            spec: try JSONParser.parse(Array(#"{"type":"LoadBalancer","selector":{"app":"x"},\#(spec)}"#.utf8)))
        do {
            _ = try await client.create(manifest)
            let stored = try await client.get(KubeService.self, namespace: namespace, name: name)
            return "accepted as \(stored.spec?.type ?? "?")"
        } catch {
            return "\(error.code) \(error.message)"
        }
    }

    @Test(
        "each is answered as without SharedLB (kube-system, outside the webhook's namespaces, is the reference)",
        arguments: Backend.all)
    func sameAnswer(backend: Backend) async throws {
        try await TestEnvironment.run(on: backend) { environment in
            try await environment.register(failurePolicy: .fail)
            let client = environment.client
            _ = try await client.create(Namespace(metadata: ObjectMeta(name: "team-a")))
            for (name, spec, annotations) in Self.cases {
                let without = try await Self.outcome(client, name, "kube-system", spec: spec, annotations: annotations)
                let with = try await Self.outcome(client, name, "team-a", spec: spec, annotations: annotations)
                if without.hasPrefix("accepted") {
                    // Accepted: converted, or (port 10250 on 1.33+) left as the LoadBalancer it is.
                    #expect(with.hasPrefix("accepted"), "\(name): \(with)")
                    if name == "kubelet-port" { #expect(with == "accepted as LoadBalancer") }
                    if name == "plain" || name == "range-annotation" { #expect(with == "accepted as ClusterIP") }
                } else {
                    #expect(with == without, "\(name)")
                }
            }
            let rangeMember = try await client.get(KubeService.self, namespace: "team-a", name: "range-annotation")
            #expect(rangeMember.metadata.annotations?[LoadBalancerValidation.sourceRangesAnnotation] == nil)
            #expect(
                rangeMember.metadata.annotations?[SharedLBNames.requestedAnnotation]?.contains("10.0.0.0/8") == true)
        }
    }

    @Test(
        "a member port the API server refuses on a shared LB is refused for that member alone; the others stay placed",
        arguments: Backend.all)
    func refusedPort(backend: Backend) async throws {
        try await Cluster.run(on: backend) { cluster in
            let client = cluster.client
            // Members converted before the webhook knew the rule (or by an older SharedLB).
            for (name, port) in [("web", 80), ("kubelet", 10250), ("db", 5432)] {
                var service = loadBalancer(name, namespace: "team-a", ports: [(port, "TCP")])
                service.spec?.type = "ClusterIP"
                service.metadata.labels = [SharedLBNames.managedLabel: "true"]
                service.metadata.annotations = [
                    SharedLBNames.requestedAnnotation:
                        #"{"allocateLoadBalancerNodePorts":true,"externalTrafficPolicy":"Cluster","ports":[]}"#
                ]
                _ = try await client.create(service)
            }
            let refuses =
                try await InvalidLoadBalancerTests.outcome(
                    client, "probe", "kube-system", spec: #""ports":[{"name":"a","port":10250}]"#, annotations: "{}"
                )
                .hasPrefix("422")
            if refuses {
                try await cluster.waitForEndpoints(["team-a/web", "team-a/db"], failing: ["team-a/kubelet"])
                let error = try #require(cluster.annotation("team-a/kubelet", SharedLBNames.errorAnnotation))
                #expect(error.contains("refused 10250/TCP") && error.contains("used by kubelet"), "\(error)")
                #expect(cluster.annotation("team-a/kubelet", SharedLBNames.endpointAnnotation) == nil)
                let events = try await client.list(Event.self, namespace: "team-a")
                #expect(
                    events.items.contains {
                        $0.reason == "AllocationFailed" && $0.type == "Warning" && $0.regarding?.name == "kubelet"
                    })
                let ledger = try await cluster.ledger().values.compactMap { $0["allocations"] }.joined()
                #expect(!ledger.contains("10250/TCP"))
            } else {
                try await cluster.waitForEndpoints(["team-a/web", "team-a/db", "team-a/kubelet"])
            }
            #expect(
                cluster.annotation("team-a/web", SharedLBNames.sharedServiceAnnotation)
                    == cluster.annotation("team-a/db", SharedLBNames.sharedServiceAnnotation))
            try await cluster.settle()
            #expect(try await cluster.audit() == [])
        }
    }
}
