import Foundation
import SharedLBAllocation
import SharedLBController
import SharedLBCore
import SharedLBEnvtest
import SharedLBKubernetes
import Testing

@Suite("Provider presets against the API server")
struct ProviderPresetEndToEndTests {
    /// From v1.26, where MixedProtocolLBService is on (GA; the mock is v1.24's).
    @Test(
        "aws-lbc: Nodes counted with the manifests' RBAC cap listeners × nodes; a TCP+UDP LB asks for TCP_UDP listeners; the LBC's failure reasons",
        arguments: KubeAssets.versions.filter { $0.minor >= 26 }.map(Backend.real))
    func awsLoadBalancerController(backend: Backend) async throws {
        let preset = ProviderPreset.preset(.awsLBC)
        let configuration = testConfiguration(identity: "allocator").with {
            $0.placement.mixedProtocol = preset.mixedProtocol
            $0.placement.maximumTargetsPerLB = 2
            $0.failureReasons = preset.failureReasons
            $0.mixedProtocolAnnotations = preset.mixedProtocolAnnotations
        }
        try await Cluster.run(on: backend, configuration: configuration) { cluster in
            let client = cluster.client
            try await cluster.registerNode(address: "10.0.0.1")
            let counted = try await withTimeout(.seconds(20)) {
                while cluster.allocators[0].countedNodes != 1 { try await Task.sleep(for: .milliseconds(50)) }
                return true
            }
            #expect(counted)
            // One node, two targets per LB: two listeners per shared LB.
            _ = try await client.create(loadBalancer("dns", namespace: "team-a", ports: [(53, "TCP"), (53, "UDP")]))
            _ = try await client.create(loadBalancer("web", namespace: "team-a", ports: [(80, "TCP")]))
            _ = try await client.create(loadBalancer("api", namespace: "team-a", ports: [(81, "TCP")]))
            try await cluster.waitForEndpoints(["team-a/dns", "team-a/web", "team-a/api"])
            let lbs = try await client.list(
                KubeService.self, namespace: SharedLBNames.defaultNamespace,
                labelSelector: "\(SharedLBNames.roleLabel)=\(SharedLBNames.sharedLBRole)"
            ).items
            #expect(lbs.map { $0.spec?.ports?.count ?? 0 }.sorted() == [2, 2])
            let annotation = try #require(preset.mixedProtocolAnnotations.first)
            let dnsLB = try #require(cluster.annotation("team-a/dns", SharedLBNames.sharedServiceAnnotation))
            for lb in lbs {
                let mixed = "\(SharedLBNames.defaultNamespace)/\(lb.metadata.name ?? "")" == dnsLB
                #expect((lb.metadata.annotations?[annotation.key] == annotation.value) == mixed, "\(lb.metadata)")
            }
            // The LBC reports its failures as FailedDeployModel: the members of that LB are told.
            let cloud = EventRecorder(client: client, controller: "service-lb-controller", instance: "test")
            try await cloud.record(
                regarding: ObjectReference(
                    apiVersion: "v1", kind: "Service", namespace: SharedLBNames.defaultNamespace,
                    name: String(dnsLB.split(separator: "/")[1])),
                type: .warning, reason: "FailedDeployModel", action: "Reconcile",
                note: "Failed deploy model due to TooManyListeners")
            let told = try await waitUntil(cluster.services) {
                $0["team-a/dns"]?.metadata.annotations?[SharedLBNames.errorAnnotation]?.contains("FailedDeployModel")
                    == true
            }
            #expect(told)
            try await cluster.settle()
            #expect(try await cluster.audit(mixedProtocol: true) == [])
        }
    }
}
