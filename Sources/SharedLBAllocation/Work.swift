public import SharedLBCore

/// What the allocator has to look at again: the keys of its work queue. A change of a watched
/// object maps to the members and shared LBs it concerns (controller-runtime's event handlers
/// that map an object to requests), so a Pod or slice change costs one member's work and an
/// unrelated one costs nothing. Keys coalesce: a member changed ten times while the allocator
/// was busy is looked at once.
public struct Work: Sendable, Equatable {
    /// Everything: the periodic resync, a relist, a new leader.
    public var everything = false
    /// Plan again: a member's placement-relevant spec, the ledger, or the names in the
    /// controller namespace changed.
    public var placement = false
    /// Members (by uid) whose mirrored slices and results to bring in line.
    public var members: Set<String> = []
    /// Services (`namespace/name`) whose result annotations to check: members, and Services
    /// that left (their results go).
    public var services: Set<String> = []
    /// Shared LB Services (by name) to bring in line with their shard.
    public var sharedLBs: Set<String> = []

    public init(
        everything: Bool = false, placement: Bool = false, members: Set<String> = [], services: Set<String> = [],
        sharedLBs: Set<String> = []
    ) {
        self.everything = everything
        self.placement = placement
        self.members = members
        self.services = services
        self.sharedLBs = sharedLBs
    }

    public static let everything = Work(everything: true)
    public static let placement = Work(placement: true)

    public var isEmpty: Bool { self == Work() }

    public mutating func formUnion(_ other: Work) {
        everything = everything || other.everything
        placement = placement || other.placement
        members.formUnion(other.members)
        services.formUnion(other.services)
        sharedLBs.formUnion(other.sharedLBs)
    }

    public func union(_ other: Work) -> Work {
        var result = self
        result.formUnion(other)
        return result
    }
}

/// Which work a change of a watched object makes (pure: tested by tables).
public enum WorkRouting {
    /// A Service change. A member's (or former member's) change checks its results, and plans
    /// again only when what placement reads of it changed (not for the allocator's own result
    /// annotations); in the controller namespace, the shared LB of that name is synced (and
    /// its members told), and a Service that comes or goes changes the names a new shared LB
    /// may take.
    public static func service(
        _ old: KubeService?, _ new: KubeService?, controllerNamespace: String, shaping: ShapingAnnotations
    ) -> Work {
        guard let any = new ?? old else { return Work() }
        var work = Work()
        let key = "\(any.metadata.namespace ?? "")/\(any.metadata.name ?? "")"
        if any.metadata.namespace == controllerNamespace {
            // A shared LB, or someone else's Service that has (or gave up) a shared LB's name.
            work.sharedLBs.insert(any.metadata.name ?? "")
            let role = { (service: KubeService?) in service?.metadata.labels?[SharedLBNames.roleLabel] }
            if old == nil || new == nil || role(old) != role(new) { work.placement = true }
        }
        let oldMember = old.flatMap { Member(service: $0, shaping: shaping) }
        let newMember = new.flatMap { Member(service: $0, shaping: shaping) }
        if oldMember != newMember { work.placement = true }
        for member in [oldMember, newMember].compactMap({ $0 }) { work.members.insert(member.uid) }
        if oldMember != nil || newMember != nil || hasResults(old) || hasResults(new) { work.services.insert(key) }
        return work
    }

    /// An EndpointSlice change: a mirrored slice is its member's; a member's own slice
    /// (`kubernetes.io/service-name`) is that member's, when it is one (`memberUID` of
    /// `namespace/name`).
    public static func slice(
        _ old: EndpointSlice?, _ new: EndpointSlice?, controllerNamespace: String,
        memberUID: (String) -> String?
    ) -> Work {
        var work = Work()
        for slice in [old, new].compactMap({ $0 }) {
            for value in sliceIndex(slice, controllerNamespace: controllerNamespace) {
                if let uid = value.dropping(prefix: mirroredPrefix) {
                    work.members.insert(uid)
                } else if let service = value.dropping(prefix: sourcePrefix), let uid = memberUID(service) {
                    work.members.insert(uid)
                }
            }
        }
        return work
    }

    /// A Pod change matters only to the members whose slices point at it (`membersReferencing`
    /// a `namespace/name`: what the last mirroring of each member read), and only when what
    /// mirroring reads of it (``PodSummary``) changed.
    public static func pod(
        _ old: PodSummary?, _ new: PodSummary?, membersReferencing: (String) -> Set<String>
    ) -> Work {
        guard old != new, let pod = new ?? old else { return Work() }
        return Work(members: membersReferencing("\(pod.namespace)/\(pod.name)"))
    }

    /// An Event in the controller namespace about a shared LB (the cloud's verdict) syncs it
    /// and reports to its members.
    public static func event(_ old: Event?, _ new: Event?) -> Work {
        guard let regarding = (new ?? old)?.regarding, regarding.kind == "Service", let name = regarding.name else {
            return Work()
        }
        return Work(sharedLBs: [name])
    }

    /// The values an EndpointSlice is indexed under: its member's uid for a mirrored slice,
    /// its Service for any other.
    public static func sliceIndex(_ slice: EndpointSlice, controllerNamespace: String) -> [String] {
        let labels = slice.metadata.labels ?? [:]
        let namespace = slice.metadata.namespace ?? ""
        if namespace == controllerNamespace, labels[Mirroring.managedByLabel] == Mirroring.managedBy {
            return [allMirroredIndex] + (labels[Mirroring.memberUIDLabel].map { [mirroredPrefix + $0] } ?? [])
        }
        return labels[Mirroring.serviceNameLabel].map { [sourcePrefix + "\(namespace)/\($0)"] } ?? []
    }

    /// Index value of every mirrored slice.
    public static let allMirroredIndex = "mirrored"
    /// Index value of a member's mirrored slices.
    public static func mirroredIndex(memberUID: String) -> String { mirroredPrefix + memberUID }
    /// Index value of a Service's own slices.
    public static func sourceIndex(service: String) -> String { sourcePrefix + service }

    static let mirroredPrefix = "mirror:"
    static let sourcePrefix = "service:"

    /// Whether a Service carries SharedLB's result annotations.
    public static func hasResults(_ service: KubeService?) -> Bool {
        guard let annotations = service?.metadata.annotations else { return false }
        return MemberResults.names.contains { annotations[$0] != nil }
    }
}

extension String {
    fileprivate func dropping(prefix: String) -> String? {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : nil
    }
}

/// A placement with the members it was planned for, indexed the ways the reconcilers read it.
public struct PlacedMembers: Sendable {
    public var placement: Placement
    /// Members by uid.
    public var members: [String: Member]
    /// Each member's allocations, by shared LB name.
    public var allocations: [String: [String: [Allocation]]]
    /// Member uids by `namespace/name`.
    public var uids: [String: String]

    public init(placement: Placement, members: [Member]) {
        self.placement = placement
        self.members = Dictionary(members.map { ($0.uid, $0) }, uniquingKeysWith: { first, _ in first })
        uids = Dictionary(members.map { ($0.id, $0.uid) }, uniquingKeysWith: { first, _ in first })
        var allocations: [String: [String: [Allocation]]] = [:]
        for (name, shard) in placement.shards {
            for allocation in shard.allocations {
                allocations[allocation.uid, default: [:]][name, default: []].append(allocation)
            }
        }
        self.allocations = allocations
    }

    /// The members placed on a shared LB.
    public func members(of sharedLB: String) -> Set<String> {
        Set(placement.shards[sharedLB]?.allocations.map(\.uid) ?? [])
    }

    /// What a new placement asks to look at again: shared LBs whose shard changed (or whose
    /// members' hostnames did), and members whose allocations, failure or move changed, or
    /// that came or went. Everything when there was no placement before.
    public static func changes(from old: PlacedMembers?, to new: PlacedMembers) -> Work {
        guard let old else { return .everything }
        var work = Work()
        for name in Set(old.placement.shards.keys).union(new.placement.shards.keys)
        where old.placement.shards[name] != new.placement.shards[name] {
            work.sharedLBs.insert(name)
        }
        for uid in Set(old.members.keys).union(new.members.keys) {
            let before = old.members[uid]
            let after = new.members[uid]
            if before != after {
                // Hostnames are the shared LB's too.
                for name in (old.allocations[uid] ?? [:]).keys { work.sharedLBs.insert(name) }
                for name in (new.allocations[uid] ?? [:]).keys { work.sharedLBs.insert(name) }
            }
            if before != after || old.allocations[uid] != new.allocations[uid]
                || old.placement.failures[uid] != new.placement.failures[uid] || new.placement.moves[uid] != nil
            {
                work.members.insert(uid)
                if let id = (after ?? before)?.id { work.services.insert(id) }
            }
        }
        return work
    }
}
