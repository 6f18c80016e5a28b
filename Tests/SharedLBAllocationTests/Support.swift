import Foundation
import SharedLBAllocation
import SharedLBCore
import Testing

/// Objects captured from kube-apiserver v1.24 (copied from shared/fixtures/kube-1.24/rest).
enum Fixtures {
    static func decode<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures"))
        return try JSONDecoder().decode(type, from: Data(contentsOf: url))
    }
}

/// A member as the webhook leaves it: labelled, `requested` recorded, ClusterIP.
func memberService(
    _ namespace: String, _ name: String, uid: String? = nil, ports: [(Int, String)],
    created: String = "2026-11-27T00:00:00Z",
    requested: String = #"{"allocateLoadBalancerNodePorts":true,"externalTrafficPolicy":"Cluster"}"#,
    annotations: [String: String] = [:]
) -> KubeService {
    var service = KubeService(
        metadata: ObjectMeta(
            name: name, namespace: namespace, labels: [SharedLBNames.managedLabel: "true"],
            annotations: annotations.merging([SharedLBNames.requestedAnnotation: requested]) { first, _ in first }),
        spec: KubeService.Spec(
            type: "ClusterIP",
            ports: ports.map { KubeService.Port(name: "p\($0.0)", protocol: $0.1, port: $0.0) },
            selector: ["app": name]))
    service.metadata.uid = uid ?? "uid-\(namespace)-\(name)"
    service.metadata.creationTimestamp = created
    service.spec?.sessionAffinity = "None"
    service.spec?.ipFamilies = ["IPv4"]
    service.spec?.ipFamilyPolicy = "SingleStack"
    return service
}

func member(
    _ namespace: String, _ name: String, ports: [(Int, String)], created: String = "2026-11-27T00:00:00Z",
    requested: String = #"{"allocateLoadBalancerNodePorts":true,"externalTrafficPolicy":"Cluster"}"#,
    annotations: [String: String] = [:]
) -> Member {
    Member(
        service: memberService(
            namespace, name, ports: ports, created: created, requested: requested, annotations: annotations))!
}

/// A deterministic generator for property tests.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Placement {
    /// Invariants every placement must keep, whatever its input.
    func checkInvariants(members: [Member], configuration: PlacementConfiguration) {
        let byUID = Dictionary(uniqueKeysWithValues: members.map { ($0.uid, $0) })
        var homes: [String: Set<String>] = [:]
        for (name, shard) in shards {
            #expect(Naming.isDNSLabel(name))
            #expect(
                Set(shard.allocations.map(\.slot)).count == shard.allocations.count, "a slot given twice on \(name)")
            #expect(shard.allocations.count <= configuration.portsPerLB)
            if !configuration.mixedProtocol { #expect(shard.protocols.count <= 1) }
            for allocation in shard.allocations {
                guard let member = byUID[allocation.uid] else {
                    Issue.record("allocation of a member that is gone: \(allocation.line)")
                    continue
                }
                #expect(member.key == shard.key)
                #expect(member.ports.contains(allocation.memberPort))
                let group = configuration.mixedProtocol ? "" : allocation.slot.protocol.rawValue
                homes["\(allocation.uid)|\(group)", default: []].insert(name)
                if member.policy ?? configuration.defaultPolicy == .preserve {
                    #expect(allocation.slot.port == allocation.target)
                }
            }
            #expect(shard.data.values.reduce(0) { $0 + $1.utf8.count } < LedgerShard.maximumBytes)
        }
        for (group, names) in homes { #expect(names.count == 1, "\(group) split over \(names)") }
        for member in members where failures[member.uid] == nil {
            #expect(allocations(ofMember: member.uid).values.reduce(0) { $0 + $1.count } == member.ports.count)
        }
    }
}
