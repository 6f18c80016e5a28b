public import Foundation

/// Scratch folders of a test process, each marked with the process's id (`owner.pid`). A test
/// process that crashes cannot stop what it started; the next one that makes a scratch folder
/// first reaps what the dead one left: it SIGKILLs every process whose command line names
/// such a folder, deletes the network namespaces it lists, and removes it.
public enum ScratchDirectory {
    static let ownerFile = "owner.pid"
    /// Network namespaces made for a folder, one name per line (``NodeNetwork``).
    static let namespacesFile = "netns"

    /// A new folder `<temporary>/<prefix>-<random>` owned by this process.
    public static func make(prefix: String) throws -> URL {
        _ = reaped
        let directory = FileManager.default.temporaryDirectory.appending(
            path: "\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data(String(getpid()).utf8).write(to: directory.appending(path: ownerFile))
        return directory
    }

    /// Notes a network namespace made for `directory`, for the reaper.
    static func recordNamespace(_ name: String, in directory: URL) {
        guard let handle = try? FileHandle(forWritingTo: directory.appending(path: namespacesFile)) else {
            try? Data("\(name)\n".utf8).write(to: directory.appending(path: namespacesFile))
            return
        }
        defer { try? handle.close() }
        _ = try? handle.seekToEnd()
        try? handle.write(contentsOf: Data("\(name)\n".utf8))
    }

    /// Once per test process.
    static let reaped: Void = reapOrphans()

    static func reapOrphans() {
        let manager = FileManager.default
        let root = manager.temporaryDirectory
        let entries = (try? manager.contentsOfDirectory(atPath: root.path)) ?? []
        for entry in entries where entry.hasPrefix("sharedlb-") {
            let directory = root.appending(path: entry)
            guard let text = try? String(contentsOf: directory.appending(path: ownerFile), encoding: .utf8),
                let owner = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
                kill(owner, 0) != 0 && errno == ESRCH
            else { continue }
            for pid in processes(naming: directory.path) { kill(pid, SIGKILL) }
            if let names = try? String(contentsOf: directory.appending(path: namespacesFile), encoding: .utf8),
                let ip = findExecutable("ip")
            {
                for name in names.split(separator: "\n") {
                    let process = Process()
                    process.executableURL = ip
                    process.arguments = ["netns", "del", String(name)]
                    try? process.run()
                    process.waitUntilExit()
                }
            }
            try? manager.removeItem(at: directory)
        }
    }

    /// Processes whose command line contains `text`.
    static func processes(naming text: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry in
            guard let pid = Int32(entry), pid != getpid(),
                let line = try? Data(contentsOf: URL(filePath: "/proc/\(entry)/cmdline")),
                String(decoding: line, as: UTF8.self).contains(text)
            else { return nil }
            return pid
        }
    }
}
