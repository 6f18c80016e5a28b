/// The ledger after a placement pass, and what it means for each member.
public struct Placement: Sendable {
    /// Every shard, by shared LB name (emptied ones included: they wait out the grace period).
    public var shards: [String: LedgerShard]
    /// Shards whose content changed or that are new: the only ones to write.
    public var changed: [String]
    /// New shards among ``changed``.
    public var created: [String]
    /// Members that could not be (fully) placed, by uid: the message for `sharedlb.io/error`.
    public var failures: [String: String]
    /// Members whose ports moved to another shared LB, by uid: `from -> to`.
    public var moves: [String: [String]]

    /// A member's allocations, by shared LB name.
    public func allocations(ofMember uid: String) -> [String: [Allocation]] {
        var result: [String: [Allocation]] = [:]
        for (name, shard) in shards {
            let mine = shard.allocations.filter { $0.uid == uid }
            if !mine.isEmpty { result[name] = mine }
        }
        return result
    }
}

/// Places members' ports on shared LBs. Pure and deterministic: the same members and ledger
/// always give the same placement, and a ledger that is already right is returned unchanged.
public enum Planner {
    /// - Parameters:
    ///   - shards: the ledger as read.
    ///   - reservedNames: names that must not be given to a new shared LB (Services still
    ///     present, for example held by a cloud clean-up finalizer, and unreadable shards).
    ///   - failedOver: shared LBs given up on (`--failover-after`), each with the members (uids)
    ///     that leave it for another LB of their pool, when one can take them (a `Moved`);
    ///     none of them takes a new member.
    public static func plan(
        members: [Member], shards: [LedgerShard], reservedNames: Set<String> = [],
        failedOver: [String: Set<String>] = [:], configuration: PlacementConfiguration
    ) -> Placement {
        let byUID = Dictionary(members.map { ($0.uid, $0) }, uniquingKeysWith: { first, _ in first })
        var work = Work(
            shards: shards.map { $0.migrated(shaping: configuration.shaping).followingTrafficDistribution(of: byUID) },
            configuration: configuration, reserved: reservedNames)
        work.failedOver = failedOver
        work.dropStale(members: byUID)
        let ordered = members.sorted {
            ($0.creationTimestamp, $0.namespace, $0.name, $0.uid) < (
                $1.creationTimestamp, $1.namespace, $1.name, $1.uid
            )
        }
        for member in ordered {
            work.place(member)
        }
        return work.result(original: shards)
    }

    struct Work {
        var shards: [String: LedgerShard]
        var slots: [String: Set<Slot>]
        /// uid → member port → shard name.
        var homes: [String: [MemberPort: String]] = [:]
        var failures: [String: String] = [:]
        var moves: [String: [String]] = [:]
        /// Members dropped from shards whose key is no longer theirs: uid → those shards.
        var rekeyed: [String: Set<String>] = [:]
        /// Each key's shards in `order`, kept as shards are added: finding a home for a member
        /// looks at its own pool only (a burst of 10,000 was quadratic in all shards before).
        var pools: [CompatibilityKey: [String]] = [:]
        let configuration: PlacementConfiguration
        let reserved: Set<String>
        var failedOver: [String: Set<String>] = [:]

        init(shards: [LedgerShard], configuration: PlacementConfiguration, reserved: Set<String>) {
            self.shards = Dictionary(
                shards.map { ($0.sharedService, $0.migrated(shaping: configuration.shaping)) },
                uniquingKeysWith: { first, _ in first })
            self.slots = [:]
            self.configuration = configuration
            self.reserved = reserved
            for name in order(self.shards.keys) { pools[self.shards[name]!.key, default: []].append(name) }
        }

        /// Stable order: by key, then by the `n` of `sharedlb-<pool>-<n>`, then by name.
        func order(_ names: some Sequence<String>) -> [String] {
            names.sorted { lhs, rhs in
                let left = shards[lhs]!
                let right = shards[rhs]!
                let leftIndex = Naming.index(of: lhs, pool: left.key.poolName) ?? Int.max
                let rightIndex = Naming.index(of: rhs, pool: right.key.poolName) ?? Int.max
                return (left.key.canonical, leftIndex, lhs) < (right.key.canonical, rightIndex, rhs)
            }
        }

        mutating func place(_ member: Member) {
            var problems: [String] = []
            if let problem = member.problem {
                failures[member.uid] = problem
                return
            }
            let policy = member.policy ?? configuration.defaultPolicy
            for group in member.groups(mixedProtocol: configuration.mixedProtocol) {
                let placed = group.filter { homes[member.uid]?[$0] != nil }
                let missing = group.filter { homes[member.uid]?[$0] == nil }
                // Its LB was given up on: the group leaves it if another LB of the pool takes it.
                if let home = placed.first.flatMap({ homes[member.uid]![$0] }),
                    failedOver[home]?.contains(member.uid) == true,
                    let (target, slots) = findShard(for: member, group, policy: policy, excluding: home)
                {
                    for port in placed { remove(uid: member.uid, port: port) }
                    assign(member, group, slots, on: target)
                    moves[member.uid, default: []].append("\(home) -> \(target)")
                    continue
                }
                guard !missing.isEmpty else { continue }
                if let home = placed.first.flatMap({ homes[member.uid]![$0] }) {
                    if let slots = fit(missing, on: home, policy: policy) {
                        assign(member, missing, slots, on: home)
                        continue
                    }
                    // The new ports do not fit beside the old ones: move the group, if it fits elsewhere.
                    if let (target, slots) = findShard(for: member, group, policy: policy, excluding: home) {
                        for port in placed { remove(uid: member.uid, port: port) }
                        assign(member, group, slots, on: target)
                        moves[member.uid, default: []].append("\(home) -> \(target)")
                    } else {
                        problems.append(reason(member, missing))
                    }
                } else if let (target, slots) = findShard(for: member, group, policy: policy, excluding: nil) {
                    assign(member, group, slots, on: target)
                } else {
                    problems.append(reason(member, group))
                }
            }
            if !problems.isEmpty { failures[member.uid] = problems.joined(separator: "; ") }
            if let previous = rekeyed[member.uid] {
                let now = Set(homes[member.uid]?.values.map { $0 } ?? [])
                if !now.isEmpty {
                    moves[member.uid, default: []].append(
                        "\(previous.sorted().joined(separator: ",")) -> \(now.sorted().joined(separator: ","))")
                }
            }
        }

        /// Shared LBs a pool may have: one when it asks for a fixed `loadBalancerIP` (an
        /// address cannot be on two load balancers).
        static func limit(_ key: CompatibilityKey, _ configuration: PlacementConfiguration) -> Int {
            if key.settings["loadBalancerIP"] != nil { return 1 }
            return configuration.maximumLBsPerPool == 0 ? Int.max : configuration.maximumLBsPerPool
        }

        func reason(_ member: Member, _ ports: [MemberPort]) -> String {
            let list = ports.map { $0.slot.description }.joined(separator: ",")
            if ports.count > configuration.portsPerLB {
                let cap =
                    configuration.portsPerLB < configuration.maximumPortsPerLB
                    ? "\(configuration.portsPerLB) (--max-targets-per-lb \(configuration.maximumTargetsPerLB ?? 0) over \(configuration.nodes) nodes)"
                    : "--max-ports-per-lb \(configuration.maximumPortsPerLB)"
                return "\(list): \(ports.count) ports in one group, more than \(cap)"
            }
            let count = pools[member.key]?.count ?? 0
            if let address = member.key.settings["loadBalancerIP"]?.stringValue {
                return "no room for \(list) on the one shared LB with loadBalancerIP \(address): ports taken or full"
            }
            return
                "no room for \(list) in pool \(member.key.poolName): \(count) shared LBs (limit \(configuration.maximumLBsPerPool)) have these ports taken or are full"
        }

        /// The slots `ports` would get on shard `name`, or nil when they do not fit.
        func fit(_ ports: [MemberPort], on name: String, policy: PortPolicy) -> [Slot]? {
            let shard = shards[name]!
            let used = slots[name] ?? []
            guard shard.allocations.count + ports.count <= configuration.portsPerLB else { return nil }
            if !configuration.mixedProtocol,
                let wanted = ports.first?.protocol ?? shard.allocations.first?.slot.protocol
            {
                // One protocol per LB (no Set built: this runs for every shard tried).
                guard ports.allSatisfy({ $0.protocol == wanted }),
                    shard.allocations.allSatisfy({ $0.slot.protocol == wanted })
                else { return nil }
            }
            var chosen: [Slot] = []
            for port in ports {
                if !used.contains(port.slot) && !chosen.contains(port.slot) {
                    chosen.append(port.slot)
                    continue
                }
                guard policy == .remap,
                    let free = configuration.remapRange.lazy.map({ Slot(port: $0, protocol: port.protocol) }).first(
                        where: { !used.contains($0) && !chosen.contains($0) && !ports.map(\.slot).contains($0) })
                else { return nil }
                chosen.append(free)
            }
            return chosen
        }

        /// The first shard of the member's pool the whole group fits on, preserving ports if
        /// any allows it, else remapping (policy `remap`), else a new shard.
        mutating func findShard(for member: Member, _ group: [MemberPort], policy: PortPolicy, excluding: String?)
            -> (String, [Slot])?
        {
            let all = pools[member.key] ?? []
            let pool = all.filter { $0 != excluding && failedOver[$0] == nil }
            for name in pool {
                if let slots = fit(group, on: name, policy: .preserve) { return (name, slots) }
            }
            if policy == .remap {
                for name in pool {
                    if let slots = fit(group, on: name, policy: .remap) { return (name, slots) }
                }
            }
            guard group.count <= configuration.portsPerLB, all.count < Self.limit(member.key, configuration)
            else { return nil }
            var index = 1
            while shards[Naming.sharedServiceName(pool: member.key.poolName, index: index)] != nil
                || reserved.contains(Naming.sharedServiceName(pool: member.key.poolName, index: index))
            {
                index += 1
            }
            let name = Naming.sharedServiceName(pool: member.key.poolName, index: index)
            shards[name] = LedgerShard(sharedService: name, key: member.key)
            slots[name] = []
            pools[member.key] = order(all + [name])
            return (name, group.map(\.slot))
        }

        mutating func assign(_ member: Member, _ ports: [MemberPort], _ chosen: [Slot], on name: String) {
            for (port, slot) in zip(ports, chosen) {
                shards[name]!.allocations.append(Allocation(slot: slot, member: member, port: port))
                slots[name, default: []].insert(slot)
                homes[member.uid, default: [:]][port] = name
            }
        }

        func result(original: [LedgerShard]) -> Placement {
            let before = Dictionary(original.map { ($0.sharedService, $0) }, uniquingKeysWith: { first, _ in first })
            var final: [String: LedgerShard] = [:]
            var changed: [String] = []
            var created: [String] = []
            for (name, shard) in shards {
                let sorted = LedgerShard(sharedService: name, key: shard.key, allocations: shard.allocations)
                final[name] = sorted
                if let old = before[name] {
                    if old.data != sorted.data { changed.append(name) }
                } else {
                    changed.append(name)
                    created.append(name)
                }
            }
            return Placement(
                shards: final, changed: changed.sorted(), created: created.sorted(), failures: failures, moves: moves)
        }
    }
}
