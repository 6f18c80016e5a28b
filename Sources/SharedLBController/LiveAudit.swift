public import SharedLBAllocation
import SharedLBCore
public import SharedLBKubernetes

extension Auditor {
    /// Reads the ledger and the live objects it is checked against.
    public static func load(
        client: KubernetesClient, namespace: String, mixedProtocol: Bool, shaping: ShapingAnnotations = .standard
    ) async throws -> Auditor {
        let ledger = try await client.listAll(
            ConfigMap.self, namespace: namespace,
            labelSelector: "\(SharedLBNames.roleLabel)=\(SharedLBNames.ledgerRole)")
        var shards: [LedgerShard] = []
        var unreadable: [String: String] = [:]
        for configMap in ledger.items {
            let name = configMap.metadata.name ?? ""
            do {
                shards.append(try LedgerShard(configMapName: name, data: configMap.data ?? [:]))
            } catch {
                unreadable[name] = error.message
            }
        }
        let shared = try await client.listAll(
            KubeService.self, namespace: namespace,
            labelSelector: "\(SharedLBNames.roleLabel)=\(SharedLBNames.sharedLBRole)")
        let slices = try await client.listAll(
            EndpointSlice.self, namespace: namespace,
            labelSelector: "\(Mirroring.managedByLabel)=\(Mirroring.managedBy)")
        let members = try await client.listAll(
            KubeService.self, namespace: nil, labelSelector: "\(SharedLBNames.managedLabel)=true")
        // The members' own slices and Pods, namespace by namespace: members usually live in a
        // few namespaces of a cluster whose Pods are mostly someone else's.
        var own = MemberEndpoints(slices: [], pods: [])
        for memberNamespace in Set(members.items.compactMap(\.metadata.namespace)).sorted() {
            own.slices += try await client.listAll(
                EndpointSlice.self, namespace: memberNamespace, labelSelector: Mirroring.serviceNameLabel
            ).items
            own.pods += try await client.listAll(PodSummary.self, namespace: memberNamespace).items
        }
        return Auditor(
            shards: shards, unreadable: unreadable, sharedServices: shared.items, mirroredSlices: slices.items,
            memberServices: members.items, memberEndpoints: own, mixedProtocol: mixedProtocol, shaping: shaping)
    }
}
