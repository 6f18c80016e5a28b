public import SharedLBCore

/// One broken invariant, named so an operator can search for it.
public struct Violation: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var code: String
    public var subject: String
    public var message: String

    public init(_ code: String, _ subject: String, _ message: String) {
        self.code = code
        self.subject = subject
        self.message = message
    }

    public var description: String { "\(code) \(subject): \(message)" }

    public static func < (lhs: Violation, rhs: Violation) -> Bool {
        (lhs.code, lhs.subject, lhs.message) < (rhs.code, rhs.subject, rhs.message)
    }
}

/// Checks DESIGN.md's invariants over the ledger and the live objects.
public struct Auditor: Sendable {
    public var shards: [LedgerShard]
    /// Ledger ConfigMaps that could not be read, with the reason.
    public var unreadable: [String: String]
    /// Services labelled `sharedlb.io/role: shared-lb` (nil: not checked, as offline).
    public var sharedServices: [KubeService]?
    /// Mirrored EndpointSlices in the controller namespace (nil: not checked).
    public var mirroredSlices: [EndpointSlice]?
    /// Managed Services (nil: not checked).
    public var memberServices: [KubeService]?
    /// The members' own slices and Pods, for the mirrored endpoints (nil: not checked).
    public var memberEndpoints: MemberEndpoints?
    public var mixedProtocol: Bool
    /// The annotations that decide sharing, as the allocator's `--lb-annotation-prefix`.
    public var shaping: ShapingAnnotations

    /// Shards stored under an older key rule are checked as the allocator reads them
    /// (``LedgerShard/migrated(shaping:)``, ``LedgerShard/followingTrafficDistribution(of:)``).
    public init(
        shards: [LedgerShard], unreadable: [String: String] = [:], sharedServices: [KubeService]? = nil,
        mirroredSlices: [EndpointSlice]? = nil, memberServices: [KubeService]? = nil,
        memberEndpoints: MemberEndpoints? = nil, mixedProtocol: Bool = false, shaping: ShapingAnnotations = .standard
    ) {
        var members: [String: Member] = [:]
        for service in memberServices ?? [] {
            if let member = Member(service: service, shaping: shaping) { members[member.uid] = member }
        }
        self.shards = shards.map { $0.migrated(shaping: shaping).followingTrafficDistribution(of: members) }
        self.shaping = shaping
        self.unreadable = unreadable
        self.sharedServices = sharedServices
        self.mirroredSlices = mirroredSlices
        self.memberServices = memberServices
        self.memberEndpoints = memberEndpoints
        self.mixedProtocol = mixedProtocol
    }

    public func violations() -> [Violation] {
        var found: [Violation] = []
        for (name, reason) in unreadable { found.append(Violation("ledger-unreadable", name, reason)) }
        var owners: [String: [String: String]] = [:]  // uid → "PROTO/target" → shard
        var shardsOfGroup: [String: Set<String>] = [:]  // uid|group → shards
        for shard in shards {
            if !Naming.isDNSLabel(shard.sharedService) || !(shard.sharedService.first?.isLetter ?? false) {
                found.append(Violation("invalid-name", shard.sharedService, "not a valid Service name"))
            }
            var seen: [Slot: Allocation] = [:]
            for allocation in shard.allocations {
                if let other = seen[allocation.slot] {
                    found.append(
                        Violation(
                            "slot-conflict", "\(shard.sharedService) \(allocation.slot)",
                            "given to \(other.namespace)/\(other.name) and \(allocation.namespace)/\(allocation.name)"))
                }
                seen[allocation.slot] = allocation
                let port = "\(allocation.slot.protocol.rawValue)/\(allocation.target)"
                if let other = owners[allocation.uid]?[port] {
                    found.append(
                        Violation(
                            "member-duplicated", "\(allocation.namespace)/\(allocation.name) \(port)",
                            "recorded in \(other) and \(shard.sharedService)"))
                }
                owners[allocation.uid, default: [:]][port] = shard.sharedService
                let group = mixedProtocol ? "" : allocation.slot.protocol.rawValue
                shardsOfGroup["\(allocation.uid)|\(group)", default: []].insert(shard.sharedService)
            }
            if !mixedProtocol && shard.protocols.count > 1 {
                found.append(
                    Violation(
                        "mixed-protocol", shard.sharedService,
                        "carries \(shard.protocols.sorted().map(\.rawValue).joined(separator: "+")) without --mixed-protocol=allow"
                    ))
            }
        }
        for (group, names) in shardsOfGroup where names.count > 1 {
            found.append(
                Violation(
                    "member-split", String(group.split(separator: "|").first ?? ""),
                    "ports of one group on \(names.sorted().joined(separator: ", "))"))
        }
        if let sharedServices { found += checkServices(sharedServices) }
        if let memberServices { found += checkMembers(memberServices) }
        if let mirroredSlices { found += checkSlices(mirroredSlices) }
        if let mirroredSlices, let memberServices, let memberEndpoints {
            var members: [String: Member] = [:]
            for service in memberServices {
                if let member = Member(service: service, shaping: shaping) { members[member.uid] = member }
            }
            found += checkEndpoints(mirroredSlices, memberEndpoints, members: members)
        }
        return found.sorted()
    }

    func checkServices(_ services: [KubeService]) -> [Violation] {
        var found: [Violation] = []
        let byName = Dictionary(services.map { ($0.metadata.name ?? "", $0) }, uniquingKeysWith: { first, _ in first })
        let ledgerNames = Set(shards.map(\.sharedService))
        for shard in shards where !shard.allocations.isEmpty {
            guard let service = byName[shard.sharedService] else {
                found.append(
                    Violation(
                        "shared-service-missing", shard.sharedService,
                        "the ledger has \(shard.allocations.count) allocations"))
                continue
            }
            let want = Set(SharedService.ports(of: shard).map { "\($0.name!) \($0.port)/\($0.protocol!)" })
            let have = Set((service.spec?.ports ?? []).map { "\($0.name ?? "") \($0.port)/\($0.protocol ?? "TCP")" })
            if want != have {
                found.append(
                    Violation(
                        "shared-service-ports", shard.sharedService,
                        "ledger \(want.sorted().joined(separator: ",")) but Service \(have.sorted().joined(separator: ","))"
                    ))
            }
            if service.spec?.selector?.isEmpty == false {
                found.append(
                    Violation("shared-service-selector", shard.sharedService, "a shared LB must not select pods"))
            }
            for (field, value) in shard.key.settings.members.map({ ($0.key, $0.value) })
            where SharedService.settingValue(field, of: service.spec ?? KubeService.Spec()) != value {
                found.append(
                    Violation(
                        "shared-service-settings", shard.sharedService,
                        "\(field) is not \(JSONWriter.encode(value, sortedKeys: true))"))
            }
        }
        for service in services where !ledgerNames.contains(service.metadata.name ?? "") {
            if service.metadata.deletionTimestamp == nil {
                found.append(Violation("orphan-shared-service", service.metadata.name ?? "", "no ledger shard"))
            }
        }
        return found
    }

    func checkMembers(_ services: [KubeService]) -> [Violation] {
        var found: [Violation] = []
        var placed: Set<String> = []
        let pairs = services.compactMap { service in Member(service: service, shaping: shaping).map { (service, $0) } }
        var members: [String: Member] = [:]
        for (_, member) in pairs { members[member.uid] = member }
        for shard in shards {
            for allocation in shard.allocations {
                placed.insert(allocation.uid)
                guard let member = members[allocation.uid] else {
                    found.append(
                        Violation(
                            "stale-allocation", "\(shard.sharedService) \(allocation.slot)",
                            "\(allocation.namespace)/\(allocation.name) (\(allocation.uid)) is no longer a member"))
                    continue
                }
                if member.key != shard.key {
                    found.append(
                        Violation(
                            "pool-mismatch", "\(member.id) \(allocation.slot)",
                            "placed on \(shard.sharedService), whose settings differ from the member's"))
                }
                if !member.ports.contains(allocation.memberPort) {
                    found.append(
                        Violation(
                            "port-mismatch", "\(member.id) \(allocation.slot)",
                            "the member has no port \(allocation.target)/\(allocation.slot.protocol.rawValue) named \"\(allocation.portName)\""
                        ))
                }
            }
        }
        for (service, member) in pairs where !placed.contains(member.uid) {
            if service.metadata.annotations?[SharedLBNames.errorAnnotation] == nil && !member.ports.isEmpty {
                found.append(
                    Violation("unplaced-member", member.id, "no allocation and no \(SharedLBNames.errorAnnotation)"))
            }
        }
        return found
    }

    func checkSlices(_ slices: [EndpointSlice]) -> [Violation] {
        var found: [Violation] = []
        var allocated: [String: Set<String>] = [:]  // shared LB|uid → port names
        for shard in shards {
            for allocation in shard.allocations {
                allocated["\(shard.sharedService)|\(allocation.uid)", default: []].insert(
                    Naming.portName(allocation.slot))
            }
        }
        for slice in slices {
            let name = slice.metadata.name ?? ""
            let service = slice.metadata.labels?[Mirroring.serviceNameLabel] ?? ""
            let uid = slice.metadata.labels?[Mirroring.memberUIDLabel] ?? ""
            guard let ports = allocated["\(service)|\(uid)"] else {
                found.append(Violation("stale-mirror", name, "member \(uid) has nothing on \(service)"))
                continue
            }
            for port in slice.ports ?? [] where !ports.contains(port.name ?? "") {
                found.append(
                    Violation("mirror-port", name, "port \(port.name ?? "") is not the member's on \(service)"))
            }
            if slice.metadata.ownerReferences?.count != 1 || slice.metadata.ownerReferences?.first?.name != service {
                found.append(Violation("mirror-owner", name, "must be owned by \(service) alone"))
            }
        }
        return found
    }
}
