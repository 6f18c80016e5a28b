import Foundation
import Synchronization

/// A node of a control plane, for data-plane tests: its own network namespace with the real
/// kube-proxy (iptables mode), pods as further namespaces on a bridge (each with real
/// listeners that answer with their name), and an "outside" namespace that reaches the node
/// as a client beyond the cluster would. Everything is made with `ip -n`/`ip netns exec` inside
/// the new namespaces, so the root namespace's links, routes and iptables never change; the
/// API server is reached through a socket relay (a Unix socket crosses namespaces), so the
/// node needs no route to the host. Needs root, `ip`, `iptables`, `socat`.
///
/// ```swift
/// try await NodeNetwork.run(plane: plane) { node in
///     try await node.addPod("web-1", ip: "10.244.1.11", listeners: [8080: "team-a/web-1"])
///     try await node.startKubeProxy()
///     let answer = await node.request(node.nodeIP, port: 30080)   // "team-a/web-1"
/// }
/// ```
public final class NodeNetwork: Sendable {
    public let plane: ControlPlane
    /// The Node object's name (kube-proxy's `--hostname-override`).
    public let nodeName: String
    /// The node's address toward the outside namespace (its InternalIP).
    public let nodeIP = "192.168.77.1"
    public let outsideIP = "192.168.77.2"
    /// The pods' subnet on the node's bridge, and the bridge's own address (their gateway).
    public let podSubnet = "10.244.1.0/24"
    public let podGateway = "10.244.1.1"
    /// Namespace names: `<prefix>-node`, `<prefix>-out`, `<prefix>-p<N>`.
    let prefix: String
    let directory: URL
    private let state = Mutex(State())

    struct State {
        var namespaces: [String] = []
        var pods: [String: (namespace: String, processes: [ChildProcess])] = [:]
        var processes: [ChildProcess] = []
    }

    public var nodeNamespace: String { "\(prefix)-node" }
    public var outsideNamespace: String { "\(prefix)-out" }

    /// Why data-plane tests cannot run here, or nil when they can.
    public static var skipReason: String? {
        if getuid() != 0 { return "data-plane tests skipped: they need root (network namespaces)" }
        for tool in ["ip", "iptables", "socat"] where findExecutable(tool) == nil {
            return "data-plane tests skipped: \(tool) is missing (Debian: iproute2, iptables, socat)"
        }
        return nil
    }

    /// Makes the node and outside namespaces, runs `body`, and removes every process and
    /// namespace it made, also when `body` throws.
    public static func run<T: Sendable>(
        plane: ControlPlane, nodeName: String = "node-1", _ body: @Sendable (NodeNetwork) async throws -> T
    ) async throws -> T {
        let node = NodeNetwork(plane: plane, nodeName: nodeName)
        let result: Result<T, any Error>
        do {
            try await node.setUp()
            result = .success(try await body(node))
        } catch {
            result = .failure(error)
        }
        await node.tearDown()
        return try result.get()
    }

    private init(plane: ControlPlane, nodeName: String) {
        self.plane = plane
        self.nodeName = nodeName
        prefix = "slb-\(UUID().uuidString.prefix(8).lowercased())"
        directory = plane.directory.appending(path: "network-\(prefix)")
    }

    // MARK: Topology

    private func setUp() async throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let node = nodeNamespace
        let outside = outsideNamespace
        try await addNamespace(node)
        try await addNamespace(outside)
        try await ip(["-n", node, "link", "add", "br0", "type", "bridge"])
        try await ip(["-n", node, "addr", "add", "\(podGateway)/24", "dev", "br0"])
        try await ip(["-n", node, "link", "set", "br0", "up"])
        try await ip(["-n", node, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", outside])
        try await ip(["-n", node, "addr", "add", "\(nodeIP)/24", "dev", "eth0"])
        try await ip(["-n", node, "link", "set", "eth0", "up"])
        try await ip(["-n", outside, "addr", "add", "\(outsideIP)/24", "dev", "eth0"])
        try await ip(["-n", outside, "link", "set", "eth0", "up"])
        // The outside reaches load balancer addresses, cluster IPs and pods through the node.
        for destination in ["203.0.113.0/24", "10.96.0.0/12", podSubnet] {
            try await ip(["-n", outside, "route", "add", destination, "via", nodeIP])
        }
        try await exec(node, "sysctl", ["-qw", "net.ipv4.ip_forward=1"])
    }

    private func addNamespace(_ name: String) async throws {
        ScratchDirectory.recordNamespace(name, in: plane.directory)
        try await ip(["netns", "add", name])
        state.withLock { $0.namespaces.append(name) }
        try await ip(["-n", name, "link", "set", "lo", "up"])
    }

    /// A pod: its namespace on the node's bridge at `ip`, and a listener per port that answers
    /// every connection with its text.
    public func addPod(_ name: String, ip address: String, listeners: [Int: String]) async throws {
        let index = state.withLock { $0.pods.count + 1 }
        let namespace = "\(prefix)-p\(index)"
        try await addNamespace(namespace)
        let hostSide = "vp\(index)"
        try await ip([
            "-n", nodeNamespace, "link", "add", hostSide, "type", "veth", "peer", "name", "eth0", "netns", namespace,
        ])
        try await ip(["-n", nodeNamespace, "link", "set", hostSide, "master", "br0", "up"])
        try await ip(["-n", namespace, "addr", "add", "\(address)/24", "dev", "eth0"])
        try await ip(["-n", namespace, "link", "set", "eth0", "up"])
        try await ip(["-n", namespace, "route", "add", "default", "via", podGateway])
        var processes: [ChildProcess] = []
        for (port, answer) in listeners.sorted(by: { $0.key < $1.key }) {
            processes.append(
                try spawn(
                    in: namespace, "socat",
                    ["TCP-LISTEN:\(port),fork,reuseaddr", "SYSTEM:echo \(answer)"], log: "pod-\(name)-\(port)"))
        }
        state.withLock { $0.pods[name] = (namespace, processes) }
        // Listening before the test sends anything.
        for port in listeners.keys {
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                if await request(address, port: port, from: nodeNamespace) != nil { break }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    /// kube-proxy in iptables mode on this node, reaching the API server through a Unix-socket
    /// relay. The Node object must exist with InternalIP ``nodeIP`` (v1.34's kube-proxy waits for it).
    public func startKubeProxy() async throws {
        let socket = directory.appending(path: "api.sock").path
        let port = plane.server.split(separator: ":").last.map(String.init) ?? ""
        guard let socat = findExecutable("socat") else {
            throw ControlPlaneError(message: "socat missing", exited: false)
        }
        let outer = try ChildProcess(
            executable: socat, arguments: ["UNIX-LISTEN:\(socket),fork,reuseaddr", "TCP:127.0.0.1:\(port)"],
            log: directory.appending(path: "relay-host.log"))
        state.withLock { $0.processes.append(outer) }
        _ = try spawn(
            in: nodeNamespace, "socat", ["TCP-LISTEN:6443,bind=127.0.0.1,fork,reuseaddr", "UNIX-CONNECT:\(socket)"],
            log: "relay-node")
        let kubeconfig = directory.appending(path: "kube-proxy.kubeconfig")
        try plane.writeKubeconfig(
            to: kubeconfig, credentials: try plane.clientConfiguration(user: "system:kube-proxy").credentials,
            server: "https://127.0.0.1:6443")
        _ = try spawn(
            in: nodeNamespace, plane.version.proxy.path,
            [
                "--kubeconfig=\(kubeconfig.path)", "--proxy-mode=iptables", "--hostname-override=\(nodeName)",
                "--cluster-cidr=10.244.0.0/16",
                // Leave the host's conntrack table size and timeouts alone (they are not per namespace).
                "--conntrack-max-per-core=0", "--conntrack-tcp-timeout-established=0",
                "--conntrack-tcp-timeout-close-wait=0",
                "--metrics-bind-address=127.0.0.1:10249", "--healthz-bind-address=127.0.0.1:10256",
            ],
            log: "kube-proxy")
    }

    /// The kube-proxy log so far (for failure messages).
    public var kubeProxyLog: String {
        let text = (try? String(contentsOf: directory.appending(path: "kube-proxy.log"), encoding: .utf8)) ?? ""
        return String(text.suffix(3000))
    }

    /// Connects to `host:port` from the outside namespace (or `from`) and returns the answer's
    /// first line, or nil when nothing answers within `timeout`.
    public func request(
        _ host: String, port: Int, from namespace: String? = nil, timeout: Duration = .seconds(2)
    ) async -> String? {
        guard let ip = findExecutable("ip"), let socat = findExecutable("socat") else { return nil }
        let seconds = String(Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18)
        let result = try? await runCommand(
            ip,
            [
                "netns", "exec", namespace ?? outsideNamespace, socat.path, "-T", seconds, "-",
                "TCP:\(host):\(port),connect-timeout=\(seconds)",
            ], timeout: timeout + .seconds(5))
        guard let result, result.succeeded else { return nil }
        let line = result.standardOutput.split(separator: "\n").first.map(String.init)
        return line?.isEmpty == false ? line : nil
    }

    // MARK: Processes and clean-up

    private func spawn(in namespace: String, _ program: String, _ arguments: [String], log: String) throws
        -> ChildProcess
    {
        guard let ip = findExecutable("ip") else { throw ControlPlaneError(message: "ip missing", exited: false) }
        let executable = program.hasPrefix("/") ? program : (findExecutable(program)?.path ?? program)
        let process = try ChildProcess(
            executable: ip, arguments: ["netns", "exec", namespace, executable] + arguments,
            log: directory.appending(path: "\(log).log"))
        state.withLock { $0.processes.append(process) }
        return process
    }

    private func exec(_ namespace: String, _ program: String, _ arguments: [String]) async throws {
        try await ip(["netns", "exec", namespace, findExecutable(program)?.path ?? program] + arguments)
    }

    private func ip(_ arguments: [String]) async throws {
        guard let ip = findExecutable("ip") else { throw ControlPlaneError(message: "ip missing", exited: false) }
        let result = try await runCommand(ip, arguments)
        guard result.succeeded else {
            throw ControlPlaneError(message: "ip \(arguments.joined(separator: " ")): \(result)", exited: false)
        }
    }

    private func tearDown() async {
        let (processes, namespaces) = state.withLock { ($0.processes, $0.namespaces) }
        for process in processes.reversed() { await process.stop(signal: SIGTERM, timeout: .seconds(5)) }
        if let ip = findExecutable("ip") {
            for namespace in namespaces.reversed() { _ = try? await runCommand(ip, ["netns", "del", namespace]) }
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// The root namespace's links, addresses, routes and iptables rules, and the network
    /// namespaces that exist: two snapshots around a test must be equal.
    public static func rootSnapshot() async -> String {
        var parts: [String] = []
        for (program, arguments) in [
            ("ip", ["-o", "link", "show"]), ("ip", ["-o", "addr", "show"]), ("ip", ["route", "show", "table", "all"]),
            ("ip", ["-6", "route", "show", "table", "all"]), ("ip", ["netns", "list"]), ("iptables-save", []),
            ("ip6tables-save", []),
        ] {
            guard let executable = findExecutable(program),
                let result = try? await runCommand(executable, arguments)
            else { continue }
            // iptables-save stamps its output with the time, and address lifetimes count down.
            let lines = result.standardOutput.split(separator: "\n").filter { !$0.hasPrefix("#") }.map {
                $0.replacing(/valid_lft \S+ preferred_lft \S+/, with: "")
            }
            parts.append("$ \(program) \(arguments.joined(separator: " "))\n" + lines.joined(separator: "\n"))
        }
        return parts.joined(separator: "\n")
    }
}
