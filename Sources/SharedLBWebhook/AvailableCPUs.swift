#if canImport(Glibc)
    import Glibc
#endif

/// The CPUs this process may really use: its CPU affinity (`taskset`, a cpuset) and the CPU
/// quota of its cgroup and every cgroup above it (v1 `cpu.cfs_quota_us`, v2 `cpu.max`), a
/// fractional quota rounded up, as Go 1.25 sets GOMAXPROCS. SwiftNIO's `System.coreCount`
/// reads the quota only at the cgroup mount's root and ignores affinity, so a webhook in a
/// one-CPU pod of a big node started one event loop per node core, each throttled.
public enum AvailableCPUs {
    public static func count() -> Int {
        var limit = affinity() ?? Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        if let text = read("/proc/self/cgroup"), let quota = quota(cgroups: text, read: read) {
            limit = min(limit, quota)
        }
        return max(1, limit)
    }

    /// The CPUs of the process's affinity mask (`Cpus_allowed_list` of `/proc/self/status`).
    static func affinity() -> Int? {
        read("/proc/self/status").flatMap(allowedCPUs)
    }

    /// `Cpus_allowed_list:\t0-3,8,10-11` → 7.
    static func allowedCPUs(status: String) -> Int? {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }) else {
            return nil
        }
        var count = 0
        for range in line.dropFirst("Cpus_allowed_list:".count).split(separator: ",") {
            let bounds = range.split(separator: "-").map { Int($0.filter { !$0.isWhitespace }) }
            switch bounds.count {
            case 1 where bounds[0] != nil: count += 1
            case 2: if let low = bounds[0], let high = bounds[1], low <= high { count += high - low + 1 }
            default: return nil
            }
        }
        return count > 0 ? count : nil
    }

    /// The tightest CPU quota over the cgroups of `/proc/self/cgroup` (`cgroups`) and their
    /// ancestors, in whole CPUs; nil when none is set. `read` reads a file (nil when missing).
    static func quota(cgroups: String, read: (String) -> String?) -> Int? {
        var best: Int?
        func consider(_ cpus: Int?) {
            if let cpus { best = min(best ?? cpus, cpus) }
        }
        for line in cgroups.split(separator: "\n") {
            // `hierarchy-id:controllers:path`; v2 is `0::path`.
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let controllers = fields[1].split(separator: ",")
            let path = String(fields[2])
            if fields[0] == "0" && controllers.isEmpty {
                for root in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
                    for directory in ancestors(path, under: root) {
                        consider(read(directory + "/cpu.max").flatMap(parseCPUMax))
                    }
                }
            } else if controllers.contains("cpu") {
                let mount = "/sys/fs/cgroup/" + controllers.joined(separator: ",")
                for root in [mount, "/sys/fs/cgroup/cpu"] {
                    for directory in ancestors(path, under: root) {
                        guard let quota = read(directory + "/cpu.cfs_quota_us").flatMap(number),
                            let period = read(directory + "/cpu.cfs_period_us").flatMap(number)
                        else { continue }
                        consider(cpus(quota: quota, period: period))
                    }
                }
            }
        }
        return best
    }

    /// `root/a/b`, `root/a`, `root` for path `/a/b`: a limit set on any of them binds. (In a
    /// container whose cgroup namespace is not its own, the path names a directory that
    /// is not there; its root is then the container's cgroup.)
    static func ancestors(_ path: String, under root: String) -> [String] {
        var parts = path.split(separator: "/").map(String.init)
        var result: [String] = []
        while true {
            result.append(([root] + parts).joined(separator: "/"))
            if parts.isEmpty { return result }
            parts.removeLast()
        }
    }

    /// cgroup v2 `cpu.max`: `max 100000` (no limit) or `QUOTA PERIOD`.
    static func parseCPUMax(_ text: String) -> Int? {
        let fields = text.split(whereSeparator: \.isWhitespace)
        guard fields.count == 2, let quota = Int(fields[0]), let period = Int(fields[1]) else { return nil }
        return cpus(quota: quota, period: period)
    }

    static func cpus(quota: Int, period: Int) -> Int? {
        guard quota > 0, period > 0 else { return nil }
        return (quota + period - 1) / period
    }

    static func number(_ text: String) -> Int? {
        Int(text.filter { !$0.isWhitespace })
    }

    static func read(_ path: String) -> String? {
        #if canImport(Glibc)
            guard let file = fopen(path, "r") else { return nil }
            defer { fclose(file) }
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = fread(&buffer, 1, buffer.count, file)
                if count <= 0 { break }
                bytes += buffer[0..<count]
                if bytes.count > 1 << 16 { break }
            }
            return String(decoding: bytes, as: UTF8.self)
        #else
            return nil
        #endif
    }
}
