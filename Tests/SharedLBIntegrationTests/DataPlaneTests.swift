import Foundation
import SharedLBCore
import SharedLBEnvtest
import SharedLBKubernetes
import Testing

/// Traffic through a shared LB with the real kube-proxy (iptables mode), in network namespaces:
/// what a user of a real cluster would see, beyond what the API objects say.
@Suite(
    "Data plane: the real kube-proxy sends each port of a shared LB to its member's pods, and only there",
    .serialized)
struct DataPlaneTests {
    /// The answers to `count` requests, once one of them is in `expected` (kube-proxy syncs its
    /// rules a moment after the objects change): every answer must then be in `expected`.
    static func answers(
        _ node: NodeNetwork, _ host: String, _ port: Int, expected: Set<String?>, count: Int = 8,
        timeout: Duration = .seconds(30)
    ) async -> [String?] {
        let deadline = ContinuousClock.now + timeout
        var first = await node.request(host, port: port)
        while !expected.contains(first), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(200))
            first = await node.request(host, port: port)
        }
        var all = [first]
        for _ in 1..<count { all.append(await node.request(host, port: port)) }
        return all
    }

    /// The member Service: `port` on the shared LB, served by the pods labelled `app: <name>` on `target`.
    static func member(_ name: String, namespace: String, port: Int, target: Int) -> KubeService {
        KubeService(
            metadata: ObjectMeta(name: name, namespace: namespace),
            spec: .init(
                type: "LoadBalancer",
                ports: [.init(name: "tcp-\(port)", protocol: "TCP", port: port, targetPort: .int(target))],
                selector: ["app": name]))
    }

    @Test(
        "node ports, cluster IP and LB address reach the right member pod on every port; released and NotReady stop",
        .enabled(if: NodeNetwork.skipReason == nil, Comment(rawValue: NodeNetwork.skipReason ?? "")),
        arguments: Backend.real)
    func traffic(backend: Backend) async throws {
        let before = await NodeNetwork.rootSnapshot()
        try await Cluster.run(on: backend) { cluster in
            let client = cluster.client
            try await NodeNetwork.run(plane: cluster.environment.plane!) { node in
                try await cluster.registerNode(address: node.nodeIP)
                // Three members on one shared LB, each with pods that answer with their own name.
                let pods = [
                    ("team-a", "web-1", "web", "10.244.1.11", 8080), ("team-b", "db-1", "db", "10.244.1.21", 5432),
                    ("team-b", "cache-1", "cache", "10.244.1.31", 6379),
                ]
                for (namespace, name, app, ip, port) in pods {
                    try await node.addPod(name, ip: ip, listeners: [port: "\(namespace)/\(name)"])
                    _ = try await cluster.runningPod(namespace, name, ip: ip, labels: ["app": app])
                }
                _ = try await client.create(Self.member("web", namespace: "team-a", port: 80, target: 8080))
                _ = try await client.create(Self.member("db", namespace: "team-b", port: 5432, target: 5432))
                _ = try await client.create(Self.member("cache", namespace: "team-b", port: 6379, target: 6379))
                try await cluster.waitForEndpoints(["team-a/web", "team-b/db", "team-b/cache"])
                try await node.startKubeProxy()
                let shared = try await client.get(
                    KubeService.self, namespace: SharedLBNames.defaultNamespace, name: "sharedlb-default-1")
                let clusterIP = try #require(shared.spec?.clusterIP)
                let address = try #require(shared.status?.loadBalancer?.ingress?.first?.ip)
                func nodePort(_ port: Int) throws -> Int {
                    try #require(shared.spec?.ports?.first { $0.port == port }?.nodePort)
                }
                let routes: [(port: Int, answer: String)] = [
                    (80, "team-a/web-1"), (5432, "team-b/db-1"), (6379, "team-b/cache-1"),
                ]
                for (port, answer) in routes {
                    for (host, target) in [(address, port), (clusterIP, port), (node.nodeIP, try nodePort(port))] {
                        let got = await Self.answers(node, host, target, expected: [answer])
                        #expect(
                            got.allSatisfy { $0 == answer }, "\(host):\(target) answered \(got)\n\(node.kubeProxyLog)")
                    }
                }

                // The member scales: both of its pods answer on its port.
                try await node.addPod("web-2", ip: "10.244.1.12", listeners: [8080: "team-a/web-2"])
                _ = try await cluster.runningPod("team-a", "web-2", ip: "10.244.1.12", labels: ["app": "web"])
                var seen: Set<String?> = []
                let deadline = ContinuousClock.now + .seconds(30)
                while seen != ["team-a/web-1", "team-a/web-2"], ContinuousClock.now < deadline {
                    seen.insert(await node.request(address, port: 80))
                }
                #expect(seen == ["team-a/web-1", "team-a/web-2"])

                // A pod that is no longer Ready stops receiving.
                try await cluster.setPodReady("team-a", "web-2", ip: "10.244.1.12", ready: false)
                var recent: [String?] = []
                let settled = ContinuousClock.now + .seconds(30)
                while recent.suffix(12) != Array(repeating: "team-a/web-1", count: 12), ContinuousClock.now < settled {
                    recent.append(await node.request(address, port: 80))
                }
                #expect(recent.suffix(12) == Array(repeating: "team-a/web-1", count: 12), "\(recent.suffix(12))")

                // A released member's port stops answering; the others keep working.
                let dbNodePort = try nodePort(5432)
                try await client.delete(KubeService.self, namespace: "team-b", name: "db")
                for (host, port) in [(address, 5432), (node.nodeIP, dbNodePort), (clusterIP, 5432)] {
                    let got = await Self.answers(node, host, port, expected: [nil], count: 3)
                    #expect(got.allSatisfy { $0 == nil }, "\(host):\(port) still answers \(got)")
                }
                for (host, port, answer) in [(address, 80, "team-a/web-1"), (address, 6379, "team-b/cache-1")] {
                    let got = await Self.answers(node, host, port, expected: [answer], count: 3)
                    #expect(got.allSatisfy { $0 == answer }, "\(host):\(port) answered \(got)")
                }
                try await cluster.settle()
                #expect(try await cluster.audit() == [])
            }
        }
        let after = await NodeNetwork.rootSnapshot()
        #expect(before == after, "the root network namespace changed")
    }
}
