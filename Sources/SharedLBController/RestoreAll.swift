public import SharedLBAllocation
import SharedLBCore
public import SharedLBKubernetes

extension Restore {
    /// One managed Service and what restoring it did.
    public struct Outcome: Sendable {
        public var id: String
        /// The merge patch applied (or that would be, on a dry run).
        public var patch: String
        /// nil when it worked (or on a dry run).
        public var error: KubernetesError?
    }

    /// Restores every managed Service of the cluster, in namespace/name order.
    public static func all(client: KubernetesClient, dryRun: Bool) async throws -> [Outcome] {
        let members = try await client.listAll(
            KubeService.self, namespace: nil, labelSelector: "\(SharedLBNames.managedLabel)=true")
        var outcomes: [Outcome] = []
        for service in members.items.sorted(by: {
            ($0.metadata.namespace ?? "", $0.metadata.name ?? "") < (
                $1.metadata.namespace ?? "", $1.metadata.name ?? ""
            )
        }) {
            guard let patch = patch(for: service) else { continue }
            var outcome = Outcome(
                id: "\(service.metadata.namespace ?? "")/\(service.metadata.name ?? "")",
                patch: JSONWriter.encode(patch, sortedKeys: true))
            if !dryRun {
                do {
                    _ = try await client.patch(
                        KubeService.self, namespace: service.metadata.namespace, name: service.metadata.name ?? "",
                        patch: .merge(patch))
                } catch {
                    outcome.error = error
                }
            }
            outcomes.append(outcome)
        }
        return outcomes
    }
}
