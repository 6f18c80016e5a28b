import Foundation
import SharedLBAllocation
import SharedLBCore
import SharedLBEnvtest
import SharedLBKubernetes
import Testing

/// The real `sharedlb allocator` binary, killed with SIGKILL at random points of a burst and
/// restarted: the ledger is the only memory it has, so nothing may be lost, given twice or moved.
@Suite("Allocator process killed (SIGKILL) and restarted")
struct AllocatorCrashTests {
    static var binary: URL { AllocatorProcess.binary }

    @Test(
        "allocator processes SIGKILLed at random points of a burst: nothing lost, given twice or moved",
        arguments: Backend.all)
    func sigkillDuringBurst(backend: Backend) async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.binary.path),
            "\(Self.binary.path) is missing: `swift test` builds it, `swift build` too")
        let count = Int(ProcessInfo.processInfo.environment["CRASH_SERVICES"] ?? "") ?? 500
        let kills = Int(ProcessInfo.processInfo.environment["CRASH_KILLS"] ?? "") ?? 10
        // Kill points: when this many members carry their endpoint (several may fall in one pass,
        // so some kills land right after a restart, while the allocator is still listing).
        let thresholds = (0..<kills).map { _ in Int.random(in: 1...max(count - 1, 1)) }.sorted()
        try await Cluster.run(on: backend, allocators: 0) { cluster in
            try await cluster.withKubeconfig { directory, kubeconfig in
                let ids = Cluster.burstIDs(count)
                var history = AllocationHistory()

                try await withThrowingTaskGroup(of: Void.self) { burst in
                    // 60 distinct ports: every LB fills up and conflicts spill over.
                    burst.addTask { try await cluster.burst(count, distinctPorts: 60) }
                    for (round, threshold) in thresholds.enumerated() {
                        let process = try AllocatorProcess(
                            binary: Self.binary, kubeconfig: kubeconfig,
                            log: directory.appending(path: "round-\(round).log"))
                        let reached = try await cluster.services.wait(timeout: .seconds(120)) { snapshot in
                            ids.count(where: {
                                snapshot[$0]?.metadata.annotations?[SharedLBNames.endpointAnnotation] != nil
                            })
                                >= threshold
                        }
                        await process.kill(signal: SIGKILL)
                        #expect(
                            reached, "round \(round): \(threshold) endpoints not reached; log: \(process.logTail())")
                        try history.check(try await cluster.ledger(), after: "kill \(round) at \(threshold)")
                    }
                    try await burst.waitForAll()
                }

                let last = try AllocatorProcess(
                    binary: Self.binary, kubeconfig: kubeconfig, log: directory.appending(path: "last.log"),
                    arguments: ["--leader-elect", "--log-level", "notice"])
                try await cluster.waitForEndpoints(ids, timeout: .seconds(120))
                // Running, with its signal handlers in place, before it is asked to stop (the
                // endpoints may all be there before it has even started).
                #expect(try await last.waitForLog(containing: "became the leader"), "\(last.logTail())")
                let stopped = await last.kill(signal: SIGTERM)
                #expect(stopped && last.status == 0, "the last allocator did not stop cleanly: \(last.logTail())")

                let ledger = try await cluster.ledger()
                try history.check(ledger, after: "the last run")
                #expect(history.members.count == count, "members in the ledger: \(history.members.count) of \(count)")
                #expect(history.members.values.allSatisfy { $0.count == 1 }, "a member with more than one allocation")
                let violations = try await cluster.audit()
                #expect(violations.isEmpty, "\(violations)")
            }
        }
    }
}

/// Two `sharedlb allocator` processes with leader election, as two replicas of the Deployment.
@Suite("Allocator processes with leader election")
struct LeaderFailoverProcessTests {
    @Test("the leader SIGKILLed: the standby takes the Lease and goes on; nothing moves", arguments: Backend.all)
    func failover(backend: Backend) async throws {
        try await Cluster.run(on: backend, allocators: 0) { cluster in
            try await cluster.withKubeconfig { directory, kubeconfig in
                let client = cluster.client
                let processes = try AllocatorProcess.leaderElectedPair(kubeconfig: kubeconfig, logs: directory)
                _ = try await client.create(loadBalancer("one", namespace: "team-a", ports: [(80, "TCP")]))
                try await cluster.waitForEndpoints(["team-a/one"], timeout: .seconds(30))
                let lease = try await client.get(
                    Lease.self, namespace: SharedLBNames.defaultNamespace, name: "sharedlb-allocator")
                let leader = try #require(lease.spec?.holderIdentity)
                let standby = leader == "allocator-a" ? "allocator-b" : "allocator-a"
                await processes[leader]!.kill(signal: SIGKILL)
                _ = try await client.create(loadBalancer("two", namespace: "team-a", ports: [(81, "TCP")]))
                try await cluster.waitForEndpoints(["team-a/two"], timeout: .seconds(30))
                let taken = try await client.get(
                    Lease.self, namespace: SharedLBNames.defaultNamespace, name: "sharedlb-allocator")
                #expect(taken.spec?.holderIdentity == standby)
                #expect(taken.spec?.leaseTransitions == (lease.spec?.leaseTransitions ?? 0) + 1)
                #expect(
                    cluster.annotation("team-a/one", SharedLBNames.sharedServiceAnnotation)
                        == "sharedlb-system/sharedlb-default-1")
                let stopped = await processes[standby]!.kill(signal: SIGTERM)
                #expect(stopped && processes[standby]!.status == 0, "\(processes[standby]!.logTail())")
                #expect(try await cluster.audit() == [])
            }
        }
    }
}

/// Leader fencing, proved on a real API server by its audit log.
@Suite("Allocator processes: a deposed leader writes nothing")
struct FencingTests {
    @Test(
        "the leader stopped (SIGSTOP) past its lease and resumed: no write of it lands after the standby took over",
        arguments: Backend.real)
    func fencing(backend: Backend) async throws {
        try await Cluster.run(on: backend, allocators: 0, faultProxy: true) { cluster in
            let plane = try #require(cluster.environment.plane)
            let proxy = try #require(cluster.proxy)
            try await cluster.withKubeconfig { directory, kubeconfig in
                let client = cluster.client
                let processes = try AllocatorProcess.leaderElectedPair(kubeconfig: kubeconfig, logs: directory)
                func create(_ index: Int) async throws -> String {
                    _ = try await client.create(
                        loadBalancer("m-\(index)", namespace: "team-a", ports: [(1000 + index, "TCP")]))
                    return "team-a/m-\(index)"
                }
                var ids = [try await create(0)]
                try await cluster.waitForEndpoints(ids, timeout: .seconds(30))
                let lease = try await client.get(
                    Lease.self, namespace: SharedLBNames.defaultNamespace, name: "sharedlb-allocator")
                let leader = try #require(lease.spec?.holderIdentity)
                let standby = leader == "allocator-a" ? "allocator-b" : "allocator-a"

                // The leader's patches fail (500) and are retried with backoff: it is in the middle
                // of retrying when it stops, and its retries go on when it resumes.
                proxy.inject(.init(method: "PATCH", userAgent: "(\(leader))", count: 10_000, action: .status(500)))
                for index in 1...5 { ids.append(try await create(index)) }
                let retrying = ContinuousClock.now + .seconds(20)
                while proxy.appliedFaults.isEmpty, ContinuousClock.now < retrying {
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(!proxy.appliedFaults.isEmpty, "the leader never met a failing patch")
                processes[leader]!.child.signal(SIGSTOP)
                for index in 6...10 { ids.append(try await create(index)) }
                var taken: Lease?
                let deadline = ContinuousClock.now + .seconds(30)
                while ContinuousClock.now < deadline {
                    let current = try await client.get(
                        Lease.self, namespace: SharedLBNames.defaultNamespace, name: "sharedlb-allocator")
                    if current.spec?.holderIdentity == standby {
                        taken = current
                        break
                    }
                    try await Task.sleep(for: .milliseconds(200))
                }
                let takeover = try #require(
                    taken?.spec?.acquireTime.flatMap { try? Date($0, strategy: .iso8601) },
                    "the standby never took over")
                try await cluster.waitForEndpoints(ids, timeout: .seconds(30))
                // Resumed, the old leader finds its renew deadline long past: it may read, never
                // write, though its pending retries would now go through.
                proxy.clearFaults()
                let resumed = Date()
                processes[leader]!.child.signal(SIGCONT)
                for index in 11...20 { ids.append(try await create(index)) }
                try await cluster.waitForEndpoints(ids, timeout: .seconds(30))
                func by(_ identity: String, _ events: [AuditEvent]) -> [AuditEvent] {
                    events.filter {
                        $0.username == Cluster.allocatorUser && $0.userAgent?.contains("(\(identity))") == true
                    }
                }
                func after(_ instant: Date, _ events: [AuditEvent]) -> [AuditEvent] {
                    events.filter {
                        ($0.requestReceivedTimestamp.flatMap { try? Date($0, strategy: .iso8601) } ?? .distantPast)
                            > instant
                    }
                }
                // The resumed leader has run: its requests since SIGCONT reached the API server (its
                // Lease reads, a member's retried patch would come first).
                let ran = ContinuousClock.now + .seconds(20)
                var events = try plane.auditEvents()
                while after(resumed, by(leader, events)).count < 2, ContinuousClock.now < ran {
                    try await Task.sleep(for: .milliseconds(200))
                    events = try plane.auditEvents()
                }
                #expect(after(resumed, by(leader, events)).count >= 2, "the old leader did not run after SIGCONT")
                let writes = events.filter(\.isWrite)
                func by(_ identity: String) -> [AuditEvent] { by(identity, writes) }
                func after(_ events: [AuditEvent]) -> [AuditEvent] { after(takeover, events) }
                #expect(!by(leader).isEmpty, "the leader never wrote: the test proved nothing")
                #expect(!after(by(standby)).isEmpty)
                // What landed: a refused attempt (its Lease update answered 409) wrote nothing.
                let late = after(by(leader)).filter { $0.code < 400 }
                #expect(late.isEmpty, "the deposed leader wrote after the takeover: \(late)")
                for process in processes.values { await process.kill(signal: SIGTERM) }
                #expect(try await cluster.audit() == [])
            }
        }
    }
}

/// Every allocation seen so far, by member uid: each check fails if one was lost or moved.
struct AllocationHistory {
    /// uid → "shared-lb port/protocol port-name" for each allocation.
    var members: [String: Set<String>] = [:]

    mutating func check(_ ledger: [String: [String: String]], after moment: String) throws {
        var now: [String: Set<String>] = [:]
        for (name, data) in ledger {
            let shard = try LedgerShard(configMapName: name, data: data)
            for allocation in shard.allocations {
                let entry = "\(shard.sharedService) \(allocation.slot) \(allocation.portName)"
                let (inserted, _) = now[allocation.uid, default: []].insert(entry)
                #expect(inserted, "after \(moment): \(entry) of \(allocation.uid) twice")
            }
        }
        for (uid, before) in members {
            #expect(now[uid] == before, "after \(moment): \(uid) was \(before), now \(now[uid] ?? [])")
        }
        members = now
    }
}

/// `sharedlb allocator` as a child process, logging to a file.
struct AllocatorProcess {
    let child: ChildProcess

    /// `sharedlb`, built beside the test bundle by `swift test` (or `swift build`).
    static var binary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appending(path: "sharedlb")
    }

    /// Without leader election unless `arguments` ask for it (`--leader-elect`).
    init(binary: URL = Self.binary, kubeconfig: String, log: URL, arguments: [String] = []) throws {
        let election = arguments.contains("--leader-elect") ? [] : ["--no-leader-elect"]
        child = try ChildProcess(
            executable: binary,
            arguments: [
                "allocator", "--kubeconfig", kubeconfig, "--metrics-listen", "127.0.0.1:0", "--log-level", "warning",
            ]
                + election + arguments,
            log: log)
    }

    /// Sends `signal` and waits for the end (SIGKILL after `timeout`); returns whether it ended
    /// of its own accord.
    @discardableResult
    func kill(signal: Int32, timeout: Duration = .seconds(30)) async -> Bool {
        await child.stop(signal: signal, timeout: timeout)
    }

    var status: Int32 { child.status }

    /// The process's peak resident set (VmHWM), while it runs.
    var peakResidentBytes: Int? {
        guard
            let status = try? String(contentsOfFile: "/proc/\(child.processIdentifier)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kilobytes = Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "")
        else { return nil }
        return kilobytes * 1024
    }

    func logTail() -> String { child.logTail(2000) }

    /// Waits until the process's log has a line containing `text` (its own output is the only
    /// sign of how far a child process got); false after `timeout`.
    func waitForLog(containing text: String, timeout: Duration = .seconds(30)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if child.logTail(1 << 20).contains(text) { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// `allocator-a` and `allocator-b` with leader election on short timings (a 3 s lease),
    /// by identity; each logs to `<identity>.log` in `logs`.
    static func leaderElectedPair(kubeconfig: String, logs: URL) throws -> [String: AllocatorProcess] {
        let timings = ["--lease-duration", "3s", "--renew-deadline", "2s", "--retry-period", "500ms"]
        var processes: [String: AllocatorProcess] = [:]
        for identity in ["allocator-a", "allocator-b"] {
            processes[identity] = try AllocatorProcess(
                kubeconfig: kubeconfig, log: logs.appending(path: "\(identity).log"),
                arguments: ["--leader-elect", "--identity", identity] + timings)
        }
        return processes
    }
}
