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
    /// Associative lists whose items are atomic (`+structType=atomic`: an owner reference
    /// is owned whole, `k:{"uid":"…"}: {}` in fixture 13e).
    var atomicItems: Set<String> = ["metadata.ownerReferences"]
    /// Go's field order for objects at these paths (`""` is the top level), as
    /// kube-apiserver serializes them whatever order a client sent.
    var order: [String: [String]] = ["metadata.ownerReferences[]": ownerReferenceOrder]
    /// Go maps, which encoding/json writes with their keys sorted.
    var sortedMaps: Set<String> = ["metadata.labels", "metadata.annotations"]

    static let ownerReferenceOrder = ["apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion"]

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
        schemas[kind.storage] ?? build(kind)
    }

    private static let schemas = Dictionary(
        uniqueKeysWithValues: ResourceKind.all.map { ($0, build($0)) })

    private static func build(_ kind: ResourceKind) -> FieldSchema {
        var nodes = metadata
        var order: [String: [String]] = ["metadata.ownerReferences[]": ownerReferenceOrder]
        var sortedMaps: Set<String> = ["metadata.labels", "metadata.annotations"]
        switch kind.storage {
        case .services:
            order[""] = ["metadata", "spec", "status"]
            nodes["spec.ports"] = .associativeList(
                keys: ["port", "protocol"], mergeKey: "port", defaults: ["protocol": .string("TCP")])
            nodes["spec.selector"] = .atomic
            sortedMaps.insert("spec.selector")
            nodes["status.conditions"] = conditions
        case .pods:
            order[""] = ["metadata", "spec", "status"]
            nodes["spec.nodeSelector"] = .atomic
            sortedMaps.insert("spec.nodeSelector")
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
            order[""] = ["metadata", "immutable", "data", "binaryData"]
            nodes["data"] = .map
            nodes["binaryData"] = .map
            sortedMaps.formUnion(["data", "binaryData"])
        case .endpointSlices:
            nodes["endpoints[].deprecatedTopology"] = .map
            sortedMaps.insert("endpoints[].deprecatedTopology")
            order.merge([
                "": ["metadata", "addressType", "endpoints", "ports"],
                "endpoints[]": [
                    "addresses", "conditions", "hostname", "targetRef", "deprecatedTopology", "nodeName", "zone",
                    "hints",
                ],
                "endpoints[].conditions": ["ready", "serving", "terminating"],
                "endpoints[].targetRef": [
                    "kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath",
                ],
                "ports[]": ["name", "protocol", "port", "appProtocol"],
            ]) { $1 }
        case .leases:
            order[""] = ["metadata", "spec"]
        case .mutatingWebhookConfigurations:
            order[""] = ["metadata", "webhooks"]
            nodes["webhooks"] = .associativeList(keys: ["name"], mergeKey: "name", defaults: [:])
        default:
            break
        }
        return FieldSchema(nodes: nodes, order: order, sortedMaps: sortedMaps)
    }

    /// `value` with the objects at the paths in ``order`` in Go's field order (unknown
    /// fields after the known ones, as they came).
    func ordered(_ value: JSONValue, path: String = "") -> JSONValue {
        switch value {
        case .object(let object):
            var result = JSONObject(
                members: object.members.map {
                    JSONObject.Member($0.key, ordered($0.value, path: Self.path(path, $0.key)))
                })
            if let fields = order[path] { result = ServiceStrategy.ordered(result, fields) }
            if sortedMaps.contains(path) { result.members.sort { $0.key < $1.key } }
            return .object(result)
        case .array(let items) where order.keys.contains(where: { $0.hasPrefix(path + "[]") }):
            return .array(items.map { ordered($0, path: path + "[]") })
        default:
            return value
        }
    }
}
