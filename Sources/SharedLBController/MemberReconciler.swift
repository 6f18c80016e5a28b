import Foundation
import SharedLBAllocation
import SharedLBCore
import SharedLBKubernetes

/// Members: each one's mirrored EndpointSlices on its shared LBs (``Mirroring``), then its
/// results (``MemberResults``). Stale slices of every queued member go first, so a slot given
/// to a new member never reaches the old one's pods; then a few members at once.
extension Allocator {
    struct MemberSlices: Sendable {
        var uid: String
        /// The member's mirrored slices as they are, by name (those of unreadable shards left out).
        var existing: [String: EndpointSlice]
        var desired: [String: EndpointSlice]
    }

    func reconcileMembers(_ work: Work, planned: Planned) async throws {
        let namespace = configuration.namespace
        let placed = planned.placed
        let plans = work.members.sorted().map { mirroredSlices(of: $0, planned: planned) }
        let stale = plans.flatMap { plan in
            plan.existing.keys.filter { plan.desired[$0] == nil }.sorted().map { (plan.uid, plan.existing[$0]!) }
        }
        try await concurrently(stale) { uid, slice in
            let name = slice.metadata.name ?? ""
            let object = "EndpointSlice \(namespace)/\(name)"
            let deleted = try await self.isolated(object, "delete mirrored slice", retry: Work(members: [uid])) {
                try self.checkLeader()
                do {
                    try await self.client.delete(EndpointSlice.self, namespace: namespace, name: name)
                } catch let error as KubernetesError where error.kind == .notFound {
                    // Gone already.
                }
            }
            if deleted { self.record(slice: nil, key: key(slice.metadata), replacing: slice.metadata.resourceVersion) }
        }

        let failed = sharedLBFailures(planned: planned)
        state.withLock { state in state.movesToReport = state.movesToReport.filter { placed.members[$0.key] != nil } }
        // Each member's slices, then its results; Services queued without a member (released
        // ones) only have their results cleared.
        var slicesByService: [String: MemberSlices] = [:]
        for plan in plans {
            if let id = placed.members[plan.uid]?.id { slicesByService[id] = plan }
        }
        // (A member that is gone has nothing left to write once its stale slices went.)
        let keys = work.services.union(slicesByService.keys).sorted()
        try await concurrently(keys.map { (key: $0, slices: slicesByService[$0]) }) { item in
            if let slices = item.slices { try await self.writeSlices(slices) }
            try await self.report(item.key, planned: planned, failed: failed)
        }
    }
}
