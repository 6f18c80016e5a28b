import Foundation
import SharedLBAllocation
import SharedLBCore
import SharedLBKubernetes

/// Endpoint mirroring: a member's EndpointSlices copied onto its shared LBs (``Mirroring``,
/// pure), with only the Pods they point at that really are that member's.
extension Allocator {
    /// A member's mirrored slices: as they are, and as they should be.
    func mirroredSlices(of uid: String, planned: Planned) -> MemberSlices {
        let namespace = configuration.namespace
        var existing: [String: EndpointSlice] = [:]
        for cached in slices.objects(indexedBy: WorkRouting.mirroredIndex(memberUID: uid)) {
            // The slices of a shard that cannot be read stay as they are: the traffic it
            // carries keeps flowing until an operator mends it.
            guard let slice = slice(key(cached.metadata)),
                !planned.unreadable.contains(slice.metadata.labels?[Mirroring.serviceNameLabel] ?? "")
            else { continue }
            existing[slice.metadata.name ?? ""] = slice
        }
        var desired: [String: EndpointSlice] = [:]
        if planned.placed.members[uid] == nil { queue.setPods([], of: uid) }
        if let member = planned.placed.members[uid] {
            let sources = slices.objects(indexedBy: WorkRouting.sourceIndex(service: member.id))
            let names = Set(
                sources.flatMap { $0.endpoints ?? [] }.compactMap { endpoint in
                    endpoint.targetRef.flatMap { $0.kind == "Pod" ? $0.name : nil }
                })
            // Before the Pods are read: a change of theirs after this queues the member again.
            queue.setPods(Set(names.map { "\(member.namespace)/\($0)" }), of: uid)
            var pods: [String: PodSummary] = [:]
            for name in names {
                if let pod = self.pods.get("\(member.namespace)/\(name)") { pods[name] = pod }
            }
            for (name, allocations) in planned.placed.allocations[uid] ?? [:] {
                guard let shared = service("\(namespace)/\(name)"),
                    shared.metadata.labels?[SharedLBNames.roleLabel] == SharedLBNames.sharedLBRole,
                    let sharedUID = shared.metadata.uid
                else { continue }
                for slice in Mirroring.slices(
                    sharedService: name, sharedServiceUID: sharedUID, namespace: namespace, memberUID: uid,
                    memberNamespace: member.namespace, allocations: allocations, memberSlices: sources, pods: pods)
                {
                    desired[slice.metadata.name!] = slice
                }
            }
        }
        // Slices this allocator created that the watch does not show yet.
        for name in desired.keys where existing[name] == nil {
            if let slice = slice("\(namespace)/\(name)") { existing[name] = slice }
        }
        return MemberSlices(uid: uid, existing: existing, desired: desired)
    }

    func writeSlices(_ slices: MemberSlices) async throws {
        let namespace = configuration.namespace
        for (name, want) in slices.desired.sorted(by: { $0.key < $1.key }) {
            if let current = slices.existing[name], Mirroring.matches(current, want) { continue }
            _ = try await isolated(
                "EndpointSlice \(namespace)/\(name)", "write mirrored slice", retry: Work(members: [slices.uid])
            ) {
                try checkLeader()
                try await writeSlice(want, current: slices.existing[name])
            }
        }
    }

    /// Creates or updates one mirrored slice (a merge patch of the fields SharedLB sets).
    func writeSlice(_ want: EndpointSlice, current: EndpointSlice?) async throws {
        let namespace = configuration.namespace
        let name = want.metadata.name ?? ""
        guard let current else {
            do {
                let created = try await client.create(want)
                record(slice: created, key: key(created.metadata), replacing: nil)
            } catch {
                // Our watch is behind: its event compares again.
                guard error.kind == .alreadyExists else { throw error }
            }
            return
        }
        if current.addressType != want.addressType {
            // addressType is immutable: replace the slice.
            try await client.delete(EndpointSlice.self, namespace: namespace, name: name)
            let created = try await client.create(want)
            record(slice: created, key: key(created.metadata), replacing: nil)
            return
        }
        let updated = try await client.patch(
            EndpointSlice.self, namespace: namespace, name: name, patch: .mergeEncoding(MirroredSlicePatch(slice: want))
        )
        record(slice: updated, key: key(updated.metadata), replacing: current.metadata.resourceVersion)
    }
}

/// The fields of a mirrored slice SharedLB sets, as a merge patch: labels and owner references
/// (`null` when the slice has none: removed), endpoints and ports (replaced whole).
struct MirroredSlicePatch: Encodable, Sendable {
    let slice: EndpointSlice

    private enum Keys: String, CodingKey { case metadata, labels, ownerReferences, endpoints, ports }

    func encode(to encoder: any Encoder) throws {
        var root = encoder.container(keyedBy: Keys.self)
        var metadata = root.nestedContainer(keyedBy: Keys.self, forKey: .metadata)
        try metadata.encode(slice.metadata.labels, forKey: .labels)
        try metadata.encode(slice.metadata.ownerReferences, forKey: .ownerReferences)
        try root.encode(slice.endpoints ?? [], forKey: .endpoints)
        try root.encode(slice.ports ?? [], forKey: .ports)
    }
}
