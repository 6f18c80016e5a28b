import Foundation
import SharedLBAllocation
import SharedLBCore
import Testing

@Suite("What the allocator caches")
struct CacheFilterTests {
    func pod(_ namespace: String, ip: String = "10.0.0.7", version: String = "1", labels: [String: String] = [:]) -> Pod
    {
        var metadata = ObjectMeta(
            name: "web-1", namespace: namespace, labels: labels,
            annotations: ["kubectl.kubernetes.io/restartedAt": "x"],
            ownerReferences: [OwnerReference(apiVersion: "apps/v1", kind: "ReplicaSet", name: "web", uid: "rs")])
        metadata.uid = "uid-1"
        metadata.resourceVersion = version
        return Pod(
            metadata: metadata, spec: Pod.Spec(nodeName: "node-1"),
            status: Pod.Status(phase: "Running", podIP: ip, podIPs: [Pod.PodIP(ip: ip)]))
    }

    @Test("a Pod summary keeps what mirroring reads, and nothing else; decoded from a whole Pod, it is the same")
    func podSummary() throws {
        let full = pod("team-a")
        let summary = PodSummary(full)
        #expect(summary.name == "web-1" && summary.namespace == "team-a" && summary.uid == "uid-1")
        #expect(summary.ips == ["10.0.0.7"] && summary.phase == "Running" && summary.resourceVersion == "1")
        let decoded = try JSONDecoder().decode(PodSummary.self, from: JSONEncoder().encode(full))
        #expect(decoded == summary && decoded.resourceVersion == "1")
        #expect(try JSONDecoder().decode(PodSummary.self, from: JSONEncoder().encode(summary)) == summary)
        // Mirroring decides on the summary as it did on the whole Pod.
        let endpoint = EndpointSlice.Endpoint(
            addresses: ["10.0.0.7"],
            targetRef: ObjectReference(kind: "Pod", namespace: "team-a", name: "web-1", uid: "uid-1"))
        #expect(Mirroring.belongs(endpoint, namespace: "team-a", pods: ["web-1": summary]))
        var moved = endpoint
        moved.addresses = ["10.0.0.9"]
        #expect(!Mirroring.belongs(moved, namespace: "team-a", pods: ["web-1": summary]))
    }

    @Test("a slice is stored without its annotations, a Service without kubectl's last-applied copy")
    func lean() {
        let slice = EndpointSlice(
            metadata: ObjectMeta(
                name: "s", namespace: "bulk",
                annotations: ["endpoints.kubernetes.io/last-change-trigger-time": "2026-12-04T00:00:00Z"]))
        #expect(CacheFilter.lean(slice).metadata.annotations == nil)
        let service = KubeService(
            metadata: ObjectMeta(
                name: "s", namespace: "team-a",
                annotations: ["kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "a"]))
        #expect(CacheFilter.lean(service).metadata.annotations == ["team": "a"])
    }
}
