import Foundation
import SharedLBAllocation
import SharedLBCore
import SharedLBKubernetes

/// Member reporting: each Service's result annotations (``MemberResults``, pure), with an
/// Event for each change.
extension Allocator {
    /// Brings one Service's result annotations in line: a member's, or a former member's
    /// (removed). An admission policy or quota in one namespace never holds up the others.
    func report(_ serviceKey: String, planned: Planned, failed: [String: String]) async throws {
        guard let service = service(serviceKey), let uid = service.metadata.uid else { return }
        let namespace = configuration.namespace
        let retry = Work(members: [uid], services: [serviceKey])
        guard planned.placed.members[uid] != nil else {
            guard WorkRouting.hasResults(service), service.metadata.deletionTimestamp == nil else { return }
            _ = try await isolated("Service \(serviceKey)", "release member", retry: retry) {
                try await apply(MemberResults.released, to: service, isMember: false, moves: nil)
            }
            return
        }
        let allocations = planned.placed.allocations[uid] ?? [:]
        var ingress: [String: [KubeService.Ingress]] = [:]
        for name in allocations.keys {
            if let entries = self.service("\(namespace)/\(name)")?.status?.loadBalancer?.ingress, !entries.isEmpty {
                ingress[name] = entries
            }
        }
        let wanted = MemberResults.member(
            allocations: allocations, ingress: ingress, failure: planned.placed.placement.failures[uid],
            failedLBs: failed, namespace: namespace)
        let moves = state.withLock { $0.movesToReport[uid] }
        let reported = try await isolated("Service \(serviceKey)", "report to member", retry: retry) {
            try await apply(wanted, to: service, isMember: true, moves: moves)
        }
        if reported, (wanted[SharedLBNames.endpointAnnotation] ?? nil) != nil {
            _ = state.withLock { $0.movesToReport.removeValue(forKey: uid) }
        }
    }

    /// Patches only the result annotations that differ, and says so in an Event first (so
    /// whoever sees the annotation can also find the Event).
    func apply(
        _ wanted: MemberResults.Annotations, to service: KubeService, isMember: Bool, moves: [String]?
    ) async throws {
        let annotations = service.metadata.annotations ?? [:]
        guard let patch = MemberResults.patch(wanted, current: annotations) else { return }
        try checkLeader()
        if let notice = MemberResults.notice(wanted, current: annotations, isMember: isMember, moves: moves) {
            let reference = ObjectReference(
                apiVersion: "v1", kind: "Service", namespace: service.metadata.namespace, name: service.metadata.name,
                uid: service.metadata.uid)
            do {
                try await recorder.record(
                    regarding: reference, type: notice.warning ? .warning : .normal, reason: notice.reason,
                    action: "Allocate", note: notice.note)
            } catch {
                logger.warning(
                    "could not record event",
                    metadata: [
                        "k8s.object": "Service \(key(service.metadata))", "event.reason": "\(notice.reason)",
                        "error.message": "\(error)",
                    ])
            }
        }
        let body = JSONValue.object(JSONObject([("metadata", .object(JSONObject([("annotations", .object(patch))])))]))
        do {
            let updated = try await client.patch(
                KubeService.self, namespace: service.metadata.namespace, name: service.metadata.name ?? "",
                patch: .merge(body))
            record(service: updated, key: key(updated.metadata), replacing: service.metadata.resourceVersion)
        } catch {
            guard error.kind == .notFound else { throw error }
        }
    }
}
