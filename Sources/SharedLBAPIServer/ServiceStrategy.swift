public import SharedLBCore

/// What kube-apiserver v1.24 does to a Service on its way into storage, on raw JSON:
/// defaults (before admission), validation of the type-dependent fields with the real
/// messages, the clean-up on UPDATE from a LoadBalancer, and in-order field layout.
/// Allocation of cluster IPs and node ports lives in ``ServiceAllocator``.
public struct ServiceStrategy: Sendable {
    /// MixedProtocolLBService: off in the captured v1.24.0 pre-release (fixture `09b`), on from v1.26.
    public var allowsMixedProtocolLoadBalancers: Bool

    public init(allowsMixedProtocolLoadBalancers: Bool = false) {
        self.allowsMixedProtocolLoadBalancers = allowsMixedProtocolLoadBalancers
    }

    static let lbOnlyMessage = "may only be used when `type` is 'LoadBalancer'"

    /// Defaults applied before admission (fixtures: `ports[].protocol: TCP`, `targetPort`
    /// = `port`, `sessionAffinity: None`, `internalTrafficPolicy: Cluster`, and for
    /// NodePort/LoadBalancer `externalTrafficPolicy: Cluster`; for LoadBalancer
    /// `allocateLoadBalancerNodePorts: true`).
    public func applyDefaults(to service: JSONValue) -> JSONValue {
        guard case .object(var root) = service, case .object(var spec)? = root["spec"] ?? .object(JSONObject()) else {
            return service
        }
        let type = spec["type"]?.stringValue ?? "ClusterIP"
        if spec["type"] == nil { spec["type"] = .string("ClusterIP") }
        if case .array(let ports)? = spec["ports"] {
            spec["ports"] = .array(
                ports.map { port in
                    guard case .object(var object) = port else { return port }
                    if object["protocol"] == nil { object["protocol"] = .string("TCP") }
                    if object["targetPort"] == nil || object["targetPort"] == .number("0")
                        || object["targetPort"] == .string("")
                    {
                        object["targetPort"] = object["port"] ?? .null
                    }
                    return .object(Self.ordered(object, Self.portFieldOrder))
                })
        }
        if spec["sessionAffinity"] == nil { spec["sessionAffinity"] = .string("None") }
        if type != "ExternalName", spec["internalTrafficPolicy"] == nil {
            spec["internalTrafficPolicy"] = .string("Cluster")
        }
        if type == "NodePort" || type == "LoadBalancer", spec["externalTrafficPolicy"] == nil {
            spec["externalTrafficPolicy"] = .string("Cluster")
        }
        if type == "LoadBalancer", spec["allocateLoadBalancerNodePorts"] == nil {
            spec["allocateLoadBalancerNodePorts"] = .bool(true)
        }
        root["spec"] = .object(Self.ordered(spec, Self.specFieldOrder))
        if root["status"] == nil { root["status"] = .object(JSONObject([("loadBalancer", .object(JSONObject()))])) }
        return .object(root)
    }

    /// On UPDATE from a LoadBalancer to another type the API server itself drops the
    /// type-dependent fields the client did not change (`loadBalancerSourceRanges` never).
    public func dropTypeDependentFields(_ service: JSONValue, old: JSONValue) -> JSONValue {
        guard old["spec"]?["type"]?.stringValue == "LoadBalancer",
            case .object(var root) = service, case .object(var spec)? = root["spec"]
        else { return service }
        let type = spec["type"]?.stringValue ?? "ClusterIP"
        guard type != "LoadBalancer" else { return service }
        let oldSpec = old["spec"]?.objectValue ?? JSONObject()
        if type != "NodePort", case .array(let ports)? = spec["ports"] {
            let oldPorts = oldSpec["ports"]?.arrayValue ?? []
            let sameNodePorts = ports.map { $0["nodePort"] } == oldPorts.map { $0["nodePort"] }
            if sameNodePorts {
                spec["ports"] = .array(
                    ports.map { port in
                        guard case .object(var object) = port else { return port }
                        object["nodePort"] = nil
                        return .object(object)
                    })
            }
        }
        for field in ["healthCheckNodePort", "allocateLoadBalancerNodePorts", "loadBalancerClass"]
        where spec[field] != nil && spec[field] == oldSpec[field] {
            spec[field] = nil
        }
        if type != "NodePort", spec["externalTrafficPolicy"] != nil,
            spec["externalTrafficPolicy"] == oldSpec["externalTrafficPolicy"]
        {
            spec["externalTrafficPolicy"] = nil
        }
        root["spec"] = .object(spec)
        return .object(root)
    }

    /// Validation of the fields SharedLB's conversion touches, with kube-apiserver's wording.
    public func validate(_ service: JSONValue) -> [APIStatus.Cause] {
        var causes: [APIStatus.Cause] = []
        let spec = service["spec"]?.objectValue ?? JSONObject()
        let type = spec["type"]?.stringValue ?? "ClusterIP"
        let ports = spec["ports"]?.arrayValue ?? []
        let headless = spec["clusterIP"]?.stringValue == "None"
        if let name = service["metadata"]?["name"]?.stringValue, !Self.isDNS1035Label(name) {
            causes.append(
                .invalid(
                    "metadata.name", value: .string(name),
                    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
                ))
        }
        if !["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(type) {
            causes.append(
                .notSupported(
                    "spec.type", value: .string(type),
                    supported: ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]))
        }
        if ports.isEmpty && !headless && type != "ExternalName" {
            causes.append(.required("spec.ports"))
        }
        var names = Set<String>()
        for (index, port) in ports.enumerated() {
            let path = "spec.ports[\(index)]"
            let name = port["name"]?.stringValue ?? ""
            if ports.count > 1 && name.isEmpty {
                causes.append(.required("\(path).name"))
            } else if !name.isEmpty && !names.insert(name).inserted {
                causes.append(
                    APIStatus.Cause(
                        reason: "FieldValueDuplicate", message: "Duplicate value: \"\(name)\"", field: "\(path).name"))
            }
            if let number = port["port"].flatMap(Self.integer), !(1...65535).contains(number) {
                causes.append(.invalid("\(path).port", value: port["port"]!, "must be between 1 and 65535, inclusive"))
            } else if port["port"] == nil {
                causes.append(.required("\(path).port"))
            }
            if let proto = port["protocol"]?.stringValue, !["TCP", "UDP", "SCTP"].contains(proto) {
                causes.append(
                    .notSupported("\(path).protocol", value: .string(proto), supported: ["SCTP", "TCP", "UDP"]))
            }
            if type == "ClusterIP", let nodePort = port["nodePort"], Self.integer(nodePort) != 0 {
                causes.append(.forbidden("\(path).nodePort", "may not be used when `type` is 'ClusterIP'"))
            }
        }
        if type == "LoadBalancer" {
            // Refused until v1.33 (kubernetes/kubernetes#129174); this server is v1.24.
            for (index, port) in ports.enumerated() where port["port"].flatMap(Self.integer) == 10250 {
                causes.append(
                    .invalid(
                        "spec.ports[\(index)]", value: .number("10250"),
                        "may not expose port 10250 externally since it is used by kubelet"))
            }
            if headless {
                causes.append(
                    .invalid(
                        "spec.clusterIPs[0]", value: .string("None"),
                        "may not be set to 'None' for LoadBalancer services"))
            }
        }
        if type == "LoadBalancer" && !allowsMixedProtocolLoadBalancers {
            let protocols = Set(ports.compactMap { $0["protocol"]?.stringValue })
            if protocols.count > 1 {
                causes.append(
                    APIStatus.Cause(
                        reason: "FieldValueInvalid",
                        message:
                            "Invalid value: \(Self.goServicePorts(ports)): may not contain more than 1 protocol when type is 'LoadBalancer'",
                        field: "spec.ports"))
            }
        }
        causes += sourceRangeCauses(service, type: type)
        if spec["allocateLoadBalancerNodePorts"].map({ !$0.isNull }) == true, type != "LoadBalancer" {
            causes.append(.forbidden("spec.allocateLoadBalancerNodePorts", Self.lbOnlyMessage))
        }
        if type == "LoadBalancer", spec["allocateLoadBalancerNodePorts"]?.boolValue == nil {
            causes.append(.required("spec.allocateLoadBalancerNodePorts"))
        }
        if let loadBalancerClass = spec["loadBalancerClass"], !loadBalancerClass.isNull, type != "LoadBalancer" {
            causes.append(.forbidden("spec.loadBalancerClass", "may only be used when service type is 'LoadBalancer'"))
        }
        if type == "NodePort" || type == "LoadBalancer", let policy = spec["externalTrafficPolicy"]?.stringValue,
            policy != "Cluster", policy != "Local"
        {
            causes.append(
                .notSupported("spec.externalTrafficPolicy", value: .string(policy), supported: ["Cluster", "Local"]))
        }
        if let policy = spec["externalTrafficPolicy"], policy != .string(""), !policy.isNull,
            type != "NodePort" && type != "LoadBalancer"
        {
            causes.append(
                .invalid(
                    "spec.externalTrafficPolicy", value: policy,
                    "may only be set when `type` is 'NodePort' or 'LoadBalancer'"))
        }
        if let healthCheck = spec["healthCheckNodePort"], Self.integer(healthCheck) ?? 0 != 0,
            !(type == "LoadBalancer" && spec["externalTrafficPolicy"]?.stringValue == "Local")
        {
            causes.append(
                .invalid(
                    "spec.healthCheckNodePort", value: healthCheck,
                    "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
        }
        return causes
    }

    /// `spec.loadBalancerSourceRanges`, or else the source-ranges annotation: only on a
    /// LoadBalancer, and only CIDRs (v1.24 names the field path with a capital L and prints the
    /// list as Go's `%v`).
    func sourceRangeCauses(_ service: JSONValue, type: String) -> [APIStatus.Cause] {
        let ranges = (service["spec"]?["loadBalancerSourceRanges"]?.arrayValue ?? []).compactMap(\.stringValue)
        let annotation = service["metadata"]?["annotations"]?[LoadBalancerValidation.sourceRangesAnnotation]?
            .stringValue
        guard !ranges.isEmpty || annotation != nil else { return [] }
        let field: String
        let value: String
        let valid: Bool
        if !ranges.isEmpty {
            field = "spec.LoadBalancerSourceRanges"
            value = "[\(ranges.joined(separator: " "))]"
            valid = ranges.allSatisfy { LoadBalancerValidation.isCIDR($0) }
        } else {
            field = "metadata.annotations[\(LoadBalancerValidation.sourceRangesAnnotation)]"
            value = annotation ?? ""
            valid = LoadBalancerValidation.isSourceRangeList(value)
        }
        var causes: [APIStatus.Cause] = []
        if type != "LoadBalancer" { causes.append(.forbidden(field, Self.lbOnlyMessage)) }
        if !valid {
            causes.append(
                .invalid(
                    field, value: .string(value),
                    "must be a list of IP ranges. For example, 10.240.0.0/24,10.250.0.0/24 "))
        }
        return causes
    }

    /// Validation of an UPDATE: everything ``validate(_:)`` checks, plus an immutable cluster IP.
    public func validateUpdate(_ service: JSONValue, old: JSONValue) -> [APIStatus.Cause] {
        var causes = validate(service)
        if let oldIP = old["spec"]?["clusterIP"]?.stringValue, !oldIP.isEmpty,
            let newIP = service["spec"]?["clusterIP"], newIP != .string(oldIP)
        {
            causes.append(.invalid("spec.clusterIP", value: newIP, "field is immutable"))
        }
        return causes
    }

    // MARK: - Helpers

    static func integer(_ value: JSONValue) -> Int? {
        if case .number(let text) = value { return Int(text) }
        return nil
    }

    static func isDNS1035Label(_ name: String) -> Bool {
        guard (1...63).contains(name.utf8.count), let first = name.utf8.first, let last = name.utf8.last,
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first),
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(last)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(last)
        else { return false }
        return name.utf8.allSatisfy {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                || $0 == UInt8(ascii: "-")
        }
    }

    /// Go's `%#v` of `[]core.ServicePort`, as kube-apiserver prints it in the mixed-protocol rejection.
    static func goServicePorts(_ ports: [JSONValue]) -> String {
        let items = ports.map { port -> String in
            let target: String
            switch port["targetPort"] {
            case .string(let name)?: target = "intstr.IntOrString{Type:1, IntVal:0, StrVal:\"\(name)\"}"
            case let value?: target = "intstr.IntOrString{Type:0, IntVal:\(integer(value) ?? 0), StrVal:\"\"}"
            case nil: target = "intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}"
            }
            return
                "core.ServicePort{Name:\"\(port["name"]?.stringValue ?? "")\", Protocol:\"\(port["protocol"]?.stringValue ?? "")\", "
                + "AppProtocol:(*string)(nil), Port:\(port["port"].flatMap(integer) ?? 0), TargetPort:\(target), "
                + "NodePort:\(port["nodePort"].flatMap(integer) ?? 0)}"
        }
        return "[]core.ServicePort{\(items.joined(separator: ", "))}"
    }

    /// Go's field order of `ServiceSpec` and `ServicePort`, so stored objects read like the real ones.
    static let specFieldOrder = [
        "ports", "selector", "clusterIP", "clusterIPs", "type", "externalIPs", "sessionAffinity", "loadBalancerIP",
        "loadBalancerSourceRanges", "externalName", "externalTrafficPolicy", "healthCheckNodePort",
        "publishNotReadyAddresses", "sessionAffinityConfig", "ipFamilies", "ipFamilyPolicy",
        "allocateLoadBalancerNodePorts", "loadBalancerClass", "internalTrafficPolicy",
    ]
    static let portFieldOrder = ["name", "protocol", "appProtocol", "port", "targetPort", "nodePort"]

    /// Members in `order` first, then any others (unknown fields survive) in their order.
    static func ordered(_ object: JSONObject, _ order: [String]) -> JSONObject {
        var result: [JSONObject.Member] = []
        for key in order {
            if let value = object[key] { result.append(JSONObject.Member(key, value)) }
        }
        result += object.members.filter { !order.contains($0.key) }
        return JSONObject(members: result)
    }
}
