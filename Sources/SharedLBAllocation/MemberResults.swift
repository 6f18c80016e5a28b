public import SharedLBCore

/// What a Service is told: its result annotations, and the Event that goes with a change of
/// them. Pure: the member reconciler writes what this says.
public enum MemberResults {
    /// The result annotations, by name; `.some(nil)` for one that must go.
    public typealias Annotations = [String: String?]

    public static let names = [
        SharedLBNames.endpointAnnotation, SharedLBNames.sharedServiceAnnotation, SharedLBNames.errorAnnotation,
    ]

    /// A member's results: `sharedlb.io/endpoint` and `sharedlb.io/shared-service` once its
    /// shared LBs have an address, `sharedlb.io/error` while its placement or a shared LB fails.
    ///
    /// - Parameters:
    ///   - allocations: the member's allocations, by shared LB name.
    ///   - ingress: each shared LB's `status.loadBalancer.ingress`, by name (absent: no address yet).
    ///   - failure: why the member is not (fully) placed.
    ///   - failedLBs: why a shared LB fails, by name.
    public static func member(
        allocations: [String: [Allocation]], ingress: [String: [KubeService.Ingress]], failure: String?,
        failedLBs: [String: String], namespace: String
    ) -> Annotations {
        let endpoint = SharedService.endpoint(allocations: allocations, ingress: ingress)
        let shared = allocations.keys.filter { ingress[$0] != nil }.sorted().map { "\(namespace)/\($0)" }
        let problems = [failure].compactMap { $0 } + allocations.keys.sorted().compactMap { failedLBs[$0] }
        let sharedServices: String? = endpoint == nil ? nil : shared.joined(separator: ",")
        let error: String? = problems.isEmpty ? nil : problems.joined(separator: "; ")
        return [
            SharedLBNames.endpointAnnotation: endpoint,
            SharedLBNames.sharedServiceAnnotation: sharedServices,
            SharedLBNames.errorAnnotation: error,
        ]
    }

    /// A Service that is no longer a member (opted out, unlabelled): its results go.
    public static let released: Annotations = Dictionary(
        uniqueKeysWithValues: names.map { ($0, String?.none) })

    /// The annotations of `wanted` that differ from `current`, as a merge patch's
    /// `metadata.annotations` (null removes); nil when nothing differs.
    public static func patch(_ wanted: Annotations, current: [String: String]) -> JSONObject? {
        var patch = JSONObject()
        for (annotation, value) in wanted.sorted(by: { $0.key < $1.key }) where current[annotation] != value {
            patch[annotation] = value.map(JSONValue.string) ?? .null
        }
        return patch.isEmpty ? nil : patch
    }

    public struct Notice: Sendable, Equatable {
        public var warning: Bool
        public var reason: String
        public var note: String
    }

    /// The Event for a change of results: `Released`, `AllocationFailed` for a new error,
    /// `Moved` or `Allocated` for a new endpoint; nil when nothing worth telling changed.
    public static func notice(
        _ wanted: Annotations, current: [String: String], isMember: Bool, moves: [String]?
    ) -> Notice? {
        guard isMember else {
            return Notice(warning: false, reason: "Released", note: "released from the shared load balancer")
        }
        if let failure = wanted[SharedLBNames.errorAnnotation] ?? nil, failure != current[SharedLBNames.errorAnnotation]
        {
            return Notice(warning: true, reason: "AllocationFailed", note: failure)
        }
        guard let endpoint = wanted[SharedLBNames.endpointAnnotation] ?? nil,
            endpoint != current[SharedLBNames.endpointAnnotation]
        else { return nil }
        let shared = (wanted[SharedLBNames.sharedServiceAnnotation] ?? nil) ?? ""
        let split = shared.contains(",") ? " (split by protocol)" : ""
        let proxy =
            endpoint.contains(SharedService.proxySuffix)
            ? "; the load balancer's ipMode is Proxy: clients in the cluster reach it through the load balancer"
                + " (its source-address and proxy-protocol rules apply to them too), not straight to the Pods"
            : ""
        if let moves, !moves.isEmpty {
            return Notice(warning: false, reason: "Moved", note: "moved to \(shared)\(split): \(endpoint)\(proxy)")
        }
        return Notice(
            warning: false, reason: "Allocated", note: "reachable at \(endpoint) through \(shared)\(split)\(proxy)")
    }
}
