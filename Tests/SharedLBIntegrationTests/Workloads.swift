import Foundation
import SharedLBCore
import SharedLBKubernetes
import Testing

/// A kind of object the tests write as users write it (kinds SharedLB itself never models).
protocol Resource {
    static var descriptor: ResourceDescriptor { get }
}

extension Pod: Resource {}
extension KubeService: Resource {}

enum NodeResource: Resource {
    static let descriptor = ResourceDescriptor(
        group: "", version: "v1", plural: "nodes", kind: "Node", namespaced: false)
}

enum ServiceAccountResource: Resource {
    static let descriptor = ResourceDescriptor(
        group: "", version: "v1", plural: "serviceaccounts", kind: "ServiceAccount", namespaced: true)
}

/// An object of `R` as a user writes it, its `spec` raw JSON (a real API server requires
/// fields SharedLB's models leave out, such as a Pod's containers); for creating only.
struct Manifest<R: Resource>: KubernetesObject {
    static var descriptor: ResourceDescriptor { R.descriptor }
    var apiVersion = R.descriptor.apiVersion
    var kind = R.descriptor.kind
    var metadata: ObjectMeta
    var spec: JSONValue?
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
            Manifest<Pod>(metadata: ObjectMeta(name: name, namespace: namespace, labels: labels), spec: spec))
        return try await setPodReady(namespace, name, ip: ip, ready: true)
    }

    /// The Node with `address` as its InternalIP (kube-proxy v1.34 waits for a Node address).
    func registerNode(address: String) async throws {
        try await prepareForPods(nil)
        let status = """
            {"status":{"addresses":[{"type":"InternalIP","address":"\(address)"},{"type":"Hostname","address":"\(Self.nodeName)"}]}}
            """
        _ = try await client.patch(
            Manifest<NodeResource>.self, namespace: nil, name: Self.nodeName,
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
        let node = Manifest<NodeResource>(
            metadata: ObjectMeta(name: Self.nodeName, labels: ["topology.kubernetes.io/zone": Self.zone]))
        do { _ = try await client.create(node) } catch  where error.kind == .alreadyExists {}
        guard let namespace else { return }
        let account = Manifest<ServiceAccountResource>(metadata: ObjectMeta(name: "default", namespace: namespace))
        do { _ = try await client.create(account) } catch  where error.kind == .alreadyExists {}
    }
}
