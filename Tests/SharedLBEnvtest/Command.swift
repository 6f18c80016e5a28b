public import Foundation

/// What a finished command printed, and how it ended.
public struct CommandResult: Sendable, CustomStringConvertible {
    public var status: Int32
    public var standardOutput: String
    public var standardError: String

    public var succeeded: Bool { status == 0 }
    public var description: String { "exit \(status): \(standardOutput)\(standardError)" }
}

/// Runs a command to its end without blocking a thread; output goes through files, so a
/// chatty command cannot fill a pipe and stall.
public func runCommand(
    _ executable: URL, _ arguments: [String], input: String? = nil, timeout: Duration = .seconds(120)
) async throws -> CommandResult {
    let directory = FileManager.default.temporaryDirectory.appending(path: "sharedlb-command-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let files = ["stdin", "stdout", "stderr"].map { directory.appending(path: $0) }
    try Data((input ?? "").utf8).write(to: files[0])
    for file in files.dropFirst() { _ = FileManager.default.createFile(atPath: file.path, contents: nil) }
    let handles = try (
        FileHandle(forReadingFrom: files[0]), FileHandle(forWritingTo: files[1]), FileHandle(forWritingTo: files[2])
    )
    defer { for handle in [handles.0, handles.1, handles.2] { try? handle.close() } }
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.standardInput = handles.0
    process.standardOutput = handles.1
    process.standardError = handles.2
    let (ended, continuation) = AsyncStream.makeStream(of: Int32.self, bufferingPolicy: .bufferingNewest(1))
    process.terminationHandler = {
        continuation.yield($0.terminationStatus)
        continuation.finish()
    }
    try process.run()
    let pid = process.processIdentifier
    let status: Int32
    do {
        status = try await withDeadline(timeout) {
            for await status in ended { return status }
            return -1
        }
    } catch {
        kill(pid, SIGKILL)
        throw error
    }
    return CommandResult(
        status: status,
        standardOutput: (try? String(contentsOf: files[1], encoding: .utf8)) ?? "",
        standardError: (try? String(contentsOf: files[2], encoding: .utf8)) ?? "")
}

/// The first executable called `name` on `PATH`.
public func findExecutable(_ name: String) -> URL? {
    (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .split(separator: ":")
        .map { URL(filePath: String($0)).appending(path: name) }
        .first { FileManager.default.isExecutableFile(atPath: $0.path) }
}
