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
        return Auditor(
            shards: shards, unreadable: unreadable, sharedServices: shared.items, mirroredSlices: slices.items,
            memberServices: members.items, mixedProtocol: mixedProtocol, shaping: shaping)
    }
}
