public import SharedLBCore

/// Endpoint mirroring: the shared LB's EndpointSlices, derived from each member's own slices.
public enum Mirroring {
    /// `endpointslice.kubernetes.io/managed-by` on mirrored slices (a label value: no `/`).
    public static let managedBy = SharedLBNames.allocatorController
    public static let managedByLabel = "endpointslice.kubernetes.io/managed-by"
    public static let serviceNameLabel = "kubernetes.io/service-name"
    public static let memberUIDLabel = "sharedlb.io/member-uid"
    /// Endpoints per mirrored slice.
    public static let maximumEndpoints = 100

    /// The mirrored slices of one member on one shared LB.
    ///
    /// - Parameters:
    ///   - allocations: the member's allocations on this shared LB.
    ///   - memberSlices: the member's own EndpointSlices (`kubernetes.io/service-name` = member).
    ///   - pods: Pods of the member's namespace, by name.
    public static func slices(
        sharedService: String, sharedServiceUID: String, namespace: String, memberUID: String,
        memberNamespace: String, allocations: [Allocation], memberSlices: [EndpointSlice],
        pods: [String: PodSummary]
    ) -> [EndpointSlice] {
        var result: [EndpointSlice] = []
        // Owned by the shared LB, so the garbage collector deletes them with it; without
        // `blockOwnerDeletion`, which on clusters with the OwnerReferencesPermissionEnforcement
        // admission plugin (OpenShift, hardened clusters) needs `update` on `services/finalizers`.
        let owner = OwnerReference(
            apiVersion: "v1", kind: "Service", name: sharedService, uid: sharedServiceUID, controller: true)
        for source in memberSlices.sorted(by: { ($0.metadata.name ?? "") < ($1.metadata.name ?? "") }) {
            guard source.addressType != "FQDN", source.metadata.labels?[managedByLabel] != managedBy,
                let sourceName = source.metadata.name
            else { continue }
            var ports: [EndpointSlice.Port] = []
            for port in source.ports ?? [] {
                let proto = port.protocol ?? "TCP"
                guard let number = port.port,
                    let allocation = allocations.first(where: {
                        $0.portName == (port.name ?? "") && $0.slot.protocol.rawValue == proto
                    })
                else { continue }
                var mirrored = EndpointSlice.Port(name: Naming.portName(allocation.slot), protocol: proto, port: number)
                mirrored.appProtocol = port.appProtocol
                ports.append(mirrored)
            }
            guard !ports.isEmpty else { continue }
            ports.sort { ($0.name ?? "") < ($1.name ?? "") }
            let endpoints = (source.endpoints ?? []).compactMap { endpoint -> EndpointSlice.Endpoint? in
                guard belongs(endpoint, namespace: memberNamespace, pods: pods) else { return nil }
                var copy = EndpointSlice.Endpoint(
                    addresses: endpoint.addresses, conditions: endpoint.conditions, targetRef: endpoint.targetRef,
                    nodeName: endpoint.nodeName, zone: endpoint.zone, hints: endpoint.hints)
                copy.targetRef?.resourceVersion = nil
                return copy
            }
            let chunks = stride(from: 0, to: max(endpoints.count, 1), by: maximumEndpoints).map {
                Array(endpoints[$0..<min($0 + maximumEndpoints, endpoints.count)])
            }
            for (index, chunk) in chunks.enumerated() {
                result.append(
                    EndpointSlice(
                        metadata: ObjectMeta(
                            name: Naming.mirroredSliceName(
                                sharedService: sharedService, memberUID: memberUID, sourceSlice: sourceName,
                                chunk: index),
                            namespace: namespace,
                            labels: [
                                serviceNameLabel: sharedService, managedByLabel: managedBy, memberUIDLabel: memberUID,
                            ],
                            ownerReferences: [owner]),
                        addressType: source.addressType, endpoints: chunk, ports: ports))
            }
        }
        return result
    }

    /// True when the endpoint is a Pod of `namespace` that exists with the referenced uid and
    /// owns every address: EndpointSlice validation never checks `targetRef`, so a hand-made
    /// slice could otherwise expose another namespace's pods through the shared LB.
    public static func belongs(
        _ endpoint: EndpointSlice.Endpoint, namespace: String, pods: [String: PodSummary]
    ) -> Bool {
        guard let reference = endpoint.targetRef, reference.kind == "Pod",
            reference.namespace == nil || reference.namespace == namespace, let name = reference.name,
            let pod = pods[name], pod.namespace == namespace, let uid = reference.uid, pod.uid == uid,
            !endpoint.addresses.isEmpty
        else { return false }
        return endpoint.addresses.allSatisfy(pod.ips.contains)
    }

    /// Whether a mirrored slice already says what `desired` says (labels, owner, addresses, ports).
    public static func matches(_ current: EndpointSlice, _ desired: EndpointSlice) -> Bool {
        current.addressType == desired.addressType && current.endpoints ?? [] == desired.endpoints ?? []
            && current.ports ?? [] == desired.ports ?? []
            && desired.metadata.labels!.allSatisfy { current.metadata.labels?[$0.key] == $0.value }
            && current.metadata.ownerReferences == desired.metadata.ownerReferences
    }
}
