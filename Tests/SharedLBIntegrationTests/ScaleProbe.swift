import Foundation
import SharedLBAPIServer
import SharedLBAllocation
import SharedLBController
import SharedLBCore
import SharedLBEnvtest
import SharedLBKubernetes
import Synchronization
import Testing

/// The allocator at scale: `SCALE_PROBE=100,1000,10000 swift test --filter ScaleProbe` (or
/// `scripts/allocator-scale.sh`, which uses a release build of the allocator). For each size, a
/// fresh API server (the newest real control plane when SHAREDLB_KUBE_ASSETS is set, with the
/// webhook registered; else the in-repo one); N LoadBalancer Services created in a burst by 8
/// clients; the `sharedlb allocator` process (SHAREDLB_BINARY, default the debug build) places
/// them. Prints one row per size: time until every Service carries its endpoint, and that time
/// against the API server's write-rate bound (the time the server needs for all the allocator's
/// writes at the rate it took the burst's creates); API writes per Service (per member, and
/// amortised ledger and shared-LB writes; on a real server counted from its audit log),
/// ledger bytes per shard, the allocator's peak RSS, and how long an audit of the result takes.
@Suite("scale probe", .disabled(if: ProcessInfo.processInfo.environment["SCALE_PROBE"] == nil))
struct ScaleProbe {
    static var sizes: [Int] {
        (ProcessInfo.processInfo.environment["SCALE_PROBE"] ?? "").split(separator: ",").compactMap { Int($0) }
    }

    static var binary: URL {
        ProcessInfo.processInfo.environment["SHAREDLB_BINARY"].map { URL(fileURLWithPath: $0) }
            ?? AllocatorCrashTests.binary
    }

    static var backend: Backend { KubeAssets.versions.last.map(Backend.real) ?? .mock }

    @Test func burst() async throws {
        var rows = [
            [
                "services", "burst created", "all placed", "× write-rate bound", "member writes/svc",
                "ledger writes/svc",
                "shared-LB writes/svc",
                "shards", "ledger bytes/shard (max)", "allocator peak RSS", "audit",
            ]
        ]
        for count in Self.sizes {
            rows.append(try await Self.probe(count))
        }
        print("SCALE (\(Self.backend), allocator: \(Self.binary.path))\n" + TextTable.render(rows))
    }

    static func probe(_ count: Int) async throws -> [String] {
        let row = Mutex<[String]>([])
        try await Cluster.run(on: backend, allocators: 0) { cluster in
            try await cluster.withKubeconfig { directory, kubeconfig in
                // 10,000 single-port members need 200 LBs of 50 listeners: lift the 100-LB pool cap.
                let allocator = try AllocatorProcess(
                    binary: binary, kubeconfig: kubeconfig, log: directory.appending(path: "allocator.log"),
                    arguments: ["--max-lbs-per-pool", "0"])
                let started = ContinuousClock.now
                // No node ports: a cluster has 2768 of them, fewer than the listeners here.
                try await cluster.burst(count, distinctPorts: 500, nodePorts: false)
                let created = ContinuousClock.now - started
                try await cluster.waitForEndpoints(Cluster.burstIDs(count), timeout: .seconds(1800))
                let converged = ContinuousClock.now - started
                let peak = allocator.peakResidentBytes
                await allocator.kill(signal: SIGTERM)

                let controller = SharedLBNames.defaultNamespace
                // (resource, namespace, verb) of each successful allocator write.
                let writes: [(String, String, String)]
                if let plane = cluster.environment.plane {
                    writes = try plane.auditEvents().filter {
                        $0.username == Cluster.allocatorUser && $0.isWrite && $0.code < 300
                            && $0.objectRef?.resource != "leases"
                    }.map { ($0.objectRef?.resource ?? "", $0.objectRef?.namespace ?? "", $0.verb) }
                } else {
                    writes = cluster.handler.requestLog.all.filter {
                        $0.isWrite && $0.code < 300 && $0.resource != "leases" && $0.resource != "namespaces"
                    }.map { ($0.resource, $0.namespace, $0.verb) }
                }
                let memberWrites = writes.count { resource, namespace, _ in
                    (resource == "services" && namespace != controller)
                        || (resource == "events" && namespace != controller) || resource == "endpointslices"
                }
                let ledgerWrites = writes.count { resource, _, _ in resource == "configmaps" }
                let sharedWrites = writes.count { resource, namespace, _ in
                    resource == "services" && namespace == controller
                }
                // The server took `created` for `count` creates: at that rate, the allocator's
                // writes need this long.
                let bound = created.seconds * Double(memberWrites + ledgerWrites + sharedWrites) / Double(count)
                let ledger = try await cluster.ledger()
                let biggest = ledger.values.map { $0.values.reduce(0) { $0 + $1.utf8.count } }.max() ?? 0

                let auditStart = ContinuousClock.now
                let violations = try await cluster.audit()
                let audit = ContinuousClock.now - auditStart
                #expect(violations.isEmpty, "\(violations.prefix(5))")

                func perService(_ writes: Int) -> String { String(format: "%.3f", Double(writes) / Double(count)) }
                row.withLock {
                    $0 = [
                        "\(count)", Self.seconds(created), Self.seconds(converged),
                        String(format: "%.2f", converged.seconds / bound), perService(memberWrites),
                        perService(ledgerWrites),
                        perService(sharedWrites), "\(ledger.count)", "\(biggest / 1024) KiB",
                        peak.map { "\($0 / 1_048_576) MiB" } ?? "?", Self.seconds(audit),
                    ]
                }
            }
        }
        return row.withLock { $0 }
    }

    static func seconds(_ duration: Duration) -> String {
        String(format: "%.2f s", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }
}
