/// A ledger that cannot be read or written as it is; the shard is left untouched.
public struct LedgerError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// One line of the ledger: a slot of a shared LB given to one port of one member.
public struct Allocation: Sendable, Hashable, Comparable {
    public var slot: Slot
    public var namespace: String
    public var name: String
    public var portName: String
    public var uid: String
    /// The member's own port number (the Service port the slot stands for).
    public var target: Int

    public init(slot: Slot, namespace: String, name: String, portName: String, uid: String, target: Int) {
        self.slot = slot
        self.namespace = namespace
        self.name = name
        self.portName = portName
        self.uid = uid
        self.target = target
    }

    public init(slot: Slot, member: Member, port: MemberPort) {
        self.init(
            slot: slot, namespace: member.namespace, name: member.name, portName: port.name, uid: member.uid,
            target: port.port)
    }

    /// The member port this line serves.
    public var memberPort: MemberPort { MemberPort(name: portName, port: target, protocol: slot.protocol) }

    /// `5432/TCP team-a/db/pg 15014529-edd9-42f7-9e30-4aa454c35522 5432`.
    public var line: String { "\(slot) \(namespace)/\(name)/\(portName) \(uid) \(target)" }

    public init(line: String) throws(LedgerError) {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count == 4 else { throw LedgerError("expected 4 fields in \"\(line.prefix(300))\"") }
        let slotParts = fields[0].split(separator: "/")
        guard slotParts.count == 2, let port = Int(slotParts[0]), (1...65535).contains(port),
            let proto = PortProtocol(rawValue: String(slotParts[1]))
        else { throw LedgerError("bad slot \"\(fields[0])\" (want PORT/TCP|UDP|SCTP)") }
        let member = fields[1].split(separator: "/", omittingEmptySubsequences: false)
        guard member.count == 3, !member[0].isEmpty, !member[1].isEmpty else {
            throw LedgerError("bad member \"\(fields[1])\" (want namespace/name/port-name)")
        }
        guard let target = Int(fields[3]), (1...65535).contains(target) else {
            throw LedgerError("bad target port \"\(fields[3])\"")
        }
        self.init(
            slot: Slot(port: port, protocol: proto), namespace: String(member[0]), name: String(member[1]),
            portName: String(member[2]), uid: String(fields[2]), target: target)
    }

    public static func < (lhs: Allocation, rhs: Allocation) -> Bool {
        (lhs.slot, lhs.uid, lhs.target) < (rhs.slot, rhs.uid, rhs.target)
    }
}

/// One ConfigMap of the ledger: a shared LB, its compatibility key, and its allocations.
///
/// ```yaml
/// data:
///   schema: sharedlb.io/ledger/v1
///   pool: default
///   key: '{"settings":{"allocateLoadBalancerNodePorts":true,"externalTrafficPolicy":"Cluster",...}}'
///   allocations: |
///     5432/TCP team-a/db/pg 15014529-edd9-42f7-9e30-4aa454c35522 5432
///     8080/TCP team-b/web/http 0c4b3e1f-... 8080
/// ```
/// Lines are sorted by protocol then port; there are no timestamps or leader identities, so
/// the same placement always has the same bytes.
public struct LedgerShard: Sendable, Equatable {
    public static let schema = "sharedlb.io/ledger/v1"
    /// A shard's ConfigMap stays under this (the whole object is re-sent to every watcher).
    public static let maximumBytes = 256 * 1024

    public var sharedService: String
    public var key: CompatibilityKey
    public var allocations: [Allocation]

    public init(sharedService: String, key: CompatibilityKey, allocations: [Allocation] = []) {
        self.sharedService = sharedService
        self.key = key
        self.allocations = allocations.sorted()
    }

    /// Reads a ledger ConfigMap's `data`; every malformed line is an error (nothing is guessed).
    public init(configMapName: String, data: [String: String]) throws(LedgerError) {
        guard let sharedService = Naming.sharedService(ofLedger: configMapName) else {
            throw LedgerError("\(configMapName) is not named sharedlb-ledger-<shared-lb>")
        }
        guard data["schema"] == Self.schema else {
            throw LedgerError(
                "\(configMapName): schema is \"\(data["schema"] ?? "")\", this allocator reads \(Self.schema)")
        }
        guard let keyText = data["key"] else { throw LedgerError("\(configMapName): no key") }
        let key: CompatibilityKey
        do {
            key = try CompatibilityKey(canonical: keyText)
        } catch {
            throw LedgerError("\(configMapName): \(error.message)")
        }
        var allocations: [Allocation] = []
        for (number, line) in (data["allocations"] ?? "").split(separator: "\n").enumerated() {
            let trimmed = line.trimmingCharacters()
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            do {
                allocations.append(try Allocation(line: trimmed))
            } catch {
                throw LedgerError("\(configMapName): allocations line \(number + 1): \(error.message)")
            }
        }
        self.init(sharedService: sharedService, key: key, allocations: allocations)
    }

    /// The ConfigMap `data` for this shard.
    public var data: [String: String] {
        [
            "schema": Self.schema,
            "pool": key.poolName,
            "key": key.canonical,
            "allocations": allocations.sorted().map { $0.line + "\n" }.joined(),
        ]
    }

    public var configMapName: String { Naming.ledgerName(sharedService: sharedService) }

    /// The shard keyed by the current rule. Keys stored before 2026-12 hold every annotation
    /// but a deny-list, and key Local-policy members by selector alone: such a shard keeps
    /// only its load-balancer-shaping annotations (its members, keyed the same way now, stay)
    /// and takes the namespace most of its members are in (ties: the first by name; members
    /// of other namespaces then move, since a selector means nothing outside its namespace).
    /// The planner rewrites a shard so migrated once.
    public func migrated(shaping: ShapingAnnotations) -> LedgerShard {
        let annotations = key.annotations.filter { shaping.shapes($0.key) }
        var namespace = key.namespace
        if key.selector != nil, namespace == nil {
            let counts = Dictionary(grouping: allocations, by: \.namespace).mapValues(\.count)
            namespace = counts.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key
        }
        guard annotations != key.annotations || namespace != key.namespace else { return self }
        let migrated = CompatibilityKey(
            pool: key.pool, settings: key.settings, annotations: annotations, selector: key.selector,
            namespace: namespace)
        return LedgerShard(sharedService: sharedService, key: migrated, allocations: allocations)
    }

    /// The shard with the `trafficDistribution` most of its members ask for (a tie keeps the
    /// shard's own). It is a routing preference kube-proxy reads from the shared LB, not
    /// something the cloud builds, so changing it keeps the LB's address: the members that
    /// ask for another one move, the fewest possible. It also reads keys stored before 2026-12,
    /// which left it out although members with and without it shared.
    public func followingTrafficDistribution(of members: [String: Member]) -> LedgerShard {
        let field = "trafficDistribution"
        // The usual case, every member asking for the shard's own: nothing to count (this runs
        // for every shard of every placement).
        let own = key.settings[field]
        guard allocations.contains(where: { members[$0.uid].map { $0.key.settings[field] != own } ?? false })
        else { return self }
        var counts: [String: Int] = [:]  // "" for none
        for uid in Set(allocations.map(\.uid)) {
            guard let member = members[uid] else { continue }
            var settings = member.key.settings
            let wanted = settings[field]?.stringValue ?? ""
            settings[field] = key.settings[field]
            // Only members that differ from the shard in this field alone count.
            let alike = CompatibilityKey(
                pool: member.key.pool, settings: settings, annotations: member.key.annotations,
                selector: member.key.selector, namespace: member.key.namespace)
            if alike == key { counts[wanted, default: 0] += 1 }
        }
        let current = key.settings[field]?.stringValue ?? ""
        guard let best = counts.max(by: { ($0.value, $1.key) < ($1.value, $0.key) }),
            best.key != current, best.value > counts[current, default: 0]
        else { return self }
        var settings = key.settings
        settings[field] = best.key.isEmpty ? nil : .string(best.key)
        let followed = CompatibilityKey(
            pool: key.pool, settings: settings, annotations: key.annotations, selector: key.selector,
            namespace: key.namespace)
        return LedgerShard(sharedService: sharedService, key: followed, allocations: allocations)
    }

    /// The protocols in use (one, unless mixed protocols are allowed).
    public var protocols: Set<PortProtocol> { Set(allocations.map(\.slot.protocol)) }

    /// Slots in use.
    public var slots: Set<Slot> { Set(allocations.map(\.slot)) }
}

extension Substring {
    fileprivate func trimmingCharacters() -> String {
        var view = self
        while let first = view.first, first.isWhitespace { view = view.dropFirst() }
        while let last = view.last, last.isWhitespace { view = view.dropLast() }
        return String(view)
    }
}
