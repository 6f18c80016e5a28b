/// A Pod as the allocator keeps it: what mirroring checks (the Pod exists in its namespace,
/// with this uid, owning these addresses), decoded from a whole Pod and nothing more. A
/// cluster's Pods are mostly none of SharedLB's business; this is all each one costs it.
public struct PodSummary: KubernetesObject, Equatable {
    public static let descriptor = Pod.descriptor

    public var name: String
    public var namespace: String
    public var uid: String
    /// Kept for the informer's resume point; summaries that differ only in it are equal.
    public var resourceVersion: String?
    public var deletionTimestamp: String?
    public var phase: String?
    /// `status.podIPs`, and `status.podIP` when it is not among them.
    public var ips: [String]

    public init(
        name: String, namespace: String, uid: String, resourceVersion: String? = nil,
        deletionTimestamp: String? = nil, phase: String? = nil, ips: [String] = []
    ) {
        self.name = name
        self.namespace = namespace
        self.uid = uid
        self.resourceVersion = resourceVersion
        self.deletionTimestamp = deletionTimestamp
        self.phase = phase
        self.ips = ips
    }

    public init(_ pod: Pod) {
        var ips = pod.status?.podIPs?.map(\.ip) ?? []
        if let ip = pod.status?.podIP, !ips.contains(ip) { ips.append(ip) }
        self.init(
            name: pod.metadata.name ?? "", namespace: pod.metadata.namespace ?? "", uid: pod.metadata.uid ?? "",
            resourceVersion: pod.metadata.resourceVersion, deletionTimestamp: pod.metadata.deletionTimestamp,
            phase: pod.status?.phase, ips: ips)
    }

    /// The fields kept, as ObjectMeta (what informers key and resume by).
    public var metadata: ObjectMeta {
        get {
            var metadata = ObjectMeta(name: name, namespace: namespace)
            metadata.uid = uid
            metadata.resourceVersion = resourceVersion
            metadata.deletionTimestamp = deletionTimestamp
            return metadata
        }
        set {
            name = newValue.name ?? ""
            namespace = newValue.namespace ?? ""
            uid = newValue.uid ?? ""
            resourceVersion = newValue.resourceVersion
            deletionTimestamp = newValue.deletionTimestamp
        }
    }

    public static func == (lhs: PodSummary, rhs: PodSummary) -> Bool {
        (lhs.name, lhs.namespace, lhs.uid, lhs.deletionTimestamp, lhs.phase, lhs.ips)
            == (rhs.name, rhs.namespace, rhs.uid, rhs.deletionTimestamp, rhs.phase, rhs.ips)
    }

    enum Keys: String, CodingKey {
        case apiVersion, kind, metadata, status
        case name, namespace, uid, resourceVersion, deletionTimestamp
        case phase, podIP, podIPs, ip
    }

    /// Decodes a whole Pod, keeping only the summary's fields.
    public init(from decoder: any Decoder) throws {
        let root = try decoder.container(keyedBy: Keys.self)
        let metadata = try root.nestedContainer(keyedBy: Keys.self, forKey: .metadata)
        name = try metadata.decodeIfPresent(String.self, forKey: .name) ?? ""
        namespace = try metadata.decodeIfPresent(String.self, forKey: .namespace) ?? ""
        uid = try metadata.decodeIfPresent(String.self, forKey: .uid) ?? ""
        resourceVersion = try metadata.decodeIfPresent(String.self, forKey: .resourceVersion)
        deletionTimestamp = try metadata.decodeIfPresent(String.self, forKey: .deletionTimestamp)
        ips = []
        phase = nil
        guard root.contains(.status), try !root.decodeNil(forKey: .status) else { return }
        let status = try root.nestedContainer(keyedBy: Keys.self, forKey: .status)
        phase = try status.decodeIfPresent(String.self, forKey: .phase)
        ips = try status.decodeIfPresent([Pod.PodIP].self, forKey: .podIPs)?.map(\.ip) ?? []
        if let ip = try status.decodeIfPresent(String.self, forKey: .podIP), !ips.contains(ip) { ips.append(ip) }
    }

    /// Encodes the summary in a Pod's shape.
    public func encode(to encoder: any Encoder) throws {
        var root = encoder.container(keyedBy: Keys.self)
        try root.encode("v1", forKey: .apiVersion)
        try root.encode("Pod", forKey: .kind)
        try root.encode(metadata, forKey: .metadata)
        var status = root.nestedContainer(keyedBy: Keys.self, forKey: .status)
        try status.encodeIfPresent(phase, forKey: .phase)
        try status.encodeIfPresent(ips.first, forKey: .podIP)
        if !ips.isEmpty { try status.encode(ips.map(Pod.PodIP.init(ip:)), forKey: .podIPs) }
    }
}
