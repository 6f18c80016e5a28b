import Foundation
import SharedLBAllocation
import SharedLBCore
import SharedLBKubernetes
import Testing

/// The real `sharedlb allocator` binary, killed with SIGKILL at random points of a burst and
/// restarted: the ledger is the only memory it has, so nothing may be lost, given twice or moved.
@Suite("Allocator process killed (SIGKILL) and restarted")
struct AllocatorCrashTests {
    /// `sharedlb`, built beside the test bundle by `swift test` (or `swift build`).
    static var binary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appending(path: "sharedlb")
    }

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
                    binary: Self.binary, kubeconfig: kubeconfig, log: directory.appending(path: "last.log"))
                try await cluster.waitForEndpoints(ids, timeout: .seconds(120))
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
final class AllocatorProcess {
    private let process: Process
    private let log: URL
    private let logHandle: FileHandle
    private let terminated: AsyncStream<Void>

    init(binary: URL, kubeconfig: String, log: URL, arguments: [String] = []) throws {
        let process = Process()
        process.executableURL = binary
        process.arguments =
            [
                "allocator", "--kubeconfig", kubeconfig, "--no-leader-elect", "--metrics-listen", "127.0.0.1:0",
                "--log-level", "warning",
            ] + arguments
        guard FileManager.default.createFile(atPath: log.path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: log.path])
        }
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        let (terminated, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        process.terminationHandler = { _ in
            continuation.yield()
            continuation.finish()
        }
        try process.run()
        self.process = process
        self.log = log
        self.logHandle = handle
        self.terminated = terminated
    }

    /// Sends `signal` and waits (without blocking a thread) for the process to end; one that
    /// has not ended within `timeout` is SIGKILLed. Returns whether it ended of its own accord.
    @discardableResult
    func kill(signal: Int32, timeout: Duration = .seconds(30)) async -> Bool {
        Foundation.kill(process.processIdentifier, signal)
        let terminated = self.terminated
        _ = try? await withTimeout(timeout) { for await _ in terminated { break } }
        let ended = !process.isRunning
        if !ended {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()  // SIGKILL cannot be ignored: this is immediate
        }
        try? logHandle.close()
        return ended
    }

    var status: Int32 { process.terminationStatus }

    /// The process's peak resident set (VmHWM), while it runs.
    var peakResidentBytes: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kilobytes = Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "")
        else { return nil }
        return kilobytes * 1024
    }

    func logTail() -> String {
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return String(text.suffix(2000))
    }

    deinit {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }
}
