/// A REST resource the API test server serves.
public struct ResourceKind: Sendable, Hashable {
    public var group: String
    public var version: String
    public var plural: String
    public var kind: String
    public var namespaced: Bool
    /// Writes to the main resource ignore `status`; `/status` writes change only `status`.
    public var hasStatus: Bool
    /// `metadata.generation` is kept (1 on create, +1 when anything but metadata/status changes).
    public var tracksGeneration: Bool

    /// The resource whose storage serves this one: events.k8s.io/v1 Events are the core/v1
    /// Events, converted (``EventConversion``).
    public var storage: ResourceKind { self == .eventsV1 ? .events : self }

    /// `v1` or `group/version`.
    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    public var listKind: String { "\(kind)List" }

    public static let namespaces = ResourceKind(
        group: "", version: "v1", plural: "namespaces", kind: "Namespace", namespaced: false, hasStatus: true,
        tracksGeneration: false)
    public static let services = ResourceKind(
        group: "", version: "v1", plural: "services", kind: "Service", namespaced: true, hasStatus: true,
        tracksGeneration: false)
    public static let pods = ResourceKind(
        group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true, hasStatus: true,
        tracksGeneration: false)
    public static let nodes = ResourceKind(
        group: "", version: "v1", plural: "nodes", kind: "Node", namespaced: false, hasStatus: true,
        tracksGeneration: false)
    public static let configMaps = ResourceKind(
        group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true, hasStatus: false,
        tracksGeneration: false)
    public static let events = ResourceKind(
        group: "", version: "v1", plural: "events", kind: "Event", namespaced: true, hasStatus: false,
        tracksGeneration: false)
    public static let eventsV1 = ResourceKind(
        group: "events.k8s.io", version: "v1", plural: "events", kind: "Event", namespaced: true, hasStatus: false,
        tracksGeneration: false)
    public static let endpointSlices = ResourceKind(
        group: "discovery.k8s.io", version: "v1", plural: "endpointslices", kind: "EndpointSlice", namespaced: true,
        hasStatus: false, tracksGeneration: true)
    public static let leases = ResourceKind(
        group: "coordination.k8s.io", version: "v1", plural: "leases", kind: "Lease", namespaced: true,
        hasStatus: false,
        tracksGeneration: false)
    public static let mutatingWebhookConfigurations = ResourceKind(
        group: "admissionregistration.k8s.io", version: "v1", plural: "mutatingwebhookconfigurations",
        kind: "MutatingWebhookConfiguration", namespaced: false, hasStatus: false, tracksGeneration: true)

    public static let all: [ResourceKind] = [
        .namespaces, .services, .pods, .nodes, .configMaps, .events, .eventsV1, .endpointSlices, .leases,
        .mutatingWebhookConfigurations,
    ]

    /// The resource at `/api/v1/<plural>` or `/apis/<group>/<version>/<plural>`.
    public static func find(group: String, version: String, plural: String) -> ResourceKind? {
        all.first { $0.group == group && $0.version == version && $0.plural == plural }
    }
}
