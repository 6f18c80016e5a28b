public import SharedLBCore

/// A transport protocol; each one is its own set of slots on a shared LB.
public enum PortProtocol: String, Sendable, Hashable, Comparable, CaseIterable {
    case tcp = "TCP"
    case udp = "UDP"
    case sctp = "SCTP"

    public static func < (lhs: PortProtocol, rhs: PortProtocol) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// One listener of a shared LB: an external port and a protocol.
public struct Slot: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var port: Int
    public var `protocol`: PortProtocol

    public init(port: Int, protocol: PortProtocol) {
        self.port = port
        self.protocol = `protocol`
    }

    public static func < (lhs: Slot, rhs: Slot) -> Bool {
        (lhs.protocol, lhs.port) < (rhs.protocol, rhs.port)
    }

    /// `5432/TCP`.
    public var description: String { "\(port)/\(`protocol`.rawValue)" }
}

/// `preserve` (external port = requested port) or `remap` (a taken port may be replaced).
public enum PortPolicy: String, Sendable, Hashable, CaseIterable {
    case preserve
    case remap
}

/// A port of a member Service, identified by (protocol, port) as Service validation makes them unique.
public struct MemberPort: Sendable, Hashable, Comparable {
    public var name: String
    public var port: Int
    public var `protocol`: PortProtocol

    public init(name: String, port: Int, protocol: PortProtocol) {
        self.name = name
        self.port = port
        self.protocol = `protocol`
    }

    public var slot: Slot { Slot(port: port, protocol: `protocol`) }

    public static func < (lhs: MemberPort, rhs: MemberPort) -> Bool { lhs.slot < rhs.slot }
}

/// Which annotations shape a load balancer, and so decide which members may share one: those
/// under the prefixes load-balancer implementations read (DESIGN.md, "Invariants"), and any
/// prefix the operator adds (`--lb-annotation-prefix`). No other annotation decides sharing:
/// an unrelated edit must not move a member to another LB, that is, to another address.
public struct ShapingAnnotations: Sendable, Hashable {
    /// Cloud providers and load-balancer implementations, by the annotations they document.
    public static let defaultPrefixes = [
        // The in-tree and external cloud providers (AWS and its Load Balancer Controller,
        // Azure, Alibaba, DigitalOcean, Linode, Vultr, Scaleway, OCI, ...).
        "service.beta.kubernetes.io/",
        // IBM Cloud, Tencent, and kube-proxy's own.
        "service.kubernetes.io/",
        // GKE.
        "cloud.google.com/", "networking.gke.io/",
        // MetalLB, Cilium, kube-vip, PureLB, OpenELB, LoxiLB, k3s ServiceLB, Tailscale.
        "metallb.universe.tf/", "metallb.io/", "io.cilium/", "lbipam.cilium.io/", "service.cilium.io/",
        "kube-vip.io/", "purelb.io/", "lb.kubesphere.io/", "eip.openelb.kubesphere.io/",
        "protocol.openelb.kubesphere.io/", "loxilb.io/", "svccontroller.k3s.cattle.io/", "tailscale.com/",
        // OpenStack (and OVHcloud), OCI, Hetzner, DigitalOcean, Exoscale, Civo, Huawei, Tencent, Yandex.
        "loadbalancer.openstack.org/", "oci.oraclecloud.com/", "oci-network-load-balancer.oraclecloud.com/",
        "load-balancer.hetzner.cloud/", "kubernetes.digitalocean.com/", "service.beta.exoscale.ch/",
        "kubernetes.civo.com/", "kubernetes.io/elb.", "service.cloud.tencent.com/", "yandex.cloud/",
    ]

    public static let standard = ShapingAnnotations()

    /// Every prefix in force: the defaults, then the operator's.
    public let prefixes: [String]

    public init(adding extra: [String] = []) {
        prefixes = Self.defaultPrefixes + extra.filter { !$0.isEmpty && !Self.defaultPrefixes.contains($0) }
    }

    public func shapes(_ annotation: String) -> Bool {
        prefixes.contains { annotation.hasPrefix($0) }
    }
}

/// Which members may share a load balancer: the pool and every setting that shapes one
/// (DESIGN.md, "Invariants"). The shared LB Service carries all of them.
public struct CompatibilityKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The `sharedlb.io/pool` value (`""` without one).
    public let pool: String
    /// The shared LB's spec settings, only those present (names as in `spec`).
    public let settings: JSONObject
    /// The annotations the shared LB carries: the members' load-balancer-shaping ones.
    public let annotations: [String: String]
    /// For `externalTrafficPolicy: Local` only: the pods selected, and their namespace.
    /// kube-proxy health-checks per Service, so Local members can only share when they
    /// select the same pods (a selector means nothing outside its namespace).
    public let selector: [String: String]?
    public let namespace: String?
    /// Canonical JSON (sorted keys): the identity of the key, stored in the ledger.
    public let canonical: String

    public init(
        pool: String, settings: JSONObject, annotations: [String: String], selector: [String: String]? = nil,
        namespace: String? = nil
    ) {
        self.pool = pool
        self.settings = settings
        self.annotations = annotations
        self.selector = selector
        self.namespace = namespace
        var root = JSONObject()
        if let selector {
            root["selector"] = .object(
                JSONObject(selector.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) }))
        }
        if let namespace { root["namespace"] = .string(namespace) }
        if !annotations.isEmpty {
            root["annotations"] = .object(
                JSONObject(annotations.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) }))
        }
        if !pool.isEmpty { root["pool"] = .string(pool) }
        root["settings"] = .object(settings)
        canonical = JSONWriter.encode(.object(root), sortedKeys: true)
    }

    /// Reads a canonical key back (from a ledger shard).
    public init(canonical text: String) throws(LedgerError) {
        guard let value = try? JSONParser.parse(Array(text.utf8)), case .object(let root) = value,
            case .object(let settings)? = root["settings"]
        else { throw LedgerError("key is not a compatibility key: \(text.prefix(200))") }
        var annotations: [String: String] = [:]
        for member in root["annotations"]?.objectValue?.members ?? [] {
            guard let value = member.value.stringValue else {
                throw LedgerError("key annotation \(member.key) is not a string")
            }
            annotations[member.key] = value
        }
        var selector: [String: String]?
        if let members = root["selector"]?.objectValue?.members {
            selector = Dictionary(members.map { ($0.key, $0.value.stringValue ?? "") }, uniquingKeysWith: { a, _ in a })
        }
        self.init(
            pool: root["pool"]?.stringValue ?? "", settings: settings, annotations: annotations, selector: selector,
            namespace: root["namespace"]?.stringValue)
    }

    /// The pool part of shared LB names.
    public var poolName: String { Naming.poolName(pool.isEmpty ? nil : pool) }

    public static func == (lhs: CompatibilityKey, rhs: CompatibilityKey) -> Bool { lhs.canonical == rhs.canonical }
    public func hash(into hasher: inout Hasher) { hasher.combine(canonical) }
    public static func < (lhs: CompatibilityKey, rhs: CompatibilityKey) -> Bool { lhs.canonical < rhs.canonical }
    public var description: String { canonical }
}

/// A managed Service as the allocator sees it.
public struct Member: Sendable, Hashable {
    public var namespace: String
    public var name: String
    public var uid: String
    public var creationTimestamp: String
    public var ports: [MemberPort]
    public var key: CompatibilityKey
    /// The `sharedlb.io/port-policy` annotation, when set.
    public var policy: PortPolicy?
    /// `external-dns.alpha.kubernetes.io/hostname` values, for the shared LB.
    public var hostnames: [String]
    /// Why this member cannot be placed (a malformed annotation), reported on it.
    public var problem: String?

    /// `namespace/name`.
    public var id: String { "\(namespace)/\(name)" }

    public static let hostnameAnnotation = "external-dns.alpha.kubernetes.io/hostname"
    /// Fields of `sharedlb.io/requested` the shared LB carries, in `spec` order.
    static let requestedSettings = [
        "externalTrafficPolicy", "loadBalancerIP", "loadBalancerSourceRanges", "allocateLoadBalancerNodePorts",
        "loadBalancerClass",
    ]
    static let liveSettings = [
        "sessionAffinity", "sessionAffinityConfig", "ipFamilies", "ipFamilyPolicy", "trafficDistribution",
    ]

    /// True for a Service SharedLB should place: labelled managed, converted (ClusterIP: a
    /// LoadBalancer has a load balancer of its own), not opted out, not being deleted.
    public static func isMember(_ service: KubeService) -> Bool {
        service.metadata.labels?[SharedLBNames.managedLabel] == "true"
            && (service.spec?.type ?? "ClusterIP") == "ClusterIP"
            && service.metadata.annotations?[SharedLBNames.dedicatedAnnotation] != "true"
            && service.metadata.deletionTimestamp == nil && service.metadata.uid != nil
    }

    public init(
        namespace: String, name: String, uid: String, creationTimestamp: String = "", ports: [MemberPort],
        key: CompatibilityKey, policy: PortPolicy? = nil, hostnames: [String] = [], problem: String? = nil
    ) {
        self.namespace = namespace
        self.name = name
        self.uid = uid
        self.creationTimestamp = creationTimestamp
        self.ports = ports.sorted()
        self.key = key
        self.policy = policy
        self.hostnames = hostnames
        self.problem = problem
    }

    /// The member a managed Service stands for; `nil` when ``isMember(_:)`` is false.
    public init?(service: KubeService, shaping: ShapingAnnotations = .standard) {
        guard Self.isMember(service), let uid = service.metadata.uid else { return nil }
        let annotations = service.metadata.annotations ?? [:]
        var problems: [String] = []
        var requested = JSONObject()
        if let text = annotations[SharedLBNames.requestedAnnotation] {
            if case .object(let object)? = try? JSONParser.parse(Array(text.utf8)) {
                requested = object
            } else {
                problems.append("\(SharedLBNames.requestedAnnotation) is not a JSON object")
            }
        }
        var settings = JSONObject()
        for field in Self.requestedSettings {
            if let value = requested[field], !value.isNull { settings[field] = value }
        }
        // What kube-apiserver defaults on every LoadBalancer Service, so members whose
        // annotation lacks them still share with those that record them.
        settings["externalTrafficPolicy"] = settings["externalTrafficPolicy"] ?? .string("Cluster")
        settings["allocateLoadBalancerNodePorts"] = settings["allocateLoadBalancerNodePorts"] ?? .bool(true)
        if case .array(let ranges)? = settings["loadBalancerSourceRanges"] {
            // Order and duplicates do not change what a source range list allows.
            let sorted = Set(ranges.compactMap(\.stringValue)).sorted()
            settings["loadBalancerSourceRanges"] = sorted.isEmpty ? nil : .array(sorted.map(JSONValue.string))
        }
        if let spec = service.spec {
            if let value = spec.sessionAffinity { settings["sessionAffinity"] = .string(value) }
            if let value = spec.sessionAffinityConfig, !value.isNull { settings["sessionAffinityConfig"] = value }
            if let value = spec.ipFamilies { settings["ipFamilies"] = .array(value.map(JSONValue.string)) }
            if let value = spec.ipFamilyPolicy { settings["ipFamilyPolicy"] = .string(value) }
            // Topology-aware routing: kube-proxy reads it from the shared LB, which routes to
            // every member's endpoints, so only members that ask for the same one share.
            if let value = spec.trafficDistribution { settings["trafficDistribution"] = .string(value) }
        }
        var shapingAnnotations: [String: String] = [:]
        for (key, value) in annotations where shaping.shapes(key) { shapingAnnotations[key] = value }
        // LB-only annotations the webhook moved into `requested` (a ClusterIP Service may not hold them).
        for member in requested["annotations"]?.objectValue?.members ?? [] {
            if let value = member.value.stringValue { shapingAnnotations[member.key] = value }
        }
        var policy: PortPolicy?
        if let text = annotations[SharedLBNames.portPolicyAnnotation] {
            policy = PortPolicy(rawValue: text)
            if policy == nil {
                problems.append("\(SharedLBNames.portPolicyAnnotation) must be preserve or remap, not \"\(text)\"")
            }
        }
        var ports: [MemberPort] = []
        for port in service.spec?.ports ?? [] {
            guard let proto = PortProtocol(rawValue: port.protocol ?? "TCP") else {
                problems.append("port \(port.port) has unsupported protocol \(port.protocol ?? "")")
                continue
            }
            ports.append(MemberPort(name: port.name ?? "", port: port.port, protocol: proto))
        }
        let local = settings["externalTrafficPolicy"]?.stringValue == "Local"
        let hostnames = (annotations[Self.hostnameAnnotation] ?? "").split(separator: ",").map {
            String($0.filter { !$0.isWhitespace })
        }.filter { !$0.isEmpty }
        self.init(
            namespace: service.metadata.namespace ?? "default", name: service.metadata.name ?? "", uid: uid,
            creationTimestamp: service.metadata.creationTimestamp ?? "", ports: ports,
            key: CompatibilityKey(
                pool: annotations[SharedLBNames.poolAnnotation] ?? "", settings: settings,
                annotations: shapingAnnotations, selector: local ? (service.spec?.selector ?? [:]) : nil,
                namespace: local ? (service.metadata.namespace ?? "default") : nil),
            policy: policy, hostnames: hostnames, problem: problems.isEmpty ? nil : problems.joined(separator: "; "))
    }

    /// The groups of ports that must share one LB: all of them, or one group per protocol.
    public func groups(mixedProtocol: Bool) -> [[MemberPort]] {
        if mixedProtocol { return ports.isEmpty ? [] : [ports] }
        return PortProtocol.allCases.compactMap { proto in
            let group = ports.filter { $0.protocol == proto }
            return group.isEmpty ? nil : group
        }
    }
}
