import AsyncHTTPClient
import Foundation
import SharedLBCore
import SharedLBEnvtest
import SharedLBKubernetes
import Synchronization
import Testing

/// What Pods that are none of SharedLB's business cost the allocator:
/// `POD_COST_PROBE=10000 SHAREDLB_KUBE_ASSETS=... swift test --filter PodCostProbe` (the newest
/// real control plane; the in-repo API server without assets). POD_COST_MEMBERS members (one by
/// default, one port each, without node ports), then N ordinary Pods
/// (~4 KiB each, as a Deployment's) in a namespace without members, created by 8 clients;
/// then 100 updates of those Pods per second for 10 s. Prints the `sharedlb allocator`
/// process's RSS and CPU time per Pod created, and its CPU share and API writes while the
/// Pods are updated (SHAREDLB_BINARY: the binary, default the debug build).
@Suite("pod cost probe", .disabled(if: ProcessInfo.processInfo.environment["POD_COST_PROBE"] == nil))
struct PodCostProbe {
    static var count: Int { Int(ProcessInfo.processInfo.environment["POD_COST_PROBE"] ?? "") ?? 10_000 }
    static var members: Int { Int(ProcessInfo.processInfo.environment["POD_COST_MEMBERS"] ?? "") ?? 1 }

    @Test func unrelatedPods() async throws {
        let backend = KubeAssets.versions.last.map(Backend.real) ?? .mock
        let count = Self.count
        try await Cluster.run(on: backend, allocators: 0) { cluster in
            try await cluster.withKubeconfig { directory, kubeconfig in
                let port = try LocalPorts.free(1)[0]
                let allocator = try AllocatorProcess(
                    binary: ScaleProbe.binary, kubeconfig: kubeconfig, log: directory.appending(path: "allocator.log"),
                    // No periodic resync while measuring: its full pass over every member is not
                    // the Pods' cost (POD_COST_RESYNC to measure with one).
                    arguments: [
                        "--metrics-listen", "127.0.0.1:\(port)", "--max-lbs-per-pool", "0", "--resync",
                        ProcessInfo.processInfo.environment["POD_COST_RESYNC"] ?? "1h",
                    ])
                let pid = allocator.child.processIdentifier
                let http = HTTPClient(eventLoopGroupProvider: .singleton)
                let measured:
                    Result<
                        (
                            Duration, Duration, ProcessSample, ProcessSample, ProcessSample, ProcessSample, Duration,
                            Double
                        ),
                        any Error
                    >
                do {
                    func metric(_ line: String) async throws -> Double? {
                        let response = try await http.execute(
                            HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics"), timeout: .seconds(10))
                        let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
                        return body.split(separator: "\n").first { $0.hasPrefix(line + " ") }
                            .flatMap { Double($0.split(separator: " ").last ?? "") }
                    }
                    func waitForCachedPods(_ wanted: Int) async throws {
                        let deadline = ContinuousClock.now + .seconds(600)
                        while ContinuousClock.now < deadline {
                            if let cached = try? await metric(#"sharedlb_allocator_cached_objects{resource="pods"}"#),
                                Int(cached) >= wanted
                            {
                                return
                            }
                            try await Task.sleep(for: .milliseconds(250))
                        }
                        Issue.record("the allocator never cached \(wanted) Pods")
                    }
                    let membersStarted = ContinuousClock.now
                    try await cluster.burst(Self.members, distinctPorts: 500, nodePorts: false)
                    try await cluster.waitForEndpoints(Cluster.burstIDs(Self.members), timeout: .seconds(1800))
                    let membersPlaced = ContinuousClock.now - membersStarted
                    _ = try await cluster.client.create(Namespace(metadata: ObjectMeta(name: "bulk")))
                    _ = try await cluster.runningPod("bulk", "warm-up", ip: "10.9.0.1")
                    try await waitForCachedPods(1)
                    let before = try ProcessSample(pid: pid)

                    let padding = String(repeating: "x", count: 3000)
                    let client = cluster.client
                    let started = ContinuousClock.now
                    try await withThrowingTaskGroup(of: Void.self) { clients in
                        for worker in 0..<8 {
                            clients.addTask {
                                for index in stride(from: worker, to: count, by: 8) {
                                    let spec = try JSONParser.parse(
                                        Array(
                                            #"{"nodeName":"\#(Cluster.nodeName)","containers":[{"name":"app","image":"registry.invalid/app:1.2.3","env":[{"name":"MODE","value":"production"}],"resources":{"requests":{"cpu":"100m","memory":"128Mi"}}}]}"#
                                                .utf8))
                                    _ = try await client.create(
                                        Manifest<Pod>(
                                            metadata: ObjectMeta(
                                                name: "pod-\(index)", namespace: "bulk",
                                                labels: [
                                                    "app": "bulk", "pod-template-hash": "5d8f7c9b6", "tier": "backend",
                                                ],
                                                annotations: ["example.com/config": padding]),
                                            spec: spec))
                                }
                            }
                        }
                        try await clients.waitForAll()
                    }
                    let created = ContinuousClock.now - started
                    try await waitForCachedPods(count + 1)
                    let after = try ProcessSample(pid: pid)

                    // 100 updates a second of unrelated Pods, for 10 s (a load generator: paced by the clock).
                    let writesBefore = try await metric("sharedlb_allocator_api_writes_total") ?? 0
                    let updateStart = try ProcessSample(pid: pid)
                    let updateStarted = ContinuousClock.now
                    for second in 0..<10 {
                        let tick = updateStarted + .seconds(second + 1)
                        try await withThrowingTaskGroup(of: Void.self) { updates in
                            for index in 0..<100 {
                                updates.addTask {
                                    let patch = #"{"metadata":{"annotations":{"example.com/revision":"\#(second)"}}}"#
                                    _ = try await client.patch(
                                        Manifest<Pod>.self, namespace: "bulk",
                                        name: "pod-\((second * 100 + index) % count)",
                                        patch: .merge(try JSONParser.parse(Array(patch.utf8))))
                                }
                            }
                            try await updates.waitForAll()
                        }
                        try await Task.sleep(until: tick)
                    }
                    let updateEnd = try ProcessSample(pid: pid)
                    let updateWall = ContinuousClock.now - updateStarted
                    let writes = (try await metric("sharedlb_allocator_api_writes_total") ?? 0) - writesBefore
                    let final = try ProcessSample(pid: pid)
                    print(
                        "POD COST: allocator RSS \(final.residentBytes / 1_048_576) MiB, peak \((allocator.peakResidentBytes ?? 0) / 1_048_576) MiB, with \(Self.members) members and \(count) Pods"
                    )
                    await allocator.kill(signal: SIGTERM)
                    measured = .success(
                        (membersPlaced, created, before, after, updateStart, updateEnd, updateWall, writes))
                } catch {
                    measured = .failure(error)
                }
                try await http.shutdown()
                let (membersPlaced, created, before, after, updateStart, updateEnd, updateWall, writes) =
                    try measured.get()
                let rssPerPod = Double(after.residentBytes - before.residentBytes) / Double(count)
                let cpuPerPod = (after.cpuSeconds - before.cpuSeconds) / Double(count)
                let share = (updateEnd.cpuSeconds - updateStart.cpuSeconds) / updateWall.seconds
                print(
                    """
                    POD COST (\(backend), allocator: \(ScaleProbe.binary.path))
                    \(Self.members) members placed in \(String(format: "%.1f", membersPlaced.seconds)) s
                    \(count) unrelated Pods created in \(String(format: "%.1f", created.seconds)) s; allocator RSS \
                    \(before.residentBytes / 1024) KiB -> \(after.residentBytes / 1024) KiB: \
                    \(String(format: "%.0f", rssPerPod)) bytes and \(String(format: "%.0f", cpuPerPod * 1e6)) µs of CPU per Pod
                    1,000 Pod updates at 100/s: allocator CPU \(String(format: "%.2f", share * 100)) % of one core, \
                    \(Int(writes)) API writes
                    """)
            }
        }
    }
}

/// A process's resident set and CPU time, from /proc.
struct ProcessSample {
    var residentBytes: Int
    var cpuSeconds: Double

    init(pid: Int32) throws {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let rss = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
        residentBytes =
            (Int(rss?.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") ?? 0) * 1024
        // Fields after the command name (which is in parentheses): utime and stime are 14 and 15.
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        cpuSeconds = ((Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)) / ticks
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
