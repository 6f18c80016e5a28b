public import SharedLBCore

/// Cluster IPs from 10.96.0.0/12 and node ports from 30000-32767, as the real API server
/// hands them out after admission (fixtures: `clusterIP`, `clusterIPs`, `ipFamilies: [IPv4]`,
/// `ipFamilyPolicy: SingleStack`). Sequential rather than random, so tests are repeatable.
public struct ServiceAllocator: Sendable {
    static let network: UInt32 = 10 << 24 | 96 << 16  // 10.96.0.0
    static let size: UInt32 = 1 << 20  // /12
    public static let nodePortRange = 30000...32767

    private var usedIPs: Set<UInt32> = [network, network + 1]  // the network address and the kubernetes Service
    private var nextIP: UInt32 = network + 10
    private var usedNodePorts: Set<Int> = []
    private var nextNodePort = nodePortRange.lowerBound

    public init() {}

    /// Assigns what a new Service needs; errors are 422 causes with the real wording.
    public mutating func allocate(_ service: inout JSONValue) throws(APIStatus) {
        guard case .object(var root) = service, case .object(var spec)? = root["spec"] else { return }
        let type = spec["type"]?.stringValue ?? "ClusterIP"
        let name = root["metadata"]?["name"]?.stringValue ?? ""
        var causes: [APIStatus.Cause] = []
        var claimedIP: UInt32?
        if type != "ExternalName" {
            switch spec["clusterIP"]?.stringValue {
            case "None":
                spec["clusterIPs"] = .array([.string("None")])
            case let requested? where !requested.isEmpty:
                if let address = Self.parseIPv4(requested), address &- Self.network < Self.size,
                    !usedIPs.contains(address)
                {
                    claimedIP = address
                } else {
                    causes.append(
                        .invalid(
                            "spec.clusterIPs", value: .array([.string(requested)]),
                            "failed to allocate IP \(requested): provided IP is already allocated"))
                }
            default:
                claimedIP = nextFreeIP()
                spec["clusterIP"] = .string(Self.format(claimedIP!))
            }
            if let claimedIP { spec["clusterIPs"] = .array([.string(Self.format(claimedIP))]) }
            spec["ipFamilies"] = spec["ipFamilies"] ?? .array([.string("IPv4")])
            spec["ipFamilyPolicy"] = spec["ipFamilyPolicy"] ?? .string("SingleStack")
        }
        var claimedPorts: [Int] = []
        let wantsNodePorts =
            type == "NodePort" || (type == "LoadBalancer" && spec["allocateLoadBalancerNodePorts"]?.boolValue != false)
        if wantsNodePorts || type == "LoadBalancer", case .array(var ports)? = spec["ports"] {
            for index in ports.indices {
                guard case .object(var port) = ports[index] else { continue }
                if let requested = port["nodePort"].flatMap(ServiceStrategy.integer) {
                    if !Self.nodePortRange.contains(requested) || usedNodePorts.contains(requested)
                        || claimedPorts.contains(requested)
                    {
                        causes.append(
                            .invalid(
                                "spec.ports[\(index)].nodePort", value: .number(String(requested)),
                                "provided port is already allocated"))
                    } else {
                        claimedPorts.append(requested)
                    }
                } else if wantsNodePorts {
                    let allocated = try nextFreeNodePort(excluding: claimedPorts)
                    claimedPorts.append(allocated)
                    port["nodePort"] = .number(String(allocated))
                }
                ports[index] = .object(ServiceStrategy.ordered(port, ServiceStrategy.portFieldOrder))
            }
            spec["ports"] = .array(ports)
        }
        if type == "LoadBalancer", spec["externalTrafficPolicy"]?.stringValue == "Local",
            spec["healthCheckNodePort"] == nil
        {
            let allocated = try nextFreeNodePort(excluding: claimedPorts)
            claimedPorts.append(allocated)
            spec["healthCheckNodePort"] = .number(String(allocated))
        }
        guard causes.isEmpty else { throw APIStatus.invalid(kind: "Service", name: name, causes: causes) }
        if let claimedIP { usedIPs.insert(claimedIP) }
        usedNodePorts.formUnion(claimedPorts)
        root["spec"] = .object(ServiceStrategy.ordered(spec, ServiceStrategy.specFieldOrder))
        service = .object(root)
    }

    /// Frees the cluster IP and node ports `service` holds (on delete).
    public mutating func release(_ service: JSONValue) {
        usedNodePorts.subtract(Self.nodePorts(of: service))
        if let address = service["spec"]?["clusterIP"]?.stringValue.flatMap(Self.parseIPv4) {
            usedIPs.remove(address)
        }
    }

    /// Re-allocates for an UPDATE: what the new object keeps stays claimed, what it drops
    /// is freed, what it adds (a type change to NodePort) is allocated. All or nothing.
    public mutating func allocateUpdate(_ service: inout JSONValue, old: JSONValue) throws(APIStatus) {
        Self.keepNodePorts(&service, old: old)
        let saved = self
        release(old)
        do {
            try allocate(&service)
        } catch {
            self = saved
            throw error
        }
    }

    /// kube-apiserver's `patchAllocatedValues`: an update (a PUT or a patch that replaces
    /// `spec.ports`) that leaves a port's nodePort out keeps the one the old port of the same
    /// name had, unless another port of the new object already uses it.
    static func keepNodePorts(_ service: inout JSONValue, old: JSONValue) {
        func needsNodePorts(_ service: JSONValue) -> Bool {
            let type = service["spec"]?["type"]?.stringValue
            return type == "NodePort" || type == "LoadBalancer"
        }
        guard needsNodePorts(service), needsNodePorts(old), case .object(var root) = service,
            case .object(var spec)? = root["spec"], case .array(var ports)? = spec["ports"]
        else { return }
        let used = Set(nodePorts(of: service))
        var previous: [String: JSONValue] = [:]
        for port in old["spec"]?["ports"]?.arrayValue ?? [] {
            previous[port["name"]?.stringValue ?? ""] = port["nodePort"]
        }
        for index in ports.indices {
            guard case .object(var port) = ports[index], port["nodePort"] == nil,
                let kept = previous[port["name"]?.stringValue ?? ""],
                let number = ServiceStrategy.integer(kept), !used.contains(number)
            else { continue }
            port["nodePort"] = kept
            ports[index] = .object(port)
        }
        spec["ports"] = .array(ports)
        root["spec"] = .object(spec)
        service = .object(root)
    }

    static func nodePorts(of service: JSONValue?) -> [Int] {
        var ports = (service?["spec"]?["ports"]?.arrayValue ?? []).compactMap {
            $0["nodePort"].flatMap(ServiceStrategy.integer)
        }
        if let health = service?["spec"]?["healthCheckNodePort"].flatMap(ServiceStrategy.integer) {
            ports.append(health)
        }
        return ports
    }

    private mutating func nextFreeIP() -> UInt32 {
        while usedIPs.contains(nextIP) || nextIP &- Self.network >= Self.size - 1 {
            nextIP = nextIP &- Self.network >= Self.size - 1 ? Self.network + 2 : nextIP + 1
        }
        defer { nextIP += 1 }
        return nextIP
    }

    /// The next free node port; a full range is kube-apiserver's 500
    /// `Internal error occurred: failed to allocate a nodePort: range is full`.
    private mutating func nextFreeNodePort(excluding claimed: [Int]) throws(APIStatus) -> Int {
        if usedNodePorts.count + claimed.count >= Self.nodePortRange.count {
            throw APIStatus.internalError("failed to allocate a nodePort: range is full")
        }
        while usedNodePorts.contains(nextNodePort) || claimed.contains(nextNodePort) {
            nextNodePort =
                nextNodePort == Self.nodePortRange.upperBound ? Self.nodePortRange.lowerBound : nextNodePort + 1
        }
        defer {
            nextNodePort =
                nextNodePort == Self.nodePortRange.upperBound ? Self.nodePortRange.lowerBound : nextNodePort + 1
        }
        return nextNodePort
    }

    static func parseIPv4(_ text: String) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard let octet = UInt8(part), String(octet) == part else { return nil }
            value = value << 8 | UInt32(octet)
        }
        return value
    }

    static func format(_ address: UInt32) -> String {
        "\(address >> 24).\(address >> 16 & 255).\(address >> 8 & 255).\(address & 255)"
    }
}
