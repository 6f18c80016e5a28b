/// Cleaning a ledger read before placing: lines that no longer hold.
extension Planner.Work {
    /// Removes lines of members that are gone, whose port or key changed, slots given twice,
    /// and member ports recorded twice; then gathers each group of a member onto one shard.
    mutating func dropStale(members: [String: Member]) {
        // A slot recorded twice (allocators raced) goes to the older member.
        func age(_ allocation: Allocation) -> [String] {
            let member = members[allocation.uid]
            return [member?.creationTimestamp ?? "~", allocation.namespace, allocation.name, allocation.uid]
        }
        for name in order(shards.keys) {
            var kept: [Allocation] = []
            var used = Set<Slot>()
            let contested = shards[name]!.allocations.sorted {
                $0.slot != $1.slot ? $0.slot < $1.slot : age($0).lexicographicallyPrecedes(age($1))
            }
            for allocation in contested {
                if let member = members[allocation.uid], member.key != shards[name]!.key {
                    // Its load balancer's settings changed: placed again, reported as a move.
                    rekeyed[member.uid, default: []].insert(name)
                    continue
                }
                guard let member = members[allocation.uid],
                    let port = member.ports.first(where: {
                        $0.protocol == allocation.slot.protocol && $0.port == allocation.target
                    }),
                    !used.contains(allocation.slot), homes[member.uid]?[port] == nil
                else { continue }
                kept.append(Allocation(slot: allocation.slot, member: member, port: port))
                used.insert(allocation.slot)
                homes[member.uid, default: [:]][port] = name
            }
            shards[name]!.allocations = kept
            slots[name] = used
        }
        // A group split over several shards (two allocators raced): keep the shard that
        // holds most of it; the rest is placed again beside it.
        for (uid, portHomes) in homes {
            guard let member = members[uid] else { continue }
            for group in member.groups(mixedProtocol: configuration.mixedProtocol) {
                let names = Set(group.compactMap { portHomes[$0] })
                guard names.count > 1 else { continue }
                let ranked = order(names)
                var best = ranked[0]
                var bestCount = group.filter { portHomes[$0] == best }.count
                for name in ranked.dropFirst() {
                    let count = group.filter { portHomes[$0] == name }.count
                    if count > bestCount { (best, bestCount) = (name, count) }
                }
                for port in group where portHomes[port] != best {
                    remove(uid: uid, port: port)
                }
            }
        }
    }

    mutating func remove(uid: String, port: MemberPort) {
        guard let name = homes[uid]?[port] else { return }
        if let index = shards[name]!.allocations.firstIndex(where: {
            $0.uid == uid && $0.target == port.port && $0.slot.protocol == port.protocol
        }) {
            slots[name]!.remove(shards[name]!.allocations[index].slot)
            shards[name]!.allocations.remove(at: index)
        }
        homes[uid]![port] = nil
    }
}
