/// The rules kube-apiserver applies to a `type: LoadBalancer` Service but not to the ClusterIP
/// Service the webhook would make of it (each measured on v1.24 and v1.34, see DESIGN.md).
///
/// A Service that breaks one is left unconverted, so the API server answers its owner with its
/// own rejection, exactly as without SharedLB: converted, it would be accepted and its settings
/// would make the shared LB unwritable for every member instead.
///
/// ```swift
/// LoadBalancerValidation.problems(spec: spec, annotations: annotations)
/// // ["port 10250 is refused on one before Kubernetes 1.33"]
/// ```
public enum LoadBalancerValidation {
    /// The port the kubelet listens on: kube-apiserver refused it on LoadBalancer Services until
    /// 1.33 (kubernetes/kubernetes#129174). The webhook cannot know the server's version, so it
    /// always leaves such a Service as its own LoadBalancer, which is valid wherever it is allowed.
    public static let kubeletPort = 10250

    /// Why `spec` (with `annotations`) is not a valid LoadBalancer Service; empty when it is.
    public static func problems(spec: JSONObject, annotations: JSONObject?) -> [String] {
        var problems: [String] = []
        let clusterIPs = [spec["clusterIP"]] + (spec["clusterIPs"]?.arrayValue ?? []).map { Optional($0) }
        if clusterIPs.contains(where: { $0?.stringValue == "None" }) {
            problems.append("clusterIP None (headless) is not valid on one")
        }
        var nodePorts: Set<String> = []
        for port in spec["ports"]?.arrayValue ?? [] {
            if port["port"]?.intValue == kubeletPort {
                problems.append("port \(kubeletPort) is refused on one before Kubernetes 1.33")
            }
            guard let nodePort = port["nodePort"]?.intValue, nodePort != 0 else { continue }
            let proto = port["protocol"]?.stringValue ?? "TCP"
            if !(1...65535).contains(nodePort) {
                problems.append("nodePort \(nodePort) is not a port number")
            } else if !nodePorts.insert("\(nodePort)/\(proto)").inserted {
                problems.append("nodePort \(nodePort)/\(proto) is used twice")
            }
        }
        for range in spec["loadBalancerSourceRanges"]?.arrayValue ?? [] where !isCIDR(range.stringValue ?? "") {
            problems.append("loadBalancerSourceRanges \"\(range.stringValue ?? "")\" is not a CIDR")
        }
        if let ranges = annotations?[sourceRangesAnnotation]?.stringValue, !isSourceRangeList(ranges) {
            problems.append("annotation \(sourceRangesAnnotation) is not a list of CIDRs")
        }
        let trafficPolicy = spec["externalTrafficPolicy"]?.stringValue
        if let trafficPolicy, trafficPolicy != "Cluster", trafficPolicy != "Local" {
            problems.append("externalTrafficPolicy \"\(trafficPolicy)\" is not Cluster or Local")
        }
        if let healthCheck = spec["healthCheckNodePort"]?.intValue, healthCheck != 0, trafficPolicy != "Local" {
            problems.append("healthCheckNodePort needs externalTrafficPolicy Local")
        }
        return problems
    }

    /// A source range as kube-apiserver reads one: a CIDR, spaces around it allowed.
    public static func isCIDR(_ text: String) -> Bool {
        CIDR(text.trimmingWhitespace()) != nil
    }

    /// The source-ranges annotation's value: empty (no restriction), or CIDRs separated by commas.
    public static func isSourceRangeList(_ text: String) -> Bool {
        let trimmed = text.trimmingWhitespace()
        return trimmed.isEmpty
            || trimmed.split(separator: ",", omittingEmptySubsequences: false).allSatisfy {
                isCIDR(String($0))
            }
    }

    /// The source-ranges annotation: kube-apiserver refuses it on a ClusterIP Service, so the
    /// conversion moves it into `sharedlb.io/requested` and the shared LB carries it.
    public static let sourceRangesAnnotation = "service.beta.kubernetes.io/load-balancer-source-ranges"
}

/// An IPv4 or IPv6 network in CIDR notation, parsed as kube-apiserver's validation does
/// (`netutils.ParseCIDRSloppy`): dotted-quad IPv4, leading zeros allowed, RFC 4291 IPv6.
public struct CIDR: Sendable, Equatable {
    public var address: [UInt8]
    public var prefixLength: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let length = Int(parts[1]), parts[1].allSatisfy(\.isASCIIDigit),
            !parts[1].isEmpty, parts[1].count <= 3
        else { return nil }
        guard let address = IPAddress.parse(String(parts[0])), (0...(address.count * 8)).contains(length) else {
            return nil
        }
        self.address = address
        prefixLength = length
    }
}

/// Textual IP addresses to bytes (4 for IPv4, 16 for IPv6), without the C library.
public enum IPAddress {
    public static func parse(_ text: String) -> [UInt8]? {
        text.contains(":") ? parseIPv6(text) : parseIPv4(text)
    }

    public static func parseIPv4(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCIIDigit), let value = Int(part), value <= 255
            else { return nil }
            bytes.append(UInt8(value))
        }
        return bytes
    }

    public static func parseIPv6(_ text: String) -> [UInt8]? {
        var head: [UInt8] = []
        var tail: [UInt8] = []
        let halves = text.split(separator: "::", omittingEmptySubsequences: false).map(String.init)
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String, allowIPv4: Bool) -> [UInt8]? {
            if part.isEmpty { return [] }
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            var bytes: [UInt8] = []
            for (index, field) in fields.enumerated() {
                if index == fields.count - 1, allowIPv4, field.contains(".") {
                    guard let v4 = parseIPv4(String(field)) else { return nil }
                    bytes += v4
                    continue
                }
                guard (1...4).contains(field.count), field.allSatisfy(\.isHexDigit),
                    let value = UInt16(field, radix: 16)
                else { return nil }
                bytes += [UInt8(value >> 8), UInt8(value & 0xff)]
            }
            return bytes
        }
        if halves.count == 2 {
            guard let first = groups(halves[0], allowIPv4: false), let second = groups(halves[1], allowIPv4: true),
                first.count + second.count <= 14
            else { return nil }
            head = first
            tail = second
            return head + Array(repeating: 0, count: 16 - head.count - tail.count) + tail
        }
        guard let all = groups(text, allowIPv4: true), all.count == 16 else { return nil }
        return all
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

extension String {
    /// Without leading and trailing spaces, tabs and newlines (as Go's `strings.TrimSpace`).
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let start = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let end = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[start...end])
    }
}
