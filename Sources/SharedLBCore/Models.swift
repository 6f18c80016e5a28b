/// Where a resource lives in the REST API.
public struct ResourceDescriptor: Sendable, Hashable {
    public var group: String
    public var version: String
    public var plural: String
    public var kind: String
    public var namespaced: Bool

    public init(group: String, version: String, plural: String, kind: String, namespaced: Bool) {
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
    }

    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

    /// `/api/v1/namespaces/NS/PLURAL/NAME/SUB`, leaving out what is `nil`.
    public func path(namespace: String?, name: String? = nil, subresource: String? = nil) -> String {
        var path = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        if namespaced, let namespace { path += "/namespaces/\(namespace)" }
        path += "/\(plural)"
        if let name { path += "/\(name)" }
        if let subresource { path += "/\(subresource)" }
        return path
    }
}

/// A typed Kubernetes object. Decoding ignores fields the model does not know.
public protocol KubernetesObject: Codable, Sendable {
    static var descriptor: ResourceDescriptor { get }
    var metadata: ObjectMeta { get set }
}

public struct ObjectMeta: Codable, Sendable, Equatable {
    public var name: String?
    public var generateName: String?
    public var namespace: String?
    public var uid: String?
    public var resourceVersion: String?
    public var generation: Int?
    public var creationTimestamp: String?
    public var deletionTimestamp: String?
    public var labels: [String: String]?
    public var annotations: [String: String]?
    public var ownerReferences: [OwnerReference]?
    public var finalizers: [String]?

    public init(
        name: String? = nil, namespace: String? = nil, labels: [String: String]? = nil,
        annotations: [String: String]? = nil, ownerReferences: [OwnerReference]? = nil
    ) {
        self.name = name
        self.namespace = namespace
        self.labels = labels
        self.annotations = annotations
        self.ownerReferences = ownerReferences
    }
}

public struct OwnerReference: Codable, Sendable, Equatable {
    public var apiVersion: String
    public var kind: String
    public var name: String
    public var uid: String
    public var controller: Bool?
    public var blockOwnerDeletion: Bool?

    public init(
        apiVersion: String, kind: String, name: String, uid: String, controller: Bool? = nil,
        blockOwnerDeletion: Bool? = nil
    ) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.name = name
        self.uid = uid
        self.controller = controller
        self.blockOwnerDeletion = blockOwnerDeletion
    }
}

/// `int` or `string`, as `targetPort` is.
public enum IntOrString: Codable, Sendable, Hashable {
    case int(Int)
    case string(String)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Int.self) {
            self = .int(value)
        } else {
            self = .string(try container.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .int(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        }
    }
}

public struct KubeService: KubernetesObject, Equatable {
    public static let descriptor = ResourceDescriptor(
        group: "", version: "v1", plural: "services", kind: "Service", namespaced: true)
    public var apiVersion: String? = "v1"
    public var kind: String? = "Service"
    public var metadata: ObjectMeta
    public var spec: Spec?
    public var status: Status?

    public init(metadata: ObjectMeta, spec: Spec? = nil) {
        self.metadata = metadata
        self.spec = spec
    }

    public struct Spec: Codable, Sendable, Equatable {
        public var ports: [Port]?
        public var selector: [String: String]?
        public var clusterIP: String?
        public var clusterIPs: [String]?
        public var type: String?
        public var externalIPs: [String]?
        public var sessionAffinity: String?
        public var loadBalancerIP: String?
        public var loadBalancerSourceRanges: [String]?
        public var externalTrafficPolicy: String?
        public var healthCheckNodePort: Int?
        public var sessionAffinityConfig: JSONValue?
        public var ipFamilies: [String]?
        public var ipFamilyPolicy: String?
        public var allocateLoadBalancerNodePorts: Bool?
        public var loadBalancerClass: String?
        public var internalTrafficPolicy: String?
        /// `PreferClose` (`PreferSameZone`), `PreferSameNode`; GA in 1.33, dropped by older API servers.
        public var trafficDistribution: String?

        public init(type: String? = nil, ports: [Port]? = nil, selector: [String: String]? = nil) {
            self.type = type
            self.ports = ports
            self.selector = selector
        }
    }

    public struct Port: Codable, Sendable, Hashable {
        public var name: String?
        public var `protocol`: String?
        public var appProtocol: String?
        public var port: Int
        public var targetPort: IntOrString?
        public var nodePort: Int?

        public init(name: String? = nil, protocol: String? = "TCP", port: Int, targetPort: IntOrString? = nil) {
            self.name = name
            self.protocol = `protocol`
            self.port = port
            self.targetPort = targetPort
        }
    }

    public struct Status: Codable, Sendable, Equatable {
        public var loadBalancer: LoadBalancerStatus?

        public init(loadBalancer: LoadBalancerStatus? = nil) {
            self.loadBalancer = loadBalancer
        }
    }

    public struct LoadBalancerStatus: Codable, Sendable, Equatable {
        public var ingress: [Ingress]?

        public init(ingress: [Ingress]? = nil) {
            self.ingress = ingress
        }
    }

    public struct Ingress: Codable, Sendable, Equatable {
        public var ip: String?
        public var hostname: String?
        /// `VIP` (the default) or `Proxy`: kube-proxy must not short-circuit the address, so
        /// in-cluster clients go through the load balancer too (GA in 1.32).
        public var ipMode: String?

        public init(ip: String? = nil, hostname: String? = nil, ipMode: String? = nil) {
            self.ip = ip
            self.hostname = hostname
            self.ipMode = ipMode
        }
    }
}

public struct ConfigMap: KubernetesObject, Equatable {
    public static let descriptor = ResourceDescriptor(
        group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true)
    public var apiVersion: String? = "v1"
    public var kind: String? = "ConfigMap"
    public var metadata: ObjectMeta
    public var data: [String: String]?

    public init(metadata: ObjectMeta, data: [String: String]? = nil) {
        self.metadata = metadata
        self.data = data
    }
}

public struct Namespace: KubernetesObject, Equatable {
    public static let descriptor = ResourceDescriptor(
        group: "", version: "v1", plural: "namespaces", kind: "Namespace", namespaced: false)
    public var apiVersion: String? = "v1"
    public var kind: String? = "Namespace"
    public var metadata: ObjectMeta

    public init(metadata: ObjectMeta) {
        self.metadata = metadata
    }
}

public struct Lease: KubernetesObject, Equatable {
    public static let descriptor = ResourceDescriptor(
        group: "coordination.k8s.io", version: "v1", plural: "leases", kind: "Lease", namespaced: true)
    public var apiVersion: String? = "coordination.k8s.io/v1"
    public var kind: String? = "Lease"
    public var metadata: ObjectMeta
    public var spec: Spec?

    public init(metadata: ObjectMeta, spec: Spec? = nil) {
        self.metadata = metadata
        self.spec = spec
    }

    public struct Spec: Codable, Sendable, Equatable {
        public var holderIdentity: String?
        public var leaseDurationSeconds: Int?
        /// MicroTime: RFC 3339 with 6 fractional digits (fixture `rest/13h`).
        public var acquireTime: String?
        public var renewTime: String?
        public var leaseTransitions: Int?

        public init(
            holderIdentity: String? = nil, leaseDurationSeconds: Int? = nil, acquireTime: String? = nil,
            renewTime: String? = nil, leaseTransitions: Int? = nil
        ) {
            self.holderIdentity = holderIdentity
            self.leaseDurationSeconds = leaseDurationSeconds
            self.acquireTime = acquireTime
            self.renewTime = renewTime
            self.leaseTransitions = leaseTransitions
        }
    }
}

public struct EndpointSlice: KubernetesObject, Equatable {
    public static let descriptor = ResourceDescriptor(
        group: "discovery.k8s.io", version: "v1", plural: "endpointslices", kind: "EndpointSlice", namespaced: true)
    public var apiVersion: String? = "discovery.k8s.io/v1"
    public var kind: String? = "EndpointSlice"
    public var metadata: ObjectMeta
    /// `IPv4`, `IPv6` or `FQDN`; required, but absent from the empty objects of BOOKMARK events.
    public var addressType: String?
    public var endpoints: [Endpoint]?
    public var ports: [Port]?

    public init(metadata: ObjectMeta, addressType: String? = "IPv4", endpoints: [Endpoint]? = nil, ports: [Port]? = nil)
    {
        self.metadata = metadata
        self.addressType = addressType
        self.endpoints = endpoints
        self.ports = ports
    }

    public struct Endpoint: Codable, Sendable, Equatable {
        public var addresses: [String]
        public var conditions: Conditions?
        public var hostname: String?
        public var targetRef: ObjectReference?
        public var nodeName: String?
        public var zone: String?
        /// Where topology-aware routing sends this endpoint's traffic (set by the EndpointSlice
        /// controller for `trafficDistribution` and `service.kubernetes.io/topology-mode`).
        public var hints: Hints?

        public init(
            addresses: [String], conditions: Conditions? = nil, targetRef: ObjectReference? = nil,
            nodeName: String? = nil, zone: String? = nil, hints: Hints? = nil
        ) {
            self.addresses = addresses
            self.conditions = conditions
            self.targetRef = targetRef
            self.nodeName = nodeName
            self.zone = zone
            self.hints = hints
        }
    }

    public struct Hints: Codable, Sendable, Equatable {
        public struct Name: Codable, Sendable, Equatable {
            public var name: String

            public init(name: String) {
                self.name = name
            }
        }

        public var forZones: [Name]?
        /// `PreferSameNode` (1.33+).
        public var forNodes: [Name]?

        public init(forZones: [Name]? = nil, forNodes: [Name]? = nil) {
            self.forZones = forZones
            self.forNodes = forNodes
        }
    }

    public struct Conditions: Codable, Sendable, Equatable {
        public var ready: Bool?
        public var serving: Bool?
        public var terminating: Bool?

        public init(ready: Bool? = nil, serving: Bool? = nil, terminating: Bool? = nil) {
            self.ready = ready
            self.serving = serving
            self.terminating = terminating
        }
    }

    public struct Port: Codable, Sendable, Equatable {
        public var name: String?
        public var `protocol`: String?
        public var port: Int?
        public var appProtocol: String?

        public init(name: String? = nil, protocol: String? = nil, port: Int? = nil) {
            self.name = name
            self.protocol = `protocol`
            self.port = port
        }
    }
}

public struct ObjectReference: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var kind: String?
    public var namespace: String?
    public var name: String?
    public var uid: String?
    public var resourceVersion: String?

    public init(
        apiVersion: String? = nil, kind: String? = nil, namespace: String? = nil, name: String? = nil,
        uid: String? = nil
    ) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.uid = uid
    }
}

/// events.k8s.io/v1 Event (fixture `rest/13n`).
public struct Event: KubernetesObject, Equatable {
    public static let descriptor = ResourceDescriptor(
        group: "events.k8s.io", version: "v1", plural: "events", kind: "Event", namespaced: true)
    public var apiVersion: String? = "events.k8s.io/v1"
    public var kind: String? = "Event"
    public var metadata: ObjectMeta
    /// MicroTime, required by events.k8s.io/v1.
    public var eventTime: String?
    public var reportingController: String?
    public var reportingInstance: String?
    public var action: String?
    public var reason: String?
    public var regarding: ObjectReference?
    public var note: String?
    /// `Normal` or `Warning`.
    public var type: String?
    /// Repeats of the same event: `count` and `lastObservedTime`.
    public var series: Series?
    /// Events written through core/v1 (most controllers, the cloud's service controller
    /// included) read back here with `eventTime: null` and their times in these (fixture `rest/13n`).
    public var deprecatedFirstTimestamp: String?
    public var deprecatedLastTimestamp: String?
    public var deprecatedCount: Int?

    public struct Series: Codable, Sendable, Equatable {
        public var count: Int
        public var lastObservedTime: String

        public init(count: Int, lastObservedTime: String) {
            self.count = count
            self.lastObservedTime = lastObservedTime
        }
    }

    public init(
        metadata: ObjectMeta, eventTime: String, reportingController: String, reportingInstance: String, action: String,
        reason: String, regarding: ObjectReference, note: String, type: String
    ) {
        self.metadata = metadata
        self.eventTime = eventTime
        self.reportingController = reportingController
        self.reportingInstance = reportingInstance
        self.action = action
        self.reason = reason
        self.regarding = regarding
        self.note = note
        self.type = type
    }
}

/// A list answer: items, and the `resourceVersion`/`continue` of the page.
public struct KubernetesList<Item: KubernetesObject>: Codable, Sendable {
    public struct ListMeta: Codable, Sendable {
        public var resourceVersion: String?
        public var `continue`: String?

        public init(resourceVersion: String? = nil, continue: String? = nil) {
            self.resourceVersion = resourceVersion
            self.continue = `continue`
        }
    }

    public var metadata: ListMeta
    public var items: [Item]

    public init(metadata: ListMeta, items: [Item]) {
        self.metadata = metadata
        self.items = items
    }
}

/// The parts of a Pod endpoint mirroring checks: identity, node and addresses.
public struct Pod: KubernetesObject, Equatable {
    public static let descriptor = ResourceDescriptor(
        group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true)
    public var apiVersion: String? = "v1"
    public var kind: String? = "Pod"
    public var metadata: ObjectMeta
    public var spec: Spec?
    public var status: Status?

    public init(metadata: ObjectMeta, spec: Spec? = nil, status: Status? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    public struct Spec: Codable, Sendable, Equatable {
        public var nodeName: String?

        public init(nodeName: String? = nil) {
            self.nodeName = nodeName
        }
    }

    public struct Status: Codable, Sendable, Equatable {
        public var phase: String?
        public var podIP: String?
        public var podIPs: [PodIP]?

        public init(phase: String? = nil, podIP: String? = nil, podIPs: [PodIP]? = nil) {
            self.phase = phase
            self.podIP = podIP
            self.podIPs = podIPs
        }
    }

    public struct PodIP: Codable, Sendable, Equatable {
        public var ip: String

        public init(ip: String) {
            self.ip = ip
        }
    }
}
