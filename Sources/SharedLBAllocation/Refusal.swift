public import SharedLBCore

/// A member the API server refused on its shared LB: a write of the shared Service was
/// answered 422 for one of this member's ports (such as 10250, which kube-apiserver before
/// 1.33 refuses on a LoadBalancer). The member is left out of placement, and told why, until
/// it changes; the other members of that LB stay placed.
public struct Refusal: Sendable, Equatable {
    /// The member as it was refused (its ports and settings): a change gives it another try.
    public var fingerprint: String
    /// For `sharedlb.io/error` and the `AllocationFailed` Event.
    public var message: String

    public init(fingerprint: String, message: String) {
        self.fingerprint = fingerprint
        self.message = message
    }

    /// What a member is placed as: a refusal stands while this stays the same.
    public static func fingerprint(of member: Member) -> String {
        member.ports.map { "\($0.name)=\($0.slot)" }.joined(separator: ",") + " " + member.key.canonical
    }

    /// The members that a refusal of a shared LB write names, by uid: each `spec.ports[i]`
    /// cause is the port at index `i` of `writtenPorts` (the ports as the refused write sent
    /// them, or as the Service holds them when the write did not send any). Causes on other
    /// fields name no member (the whole pool shares those settings).
    public static func refused(
        causes: [(field: String, message: String)], writtenPorts: [KubeService.Port], shard: LedgerShard,
        members: [String: Member]
    ) -> [String: Refusal] {
        var result: [String: Refusal] = [:]
        for cause in causes {
            guard let index = portIndex(cause.field), writtenPorts.indices.contains(index),
                let name = writtenPorts[index].name
            else { continue }
            for allocation in shard.allocations where Naming.portName(allocation.slot) == name {
                guard let member = members[allocation.uid] else { continue }
                let message = "shared LB \(shard.sharedService) refused \(allocation.slot): \(cause.message)"
                let earlier = result[allocation.uid].map { $0.message + "; " } ?? ""
                result[allocation.uid] = Refusal(fingerprint: fingerprint(of: member), message: earlier + message)
            }
        }
        return result
    }

    /// `i` of `spec.ports[i]` or `spec.ports[i].<field>`.
    static func portIndex(_ field: String) -> Int? {
        let prefix = "spec.ports["
        guard field.hasPrefix(prefix) else { return nil }
        let rest = field.dropFirst(prefix.count)
        guard let close = rest.firstIndex(of: "]") else { return nil }
        return Int(rest[..<close])
    }
}
