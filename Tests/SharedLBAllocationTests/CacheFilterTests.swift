import Foundation
import SharedLBAllocation
import SharedLBCore
import Testing

@Suite("What the allocator caches, and which changes wake it")
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

    @Test(
        "a Pod change wakes the allocator only in a member's namespace, and only when what it keeps changed",
        arguments: [
            // (namespace, member namespaces, new IP, new labels, wakes)
            ("team-a", ["team-a"] as [String]?, "10.0.0.8", false, true),
            ("team-a", ["team-a"], "10.0.0.7", true, false),  // labels and resourceVersion only
            ("bulk", ["team-a"], "10.0.0.8", false, false),
            ("bulk", nil, "10.0.0.8", false, true),  // before the first pass: every namespace
        ])
    func podChanges(namespace: String, memberList: [String]?, ip: String, relabel: Bool, wakes: Bool) {
        let members = memberList.map(Set.init)
        let old = PodSummary(pod(namespace))
        let new = PodSummary(pod(namespace, ip: ip, version: "2", labels: relabel ? ["a": "b"] : [:]))
        #expect(CacheFilter.concerns(old, new, memberNamespaces: members) == wakes)
        // Created and deleted Pods of a member's namespace always count.
        #expect(CacheFilter.concerns(nil, new, memberNamespaces: members) == (members?.contains(namespace) ?? true))
    }

    @Test(
        "a Service change wakes the allocator when it is or was a member, a shared LB, or carries SharedLB's annotations"
    )
    func serviceChanges() {
        func service(_ namespace: String, labels: [String: String]? = nil, annotations: [String: String]? = nil)
            -> KubeService
        {
            KubeService(metadata: ObjectMeta(name: "s", namespace: namespace, labels: labels, annotations: annotations))
        }
        let plain = service("team-a", annotations: ["kubectl.kubernetes.io/last-applied-configuration": "{}"])
        let managed = service("team-a", labels: [SharedLBNames.managedLabel: "true"])
        let released = service("team-a", annotations: [SharedLBNames.endpointAnnotation: "1.2.3.4:80/TCP"])
        let shared = service("sharedlb-system")
        #expect(!CacheFilter.concerns(plain, plain, controllerNamespace: "sharedlb-system"))
        #expect(CacheFilter.concerns(nil, managed, controllerNamespace: "sharedlb-system"))
        #expect(CacheFilter.concerns(managed, plain, controllerNamespace: "sharedlb-system"))  // unlabelled
        #expect(CacheFilter.concerns(released, nil, controllerNamespace: "sharedlb-system"))
        #expect(CacheFilter.concerns(nil, shared, controllerNamespace: "sharedlb-system"))
        #expect(CacheFilter.lean(plain).metadata.annotations == [:])
    }

    @Test("a slice change wakes the allocator in the controller namespace and in members' namespaces")
    func sliceChanges() {
        func slice(_ namespace: String) -> EndpointSlice {
            EndpointSlice(
                metadata: ObjectMeta(
                    name: "s", namespace: namespace,
                    annotations: ["endpoints.kubernetes.io/last-change-trigger-time": "2026-12-04T00:00:00Z"]))
        }
        #expect(
            CacheFilter.concerns(
                nil, slice("sharedlb-system"), controllerNamespace: "sharedlb-system", memberNamespaces: []))
        #expect(
            CacheFilter.concerns(
                slice("team-a"), nil, controllerNamespace: "sharedlb-system", memberNamespaces: ["team-a"]))
        #expect(
            !CacheFilter.concerns(
                nil, slice("bulk"), controllerNamespace: "sharedlb-system", memberNamespaces: ["team-a"]))
        #expect(CacheFilter.lean(slice("bulk")).metadata.annotations == nil)
    }
}
