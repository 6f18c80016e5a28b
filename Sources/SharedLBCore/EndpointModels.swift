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
