public import Foundation

/// One Kubernetes version's binaries: a folder with `kube-apiserver`, `kube-controller-manager`,
/// `kube-proxy` and `etcd` (or an `etcd` found beside it or on `PATH`).
public struct KubeVersion: Sendable, Hashable, CustomStringConvertible {
    /// The folder's name, e.g. `v1.34.9`.
    public let name: String
    public let directory: URL
    /// The minor version (24, 34, ...), read from the name; 0 when it has none.
    public let minor: Int
    public let etcd: URL

    public var description: String { name }
    public var apiServer: URL { directory.appending(path: "kube-apiserver") }
    public var controllerManager: URL { directory.appending(path: "kube-controller-manager") }
    public var proxy: URL { directory.appending(path: "kube-proxy") }

    init?(directory: URL, fallbackEtcd: URL?) {
        let manager = FileManager.default
        guard manager.isExecutableFile(atPath: directory.appending(path: "kube-apiserver").path) else { return nil }
        let own = directory.appending(path: "etcd")
        guard let etcd = manager.isExecutableFile(atPath: own.path) ? own : fallbackEtcd else { return nil }
        self.directory = directory
        self.etcd = etcd
        name = directory.lastPathComponent
        let parts = name.drop { !$0.isNumber }.split(separator: ".")
        minor = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
    }
}

/// The control planes named by `SHAREDLB_KUBE_ASSETS`: a folder of one version's binaries, or a
/// folder of such folders (what `scripts/kube-assets.sh` unpacks, one per version).
public enum KubeAssets {
    public static let environmentVariable = "SHAREDLB_KUBE_ASSETS"

    /// Every version found, oldest first; empty when the variable is unset.
    public static let versions: [KubeVersion] = discover(ProcessInfo.processInfo.environment)

    /// Why the real-cluster tier does not run, or nil when it does.
    public static var skipReason: String? {
        guard versions.isEmpty else { return nil }
        let value = ProcessInfo.processInfo.environment[environmentVariable] ?? ""
        return value.isEmpty
            ? "real-cluster tier skipped: \(environmentVariable) is unset (export SHAREDLB_KUBE_ASSETS=$(scripts/kube-assets.sh))"
            : "real-cluster tier skipped: no kube-apiserver and etcd under \(environmentVariable)=\(value)"
    }

    static func discover(_ environment: [String: String]) -> [KubeVersion] {
        guard let value = environment[environmentVariable], !value.isEmpty else { return [] }
        let root = URL(filePath: value, directoryHint: .isDirectory)
        let pathEtcd = (environment["PATH"] ?? "").split(separator: ":").map {
            URL(filePath: String($0)).appending(path: "etcd")
        }.first { FileManager.default.isExecutableFile(atPath: $0.path) }
        if let single = KubeVersion(directory: root, fallbackEtcd: pathEtcd) { return [single] }
        let folders =
            ((try? FileManager.default.contentsOfDirectory(
                at: root, includingPropertiesForKeys: nil, options: .skipsHiddenFiles)) ?? [])
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let siblingEtcd =
            folders.map { $0.appending(path: "etcd") }.first {
                FileManager.default.isExecutableFile(atPath: $0.path)
            } ?? pathEtcd
        return folders.compactMap { KubeVersion(directory: $0, fallbackEtcd: siblingEtcd) }
            .sorted { ($0.minor, $0.name) < ($1.minor, $1.name) }
    }
}
