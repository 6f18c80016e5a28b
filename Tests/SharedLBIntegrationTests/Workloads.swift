import Foundation
import SharedLBCore
import SharedLBKubernetes
import Testing

/// A Pod as a user would write it (a real API server requires containers), for creating only.
struct PodManifest: KubernetesObject {
    static let descriptor = Pod.descriptor
    var apiVersion = "v1"
    var kind = "Pod"
    var metadata: ObjectMeta
    var spec: JSONValue
}

/// A Node for fake Pods to run on: no kubelet, and node lifecycle is off, so it stays as made.
struct NodeManifest: KubernetesObject {
    static let descriptor = ResourceDescriptor(
        group: "", version: "v1", plural: "nodes", kind: "Node", namespaced: false)
    var apiVersion = "v1"
    var kind = "Node"
    var metadata: ObjectMeta
}

/// A namespace's `default` ServiceAccount, which a real API server needs before it admits a Pod.
struct ServiceAccountManifest: KubernetesObject {
    static let descriptor = ResourceDescriptor(
        group: "", version: "v1", plural: "serviceaccounts", kind: "ServiceAccount", namespaced: true)
    var apiVersion = "v1"
    var kind = "ServiceAccount"
    var metadata: ObjectMeta
}

extension Cluster {
    static let nodeName = "node-1"
    static let zone = "zone-a"

    /// A Pod that runs and is Ready at `ip`, as a kubelet would report it. On a real control plane
    /// it runs on a fake Node, so the EndpointSlice controller publishes it for matching Services.
    func runningPod(_ namespace: String, _ name: String, ip: String, labels: [String: String] = [:]) async throws
        -> Pod
    {
        if backend.isReal { try await prepareForPods(namespace) }
        let spec = try JSONParser.parse(
            Array(
                #"{"nodeName":"\#(Self.nodeName)","containers":[{"name":"app","image":"registry.invalid/app"}]}"#.utf8))
        _ = try await client.create(
            PodManifest(metadata: ObjectMeta(name: name, namespace: namespace, labels: labels), spec: spec))
        return try await setPodReady(namespace, name, ip: ip, ready: true)
    }

    /// The Node with `address` as its InternalIP (kube-proxy v1.34 waits for a Node address).
    func registerNode(address: String) async throws {
        try await prepareForPods(nil)
        let status = """
            {"status":{"addresses":[{"type":"InternalIP","address":"\(address)"},{"type":"Hostname","address":"\(Self.nodeName)"}]}}
            """
        _ = try await client.patch(
            NodeManifest.self, namespace: nil, name: Self.nodeName,
            patch: .merge(try JSONParser.parse(Array(status.utf8))), subresource: "status")
    }

    /// Reports the Pod Running at `ip`, with its Ready condition `ready`, through the status subresource.
    @discardableResult
    func setPodReady(_ namespace: String, _ name: String, ip: String, ready: Bool) async throws -> Pod {
        let status = """
            {"status":{"phase":"Running","podIP":"\(ip)","podIPs":[{"ip":"\(ip)"}],
            "conditions":[{"type":"Ready","status":"\(ready ? "True" : "False")"}]}}
            """
        return try await client.patch(
            Pod.self, namespace: namespace, name: name, patch: .merge(try JSONParser.parse(Array(status.utf8))),
            subresource: "status")
    }

    /// The Node, and the namespace's `default` ServiceAccount (the controller manager makes it
    /// too, a few seconds after a start; whoever is first wins).
    private func prepareForPods(_ namespace: String?) async throws {
        let node = NodeManifest(
            metadata: ObjectMeta(name: Self.nodeName, labels: ["topology.kubernetes.io/zone": Self.zone]))
        do { _ = try await client.create(node) } catch  where error.kind == .alreadyExists {}
        guard let namespace else { return }
        let account = ServiceAccountManifest(metadata: ObjectMeta(name: "default", namespace: namespace))
        do { _ = try await client.create(account) } catch  where error.kind == .alreadyExists {}
    }
}
