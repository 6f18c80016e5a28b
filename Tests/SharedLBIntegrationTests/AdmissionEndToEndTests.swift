import Foundation
import Logging
import ServiceLifecycle
import SharedLBAPIServer
import SharedLBCertificates
import SharedLBCore
import SharedLBDemo
import SharedLBKubernetes
import SharedLBWebhook
import Testing

func loadBalancer(_ name: String, namespace: String) -> KubeService {
    KubeService(
        metadata: ObjectMeta(name: name, namespace: namespace),
        spec: .init(
            type: "LoadBalancer", ports: [.init(name: "pg", port: 5432, targetPort: .int(5432))],
            selector: ["app": name]))
}

@Suite("API server (in-repo and real) → sharedlb webhook over TLS")
struct AdmissionEndToEndTests {
    @Test(
        "a LoadBalancer create comes back stored as a managed ClusterIP Service; excluded namespaces are not called",
        arguments: Backend.all)
    func converted(backend: Backend) async throws {
        try await TestEnvironment.run(on: backend) { environment in
            try await environment.register(failurePolicy: .fail)
            let client = environment.client
            _ = try await client.create(Namespace(metadata: ObjectMeta(name: "team-a")))
            let created = try await client.create(loadBalancer("db", namespace: "team-a"))
            #expect(created.spec?.type == "ClusterIP")
            #expect(created.spec?.ports?.first?.nodePort == nil)
            #expect(created.spec?.externalTrafficPolicy == nil)
            #expect(created.metadata.labels?["sharedlb.io/managed"] == "true")
            let requested = try #require(created.metadata.annotations?["sharedlb.io/requested"])
            #expect(requested.contains(#""port":5432"#))
            // kube-system is excluded by the namespaceSelector: a real LoadBalancer, and no call.
            let system = try await client.create(loadBalancer("infra", namespace: "kube-system"))
            #expect(system.spec?.type == "LoadBalancer")
            let metrics = String(decoding: environment.webhookMetrics.exposition(), as: UTF8.self)
            #expect(metrics.contains(#"sharedlb_webhook_requests_total{operation="CREATE",result="converted"} 1"#))
            #expect(metrics.contains(#"sharedlb_webhook_requests_total{operation="CREATE",result="unchanged"} 0"#))
            // A re-apply of the managed Service (back to LoadBalancer) is converted again by the webhook.
            let reapplied = try await client.patch(
                KubeService.self, namespace: "team-a", name: "db",
                patch: .merge(try JSONParser.parse(Array(#"{"spec":{"type":"LoadBalancer"}}"#.utf8))))
            #expect(reapplied.spec?.type == "ClusterIP")
        }
    }

    @Test(
        "registered by Service as the manifests do: routed to its endpoint over TLS for <name>.<namespace>.svc; without a ready endpoint the failure policy applies"
    )
    func serviceReference() async throws {
        try await TestEnvironment.run(on: .mock) { environment in
            let client = environment.client
            try await environment.local!.registerAsService(failurePolicy: .fail)
            let created = try await client.create(loadBalancer("db", namespace: "default"))
            #expect(created.spec?.type == "ClusterIP")
            #expect(created.metadata.labels?[SharedLBNames.managedLabel] == "true")

            // No ready endpoint: the failure policy, with kube-apiserver's reason.
            _ = try environment.handler.store.delete(
                .endpointSlices, namespace: "sharedlb-system", name: "sharedlb-webhook-local")
            await #expect {
                try await client.create(loadBalancer("no-endpoints", namespace: "default"))
            } throws: { error in
                let error = error as? KubernetesError
                return error?.code == 500
                    && error?.message.contains(#"no endpoints available for service \"sharedlb-webhook\""#) == true
            }
        }
    }

    @Test("a webhook that is down: Fail rejects the create, Ignore lets it through unconverted", arguments: Backend.all)
    func webhookDown(backend: Backend) async throws {
        try await TestEnvironment.run(on: backend) { environment in
            let client = environment.client
            // Nothing listens on port 1.
            try await environment.register(url: "https://127.0.0.1:1/mutate", failurePolicy: .fail, name: "down-fail")
            try await environment.waitForRegistration(refusing: true)
            await #expect {
                try await client.create(loadBalancer("blocked", namespace: "default"))
            } throws: { error in
                let error = error as? KubernetesError
                return error?.code == 500
                    && error?.message.contains("failed calling webhook \"services.sharedlb.io\"") == true
            }
            try await environment.unregister("down-fail")
            try await environment.register(
                url: "https://127.0.0.1:1/mutate", failurePolicy: .ignore, name: "down-ignore")
            try await environment.waitForRegistration(refusing: false)
            let created = try await client.create(loadBalancer("through", namespace: "default"))
            #expect(created.spec?.type == "LoadBalancer")
            #expect(created.spec?.ports?.first?.nodePort != nil)
        }
    }

    // matchConditions: beta and on by default from 1.28 (GA 1.30); older servers drop the field.
    @Test(
        "fail-closed with matchConditions (the fail-closed overlay): while the webhook is down only LoadBalancer writes are refused",
        arguments: Backend.all(from: 28)
    )
    func failClosedOnlyForLoadBalancers(backend: Backend) async throws {
        try await TestEnvironment.run(on: backend) { environment in
            let client = environment.client
            try await environment.registerFailClosedOverlay(url: "https://127.0.0.1:1/mutate", name: "down")
            var clusterIP = loadBalancer("internal", namespace: "default")
            clusterIP.spec?.type = "ClusterIP"
            let stored = try await client.create(clusterIP)
            await #expect {
                try await client.create(loadBalancer("blocked", namespace: "default"))
            } throws: { error in
                (error as? KubernetesError)?.code == 500
            }
            // Turning a ClusterIP Service into a LoadBalancer is refused too (the new object matches).
            await #expect(throws: KubernetesError.self) {
                try await client.patch(
                    KubeService.self, namespace: "default", name: "internal",
                    patch: .merge(try JSONParser.parse(Array(#"{"spec":{"type":"LoadBalancer"}}"#.utf8))))
            }
            #expect(
                try await client.get(KubeService.self, namespace: "default", name: "internal").spec?.type == "ClusterIP"
            )
            // With the webhook up, the same LoadBalancer is converted.
            try await environment.unregister("down")
            try await environment.registerFailClosedOverlay(name: "up")
            // kube-apiserver loads registrations through its informer: dry runs until "up" converts.
            let loaded = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < loaded {
                let probe = try? await client.create(loadBalancer("probe", namespace: "default"), dryRun: true)
                if probe?.spec?.type == "ClusterIP" { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let converted = try await client.create(loadBalancer("shared", namespace: "default"))
            #expect(converted.spec?.type == "ClusterIP")
            #expect(converted.metadata.labels?[SharedLBNames.managedLabel] == "true")
            #expect(stored.metadata.labels?[SharedLBNames.managedLabel] == nil)
        }
    }

    @Test("status writes never call the webhook", arguments: Backend.all)
    func statusNotAdmitted(backend: Backend) async throws {
        try await TestEnvironment.run(on: backend) { environment in
            try await environment.register(failurePolicy: .fail)
            let client = environment.client
            _ = try await client.create(loadBalancer("db", namespace: "default"))
            let before = String(decoding: environment.webhookMetrics.exposition(), as: UTF8.self)
            // (Not status.loadBalancer: on a ClusterIP Service 1.29+ refuse it.)
            let condition = try JSONParser.parse(
                Array(
                    #"{"status":{"conditions":[{"type":"Probed","status":"True","lastTransitionTime":"2026-01-01T00:00:00Z","reason":"Test","message":"a status write"}]}}"#
                        .utf8))
            let written = try await client.patch(
                KubeService.self, namespace: "default", name: "db", patch: .merge(condition), subresource: "status")
            #expect(written.metadata.resourceVersion != nil)
            let after = String(decoding: environment.webhookMetrics.exposition(), as: UTF8.self)
            #expect(before.contains(#"operation="UPDATE",result="unchanged"} 0"#))
            #expect(after.contains(#"operation="UPDATE",result="unchanged"} 0"#))
        }
    }
}
