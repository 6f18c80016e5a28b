import Foundation
import SharedLBAllocation
import SharedLBCore
import SharedLBKubernetes
import Testing

@Suite("Topology against the API server: trafficDistribution, hints, ipMode")
struct TopologyEndToEndTests {
    @Test(
        "trafficDistribution makes a pool the shared LB carries, mirrored endpoints keep their hints, ipMode Proxy is told",
        arguments: Backend.all(from: 33))
    func topology(backend: Backend) async throws {
        try await Cluster.run(on: backend) { cluster in
            let client = cluster.client
            var web = loadBalancer("web", namespace: "team-a", ports: [(8080, "TCP")])
            web.spec?.trafficDistribution = "PreferClose"
            _ = try await client.create(web)
            _ = try await client.create(loadBalancer("api", namespace: "team-a", ports: [(9090, "TCP")]))
            try await cluster.waitForEndpoints(["team-a/web", "team-a/api"])
            let shared = try #require(cluster.annotation("team-a/web", SharedLBNames.sharedServiceAnnotation))
            #expect(shared != cluster.annotation("team-a/api", SharedLBNames.sharedServiceAnnotation))
            let name = String(shared.split(separator: "/")[1])
            let lb = try await client.get(KubeService.self, namespace: SharedLBNames.defaultNamespace, name: name)
            #expect(lb.spec?.trafficDistribution == "PreferClose")

            // The member's own slice gets hints from the EndpointSlice controller (on the mock,
            // the test writes it as that controller does); the mirror keeps them.
            let pod = try await cluster.runningPod("team-a", "web-1", ip: "10.244.1.11", labels: ["app": "web"])
            let zone = EndpointSlice.Hints(forZones: [.init(name: Cluster.zone)])
            if !backend.isReal {
                _ = try await client.create(
                    EndpointSlice(
                        metadata: ObjectMeta(
                            name: "web-abcde", namespace: "team-a", labels: [Mirroring.serviceNameLabel: "web"]),
                        endpoints: [
                            EndpointSlice.Endpoint(
                                addresses: ["10.244.1.11"], conditions: .init(ready: true, serving: true),
                                targetRef: ObjectReference(
                                    kind: "Pod", namespace: "team-a", name: "web-1", uid: pod.metadata.uid),
                                nodeName: Cluster.nodeName, zone: Cluster.zone, hints: zone)
                        ],
                        ports: [EndpointSlice.Port(name: "tcp-8080", protocol: "TCP", port: 8080)]))
            }
            let mirrors = Informer(
                client: client, type: EndpointSlice.self, namespace: SharedLBNames.defaultNamespace,
                labelSelector: "\(Mirroring.serviceNameLabel)=\(name)")
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try? await mirrors.run() }
                let hinted = try await waitUntil(mirrors) { slices in
                    slices.values.flatMap { $0.endpoints ?? [] }.contains {
                        $0.addresses == ["10.244.1.11"] && $0.hints == zone
                    }
                }
                #expect(hinted, "mirrored: \(mirrors.snapshot().values.map { $0.endpoints ?? [] })")
                group.cancelAll()
            }

            // The cloud reports the address as ipMode Proxy: the member is told so.
            let address = try #require(lb.status?.loadBalancer?.ingress?.first?.ip)
            let proxied = #"{"status":{"loadBalancer":{"ingress":[{"ip":"\#(address)","ipMode":"Proxy"}]}}}"#
            _ = try await client.patch(
                KubeService.self, namespace: SharedLBNames.defaultNamespace, name: name,
                patch: .merge(try JSONParser.parse(Array(proxied.utf8))), subresource: "status")
            let told = try await waitUntil(cluster.services) {
                $0["team-a/web"]?.metadata.annotations?[SharedLBNames.endpointAnnotation]
                    == "\(address):8080/TCP (ipMode Proxy)"
            }
            #expect(told, "\(cluster.annotation("team-a/web", SharedLBNames.endpointAnnotation) ?? "none")")
            let events = try await client.list(Event.self, namespace: "team-a")
            #expect(
                events.items.contains { $0.regarding?.name == "web" && $0.note?.contains("ipMode is Proxy") == true })
            #expect(cluster.annotation("team-a/api", SharedLBNames.endpointAnnotation)?.contains("Proxy") == false)
            try await cluster.settle()
            #expect(try await cluster.audit() == [])
        }
    }
}
