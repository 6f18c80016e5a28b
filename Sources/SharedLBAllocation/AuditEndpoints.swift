public import SharedLBCore

/// The members' own endpoints, which mirrored slices are checked against (`sharedlb audit`).
public struct MemberEndpoints: Sendable {
    /// The members' own EndpointSlices (`kubernetes.io/service-name` = the member).
    public var slices: [EndpointSlice]
    /// The Pods of the members' namespaces.
    public var pods: [PodSummary]

    public init(slices: [EndpointSlice], pods: [PodSummary]) {
        self.slices = slices
        self.pods = pods
    }
}

extension Auditor {
    /// Mirrored endpoints against what ``Mirroring`` makes of each member's own slices and
    /// Pods: an endpoint the member no longer has is `mirror-stale-endpoint` (traffic to a Pod
    /// that is gone, or not ready any more), one it has that is not mirrored is
    /// `mirror-missing-endpoint` (a Pod the shared LB never sends to), one mirrored with other
    /// conditions, zone or hints is `mirror-endpoint-differs`.
    func checkEndpoints(_ slices: [EndpointSlice], _ own: MemberEndpoints, members: [String: Member]) -> [Violation] {
        var mirrored: [String: [String: EndpointSlice.Endpoint]] = [:]  // shared LB|uid → address → endpoint
        for slice in slices {
            let labels = slice.metadata.labels ?? [:]
            let group = "\(labels[Mirroring.serviceNameLabel] ?? "")|\(labels[Mirroring.memberUIDLabel] ?? "")"
            for endpoint in slice.endpoints ?? [] { mirrored[group, default: [:]][Self.identity(endpoint)] = endpoint }
        }
        let sources = Dictionary(grouping: own.slices) {
            "\($0.metadata.namespace ?? "")/\($0.metadata.labels?[Mirroring.serviceNameLabel] ?? "")"
        }
        let pods = Dictionary(grouping: own.pods, by: \.namespace).mapValues { pods in
            Dictionary(pods.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        }
        var found: [Violation] = []
        for shard in shards {
            for (uid, allocations) in Dictionary(grouping: shard.allocations, by: \.uid) {
                guard let member = members[uid] else { continue }  // `stale-allocation` says so
                var wanted: [String: EndpointSlice.Endpoint] = [:]
                for slice in Mirroring.slices(
                    sharedService: shard.sharedService, sharedServiceUID: "", namespace: "", memberUID: uid,
                    memberNamespace: member.namespace, allocations: allocations,
                    memberSlices: sources[member.id] ?? [], pods: pods[member.namespace] ?? [:])
                {
                    for endpoint in slice.endpoints ?? [] { wanted[Self.identity(endpoint)] = endpoint }
                }
                let have = mirrored["\(shard.sharedService)|\(uid)"] ?? [:]
                let subject = "\(member.id) on \(shard.sharedService)"
                let stale = have.keys.filter { wanted[$0] == nil }.sorted()
                let missing = wanted.keys.filter { have[$0] == nil }.sorted()
                let differing = wanted.keys.filter { have[$0] != nil && have[$0] != wanted[$0] }.sorted()
                if !stale.isEmpty {
                    found.append(Violation("mirror-stale-endpoint", subject, Self.list(stale, "not the member's")))
                }
                if !missing.isEmpty {
                    found.append(Violation("mirror-missing-endpoint", subject, Self.list(missing, "not mirrored")))
                }
                if !differing.isEmpty {
                    found.append(
                        Violation(
                            "mirror-endpoint-differs", subject,
                            Self.list(differing, "mirrored with other conditions, zone or hints")))
                }
            }
        }
        return found
    }

    /// An endpoint's addresses, which identify it within one member's slices.
    static func identity(_ endpoint: EndpointSlice.Endpoint) -> String {
        endpoint.addresses.joined(separator: ",")
    }

    /// `3 endpoints not mirrored: 10.0.0.1, 10.0.0.2, 10.0.0.3`, the first ten named.
    static func list(_ addresses: [String], _ what: String) -> String {
        let named = addresses.prefix(10).joined(separator: ", ")
        let more = addresses.count > 10 ? ", ..." : ""
        return "\(addresses.count) endpoint\(addresses.count == 1 ? "" : "s") \(what): \(named)\(more)"
    }
}
