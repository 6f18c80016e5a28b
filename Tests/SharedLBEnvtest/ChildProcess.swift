public import Foundation
import Synchronization

/// A program started by a test, its output in a log file. Stopping it waits without blocking a
/// thread; one that outlives its owner is killed by `deinit`, so no test leaves a process behind.
///
/// ```swift
/// let etcd = try ChildProcess(executable: assets.etcd, arguments: ["--data-dir", dir], log: dir + ".log")
/// await etcd.stop()
/// ```
public final class ChildProcess: Sendable {
    public let executable: URL
    public let arguments: [String]
    public let log: URL
    private let process: Mutex<Process>
    private let logHandle: FileHandle
    private let terminated: AsyncStream<Void>

    /// Starts `executable` with `arguments`; stdout and stderr go to `log` (appended).
    public init(
        executable: URL, arguments: [String], log: URL, environment: [String: String]? = nil
    ) throws {
        if !FileManager.default.fileExists(atPath: log.path) {
            guard FileManager.default.createFile(atPath: log.path, contents: nil) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: log.path])
            }
        }
        let handle = try FileHandle(forWritingTo: log)
        try handle.seekToEnd()
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        let (terminated, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        process.terminationHandler = { _ in
            continuation.yield()
            continuation.finish()
        }
        try process.run()
        self.executable = executable
        self.arguments = arguments
        self.log = log
        self.logHandle = handle
        self.process = Mutex(process)
        self.terminated = terminated
    }

    public var processIdentifier: Int32 { process.withLock { $0.processIdentifier } }
    public var isRunning: Bool { process.withLock { $0.isRunning } }
    /// The exit status, or the signal that ended it; meaningful once it has ended.
    public var status: Int32 { process.withLock { $0.terminationStatus } }

    /// Sends a signal (SIGSTOP and SIGCONT included) without waiting.
    public func signal(_ signal: Int32) {
        let pid = processIdentifier
        if pid > 0 { _ = Foundation.kill(pid, signal) }
    }

    /// Waits until the process ends, or `timeout` passes; returns whether it ended.
    @discardableResult
    public func waitForExit(timeout: Duration) async -> Bool {
        let terminated = self.terminated
        let ended: Bool? = try? await withDeadline(timeout) {
            for await _ in terminated { break }
            return true
        }
        return ended != nil || !isRunning
    }

    /// Sends `signal` and waits for the end; a process still there after `timeout` is SIGKILLed.
    /// Returns whether it ended of its own accord.
    @discardableResult
    public func stop(signal: Int32 = SIGTERM, timeout: Duration = .seconds(15)) async -> Bool {
        guard isRunning else { return true }
        self.signal(SIGCONT)  // a stopped process cannot act on SIGTERM
        self.signal(signal)
        if await waitForExit(timeout: timeout) { return true }
        self.signal(SIGKILL)
        _ = await waitForExit(timeout: .seconds(10))
        return false
    }

    /// The last `characters` of the log.
    public func logTail(_ characters: Int = 3000) -> String {
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return String(text.suffix(characters))
    }

    deinit {
        let process = process.withLock { $0 }
        if process.isRunning {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? logHandle.close()
    }
}

/// Thrown by ``withDeadline(_:_:)`` when the body did not finish in time.
public struct DeadlineExceeded: Error, CustomStringConvertible {
    public let timeout: Duration
    public var description: String { "did not finish within \(timeout)" }
}

/// Runs `body`, cancelling it and throwing ``DeadlineExceeded`` when it takes longer than `timeout`.
public func withDeadline<T: Sendable>(
    _ timeout: Duration, _ body: @Sendable @escaping () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        let first = try await group.next()!
        guard let first else { throw DeadlineExceeded(timeout: timeout) }
        return first
    }
}
