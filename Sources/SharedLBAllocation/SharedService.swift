public import SharedLBCore

/// What a shared LB Service looks like, derived from its ledger shard.
public enum SharedService {
    /// Label on shared LB Services naming their pool (the pool part of the name).
    public static let poolLabel = "sharedlb.io/pool"

    /// The Service's ports for a shard: one per allocation, named `<proto>-<port>`.
    public static func ports(of shard: LedgerShard) -> [KubeService.Port] {
        shard.allocations.map { allocation in
            KubeService.Port(
                name: Naming.portName(allocation.slot), protocol: allocation.slot.protocol.rawValue,
                port: allocation.slot.port, targetPort: .int(allocation.slot.port))
        }
    }

    public static func labels(of shard: LedgerShard) -> [String: String] {
        [SharedLBNames.roleLabel: SharedLBNames.sharedLBRole, poolLabel: shard.key.poolName]
    }

    /// The pool's annotations plus the members' external-dns hostnames, joined, and, on an LB
    /// that mixes protocols, what the implementation needs for it (``ProviderPreset/mixedProtocolAnnotations``).
    public static func annotations(
        of shard: LedgerShard, hostnames: [String], mixedProtocol: [String: String] = [:]
    ) -> [String: String] {
        var annotations = shard.key.annotations
        if shard.protocols.count > 1 { annotations.merge(mixedProtocol) { own, _ in own } }
        let joined = Set(hostnames).sorted().joined(separator: ",")
        if !joined.isEmpty { annotations[Member.hostnameAnnotation] = joined }
        return annotations
    }

    /// A new shared LB Service: `type: LoadBalancer`, no selector, the pool's settings.
    public static func make(
        shard: LedgerShard, namespace: String, hostnames: [String], mixedProtocol: [String: String] = [:]
    ) -> KubeService {
        var spec = KubeService.Spec(type: "LoadBalancer", ports: ports(of: shard))
        apply(shard.key.settings, to: &spec)
        return KubeService(
            metadata: ObjectMeta(
                name: shard.sharedService, namespace: namespace, labels: labels(of: shard),
                annotations: annotations(of: shard, hostnames: hostnames, mixedProtocol: mixedProtocol)),
            spec: spec)
    }

    /// The ports a write of the shared LB sends (all of the shard's when it creates the Service
    /// or its ports differ; otherwise the Service keeps its own): what a 422's `spec.ports[i]` indexes.
    public static func portsWritten(current: KubeService?, shard: LedgerShard) -> [KubeService.Port] {
        let wanted = ports(of: shard)
        guard let current, !wanted.isEmpty, portIdentity(wanted) == portIdentity(current.spec?.ports ?? []) else {
            return wanted
        }
        return current.spec?.ports ?? []
    }

    static func portIdentity(_ ports: [KubeService.Port]) -> Set<String> {
        Set(ports.map { "\($0.name ?? "")|\($0.protocol ?? "TCP")|\($0.port)" })
    }

    /// A merge patch that brings `current` in line with the shard, or nil when it already is.
    /// It names only SharedLB's fields; an emptied shard keeps the Service's ports (a
    /// LoadBalancer Service needs at least one) until it is deleted.
    public static func patch(
        current: KubeService, shard: LedgerShard, hostnames: [String], mixedProtocol: [String: String] = [:]
    ) -> JSONValue? {
        var spec = JSONObject()
        var metadata = JSONObject()
        let currentSpec = current.spec ?? KubeService.Spec()
        if currentSpec.type != "LoadBalancer" { spec["type"] = .string("LoadBalancer") }
        let wanted = ports(of: shard)
        if !wanted.isEmpty && portIdentity(wanted) != portIdentity(currentSpec.ports ?? []) {
            // nodePorts are left out: the API server keeps each port's by name.
            spec["ports"] = .array(
                wanted.map { port in
                    .object(
                        JSONObject([
                            ("name", .string(port.name!)), ("protocol", .string(port.protocol!)),
                            ("port", .number(String(port.port))), ("targetPort", .number(String(port.port))),
                        ]))
                })
        }
        for field in Member.requestedSettings + Member.liveSettings {
            let want = shard.key.settings[field]
            if want != nil && settingValue(field, of: currentSpec) != want { spec[field] = want }
        }
        // What the pool does not ask for must not be there either (added by hand, it would
        // open, pin or steer the load balancer for every member).
        for field in ["loadBalancerSourceRanges", "loadBalancerIP", "trafficDistribution"]
        where shard.key.settings[field] == nil && settingValue(field, of: currentSpec) != nil {
            spec[field] = .null
        }
        var labelPatch = JSONObject()
        for (key, value) in labels(of: shard).sorted(by: { $0.key < $1.key })
        where current.metadata.labels?[key] != value {
            labelPatch[key] = .string(value)
        }
        var annotationPatch = JSONObject()
        let wantedAnnotations = annotations(of: shard, hostnames: hostnames, mixedProtocol: mixedProtocol)
        for (key, value) in wantedAnnotations.sorted(by: { $0.key < $1.key })
        where current.metadata.annotations?[key] != value {
            annotationPatch[key] = .string(value)
        }
        if wantedAnnotations[Member.hostnameAnnotation] == nil,
            current.metadata.annotations?[Member.hostnameAnnotation] != nil
        {
            annotationPatch[Member.hostnameAnnotation] = .null
        }
        if !labelPatch.isEmpty { metadata["labels"] = .object(labelPatch) }
        if !annotationPatch.isEmpty { metadata["annotations"] = .object(annotationPatch) }
        var root = JSONObject()
        if !metadata.isEmpty { root["metadata"] = .object(metadata) }
        if !spec.isEmpty { root["spec"] = .object(spec) }
        return root.isEmpty ? nil : .object(root)
    }

    /// The setting `field` of a Service spec, as JSON (nil when absent).
    public static func settingValue(_ field: String, of spec: KubeService.Spec) -> JSONValue? {
        switch field {
        case "externalTrafficPolicy": spec.externalTrafficPolicy.map(JSONValue.string)
        case "loadBalancerIP": spec.loadBalancerIP.map(JSONValue.string)
        case "loadBalancerSourceRanges":
            spec.loadBalancerSourceRanges.map { .array(Set($0).sorted().map(JSONValue.string)) }
        case "allocateLoadBalancerNodePorts": spec.allocateLoadBalancerNodePorts.map(JSONValue.bool)
        case "loadBalancerClass": spec.loadBalancerClass.map(JSONValue.string)
        case "sessionAffinity": spec.sessionAffinity.map(JSONValue.string)
        case "sessionAffinityConfig": spec.sessionAffinityConfig
        case "ipFamilies": spec.ipFamilies.map { .array($0.map(JSONValue.string)) }
        case "ipFamilyPolicy": spec.ipFamilyPolicy.map(JSONValue.string)
        case "trafficDistribution": spec.trafficDistribution.map(JSONValue.string)
        default: nil
        }
    }

    static func apply(_ settings: JSONObject, to spec: inout KubeService.Spec) {
        spec.externalTrafficPolicy = settings["externalTrafficPolicy"]?.stringValue
        spec.loadBalancerIP = settings["loadBalancerIP"]?.stringValue
        spec.loadBalancerSourceRanges = settings["loadBalancerSourceRanges"]?.arrayValue?.compactMap(\.stringValue)
        spec.allocateLoadBalancerNodePorts = settings["allocateLoadBalancerNodePorts"]?.boolValue
        spec.loadBalancerClass = settings["loadBalancerClass"]?.stringValue
        spec.sessionAffinity = settings["sessionAffinity"]?.stringValue
        spec.sessionAffinityConfig = settings["sessionAffinityConfig"]
        spec.ipFamilies = settings["ipFamilies"]?.arrayValue?.compactMap(\.stringValue)
        spec.ipFamilyPolicy = settings["ipFamilyPolicy"]?.stringValue
        spec.trafficDistribution = settings["trafficDistribution"]?.stringValue
    }

    /// `sharedlb.io/endpoint` for a member: every ingress entry of each of its shared LBs
    /// with each external port, `ip:port/PROTO`, `[ipv6]:port/PROTO` or `hostname:port/PROTO`,
    /// comma-separated, in slot order; an entry whose `ipMode` is `Proxy` ends in
    /// ``proxySuffix``. Nil while no LB of the member has an address.
    public static func endpoint(allocations: [String: [Allocation]], ingress: [String: [KubeService.Ingress]])
        -> String?
    {
        var entries: [String] = []
        for name in allocations.keys.sorted() {
            for allocation in allocations[name]!.sorted() {
                for entry in ingress[name] ?? [] {
                    let suffix = entry.ipMode == proxyMode ? proxySuffix : ""
                    if let ip = entry.ip, !ip.isEmpty {
                        let host = ip.contains(":") ? "[\(ip)]" : ip
                        entries.append("\(host):\(allocation.slot)\(suffix)")
                    } else if let hostname = entry.hostname, !hostname.isEmpty {
                        entries.append("\(hostname):\(allocation.slot)\(suffix)")
                    }
                }
            }
        }
        return entries.isEmpty ? nil : entries.joined(separator: ",")
    }

    /// `status.loadBalancer.ingress[].ipMode` of a load balancer that in-cluster traffic must
    /// go through: kube-proxy does not short-circuit the address to the endpoints.
    public static let proxyMode = "Proxy"
    /// What an endpoint entry of such an address ends in.
    public static let proxySuffix = " (ipMode Proxy)"
}
