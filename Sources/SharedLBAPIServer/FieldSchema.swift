import SharedLBCore

/// What kube-apiserver's schema says about the parts of an object that strategic merge
/// patches and server-side apply treat specially: associative lists (OpenAPI
/// `x-kubernetes-list-map-keys`, strategic `patchMergeKey`), sets of primitives,
/// granular maps (labels) and atomic maps (a Service's `selector`). Everything else is a
/// struct (JSON objects) or atomic (lists and scalars), as in `k8s.io/api`.
struct FieldSchema: Sendable {
    enum Node: Sendable, Equatable {
        /// A Go struct: fields merge one by one; owns no `.` entry of its own.
        case structure
        /// A `map[string]…` merged key by key (`metadata.labels`, a ConfigMap's `data`).
        case map
        /// Replaced whole (a scalar, a list without a list type, `+mapType=atomic`).
        case atomic
        /// A list of objects identified by `keys` (server-side apply) and by `mergeKey`
        /// (strategic merge patch); `defaults` fill key fields the item leaves out.
        case associativeList(keys: [String], mergeKey: String, defaults: [String: JSONValue])
        /// A list of distinct primitives (`metadata.finalizers`).
        case set
    }

    /// Keyed by the dotted field path, list items as `[]`: `spec.ports[].targetPort`.
    let nodes: [String: Node]

    func node(_ path: String, _ value: JSONValue) -> Node {
        if let node = nodes[path] { return node }
        if case .object = value { return .structure }
        return .atomic
    }

    static func path(_ parent: String, _ field: String) -> String {
        parent.isEmpty ? field : "\(parent).\(field)"
    }

    private static let metadata: [String: Node] = [
        "metadata.labels": .map,
        "metadata.annotations": .map,
        "metadata.finalizers": .set,
        "metadata.ownerReferences": .associativeList(keys: ["uid"], mergeKey: "uid", defaults: [:]),
    ]

    private static let conditions = Node.associativeList(keys: ["type"], mergeKey: "type", defaults: [:])

    static func of(_ kind: ResourceKind) -> FieldSchema {
        var nodes = metadata
        switch kind.storage {
        case .services:
            nodes["spec.ports"] = .associativeList(
                keys: ["port", "protocol"], mergeKey: "port", defaults: ["protocol": .string("TCP")])
            nodes["spec.selector"] = .atomic
            nodes["status.conditions"] = conditions
        case .pods:
            nodes["spec.nodeSelector"] = .atomic
            nodes["spec.containers"] = .associativeList(keys: ["name"], mergeKey: "name", defaults: [:])
            nodes["spec.containers[].ports"] = .associativeList(
                keys: ["containerPort", "protocol"], mergeKey: "containerPort", defaults: ["protocol": .string("TCP")])
            nodes["spec.containers[].env"] = .associativeList(keys: ["name"], mergeKey: "name", defaults: [:])
            nodes["spec.containers[].volumeMounts"] = .associativeList(
                keys: ["mountPath"], mergeKey: "mountPath", defaults: [:])
            nodes["spec.volumes"] = .associativeList(keys: ["name"], mergeKey: "name", defaults: [:])
            nodes["status.conditions"] = conditions
            nodes["status.podIPs"] = .associativeList(keys: ["ip"], mergeKey: "ip", defaults: [:])
        case .configMaps:
            nodes["data"] = .map
            nodes["binaryData"] = .map
        case .endpointSlices:
            nodes["endpoints[].deprecatedTopology"] = .map
        case .mutatingWebhookConfigurations:
            nodes["webhooks"] = .associativeList(keys: ["name"], mergeKey: "name", defaults: [:])
        default:
            break
        }
        return FieldSchema(nodes: nodes)
    }
}
