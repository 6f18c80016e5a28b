import Foundation
import SharedLBAPIServer
import SharedLBController
import SharedLBCore
import SharedLBKubernetes
import Testing

@Suite("scale probe", .disabled(if: ProcessInfo.processInfo.environment["SCALE_PROBE"] == nil))
struct ScaleProbe {
    @Test func burst() async throws {
        let count = Int(ProcessInfo.processInfo.environment["SCALE_PROBE"]!)!
        try await Cluster.run(registerWebhook: true) { cluster in
            let client = cluster.client
            let started = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        for index in stride(from: worker, to: count, by: 8) {
                            // No node ports: a cluster has 2768 of them, fewer than the listeners here.
                            var service = loadBalancer(
                                "svc-\(index)", namespace: index % 2 == 0 ? "team-a" : "team-b",
                                ports: [(1000 + index % 500, "TCP")])
                            service.spec?.allocateLoadBalancerNodePorts = false
                            _ = try await client.create(service)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let created = ContinuousClock.now - started
            let ids = (0..<count).map { "\($0 % 2 == 0 ? "team-a" : "team-b")/svc-\($0)" }
            try await cluster.waitForEndpoints(ids, timeout: .seconds(600))
            let converged = ContinuousClock.now - started
            try await cluster.settle()
            let log = cluster.handler.requestLog.all.filter { $0.isWrite }
            var byResource: [String: Int] = [:]
            for entry in log {
                byResource[
                    "\(entry.verb) \(entry.resource)\(entry.subresource.isEmpty ? "" : "/" + entry.subresource)",
                    default: 0] += 1
            }
            print(
                "SCALE n=\(count) created=\(created) converged=\(converged) passes=\(cluster.allocators[0].passes) writes=\(byResource.sorted { $0.key < $1.key })"
            )
            let audit = try await cluster.audit()
            print("SCALE audit violations=\(audit.count)")
        }
    }
}
