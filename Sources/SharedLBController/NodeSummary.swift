import SharedLBCore

/// A Node as the allocator keeps it: its name, to count the targets each listener of a
/// shared LB registers (``PlacementConfiguration/maximumTargetsPerLB``).
struct NodeSummary: KubernetesObject {
    static let descriptor = ResourceDescriptor(
        group: "", version: "v1", plural: "nodes", kind: "Node", namespaced: false)
    var metadata: ObjectMeta

    /// The name and resume point only (a Node's labels, annotations and status are large).
    static func lean(_ node: NodeSummary) -> NodeSummary {
        var metadata = ObjectMeta(name: node.metadata.name)
        metadata.resourceVersion = node.metadata.resourceVersion
        metadata.uid = node.metadata.uid
        return NodeSummary(metadata: metadata)
    }
}
