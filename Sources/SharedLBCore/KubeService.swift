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
