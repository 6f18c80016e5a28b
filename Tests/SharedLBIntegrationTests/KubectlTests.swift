import Foundation
import SharedLBCore
import SharedLBEnvtest
import SharedLBKubernetes
import Testing

/// What a kubectl user sees with SharedLB installed on a real cluster: client-side and
/// server-side apply (and re-apply), server dry-run, and the webhook's warnings.
@Suite("kubectl against a real API server with the webhook registered")
struct KubectlTests {
    static func manifest(
        _ name: String, port: Int = 5432, annotations: [String: String] = [:], spec: String = ""
    ) -> String {
        let annotationLines = annotations.sorted { $0.key < $1.key }.map { "    \($0.key): \"\($0.value)\"" }
        return """
            apiVersion: v1
            kind: Service
            metadata:
              name: \(name)
              namespace: team-a
            \(annotationLines.isEmpty ? "" : "  annotations:\n" + annotationLines.joined(separator: "\n"))
            spec:
              type: LoadBalancer
              selector: {app: \(name)}
              ports: [{name: pg, port: \(port), targetPort: \(port)}]
            \(spec)
            """
    }

    @Test(
        "apply, re-apply, server-side apply, dry-run and the skip rules, as kubectl shows them",
        .enabled(if: findExecutable("kubectl") != nil, "needs kubectl"), arguments: Backend.real)
    func kubectl(backend: Backend) async throws {
        try await TestEnvironment.run(on: backend) { environment in
            let plane = try #require(environment.plane)
            try await environment.register(failurePolicy: .fail)
            _ = try await environment.client.create(Namespace(metadata: ObjectMeta(name: "team-a")))
            let client = environment.client
            func type(_ name: String) async throws -> String? {
                try await client.get(KubeService.self, namespace: "team-a", name: name).spec?.type
            }

            // Client-side apply: converted, and the user is told.
            var applied = try await plane.kubectl(["apply", "-f", "-"], input: Self.manifest("db"))
            #expect(applied.succeeded, "\(applied)")
            #expect(applied.standardError.contains("Warning: sharedlb: converted to ClusterIP"), "\(applied)")
            #expect(try await type("db") == "ClusterIP")
            // Re-applied unchanged, and with a changed port: converted again, `requested` follows.
            applied = try await plane.kubectl(["apply", "-f", "-"], input: Self.manifest("db"))
            #expect(applied.succeeded, "\(applied)")
            applied = try await plane.kubectl(["apply", "-f", "-"], input: Self.manifest("db", port: 5433))
            #expect(applied.succeeded, "\(applied)")
            let db = try await client.get(KubeService.self, namespace: "team-a", name: "db")
            #expect(db.spec?.type == "ClusterIP")
            #expect(db.metadata.annotations?[SharedLBNames.requestedAnnotation]?.contains(#""port":5433"#) == true)

            // Server-side apply, twice: no conflict with the webhook's changes.
            for _ in 0..<2 {
                applied = try await plane.kubectl(
                    ["apply", "--server-side", "--field-manager=team-a", "-f", "-"],
                    input: Self.manifest("cache", port: 6379))
                #expect(applied.succeeded, "\(applied)")
            }
            #expect(try await type("cache") == "ClusterIP")

            // Server dry-run: the converted object is shown, nothing is stored.
            let dry = try await plane.kubectl(
                ["create", "--dry-run=server", "-o", "jsonpath={.spec.type}", "-f", "-"],
                input: Self.manifest("preview"))
            #expect(dry.succeeded && dry.standardOutput == "ClusterIP", "\(dry)")
            await #expect(throws: KubernetesError.self) { _ = try await type("preview") }

            // The skip rules: left as LoadBalancers, each with its warning.
            let skipped: [(String, String, String)] = [
                (
                    "dedicated", Self.manifest("dedicated", annotations: ["sharedlb.io/dedicated": "true"]),
                    "kept as a dedicated LoadBalancer"
                ),
                (
                    "classed", Self.manifest("classed", spec: "  loadBalancerClass: example.com/other"),
                    "loadBalancerClass example.com/other is another implementation's"
                ),
                (
                    "local", Self.manifest("local", spec: "  externalTrafficPolicy: Local"),
                    "externalTrafficPolicy Local cannot share"
                ),
            ]
            for (name, text, warning) in skipped {
                applied = try await plane.kubectl(["apply", "-f", "-"], input: text)
                #expect(applied.succeeded && applied.standardError.contains(warning), "\(name): \(applied)")
                #expect(try await type(name) == "LoadBalancer")
            }
            // An existing LoadBalancer that is updated stays one (its address would go otherwise).
            applied = try await plane.kubectl(
                ["apply", "-f", "-"], input: Self.manifest("dedicated", port: 5434))
            #expect(applied.standardError.contains("existing LoadBalancer left alone"), "\(applied)")
            #expect(try await type("dedicated") == "LoadBalancer")
            // One that kube-apiserver refuses as a LoadBalancer: its own answer, and SharedLB says why it let it through.
            applied = try await plane.kubectl(
                ["apply", "-f", "-"], input: Self.manifest("headless", spec: "  clusterIP: None"))
            #expect(!applied.succeeded, "\(applied)")
            #expect(applied.standardError.contains("may not be set to 'None' for LoadBalancer services"), "\(applied)")
        }
    }

    @Test(
        "the binary linked as kubectl-sharedlb is a kubectl plugin: kubectl sharedlb audit reads KUBECONFIG",
        .enabled(if: findExecutable("kubectl") != nil, "needs kubectl"), arguments: Backend.real.suffix(1))
    func plugin(backend: Backend) async throws {
        try await Cluster.run(on: backend) { cluster in
            let plane = try #require(cluster.environment.plane)
            _ = try await cluster.client.create(loadBalancer("db", namespace: "team-a", ports: [(5432, "TCP")]))
            try await cluster.waitForEndpoints(["team-a/db"])
            try await cluster.settle()
            let directory = try ScratchDirectory.make(prefix: "sharedlb-plugin")
            defer { try? FileManager.default.removeItem(at: directory) }
            try FileManager.default.createSymbolicLink(
                at: directory.appending(path: "kubectl-sharedlb"), withDestinationURL: AllocatorProcess.binary)
            let path = "\(directory.path):\(ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")"
            func kubectl(_ arguments: [String]) async throws -> CommandResult {
                try await runCommand(
                    URL(filePath: "/usr/bin/env"),
                    ["PATH=\(path)", "KUBECONFIG=\(plane.adminKubeconfig.path)", "kubectl"] + arguments)
            }
            let listed = try await kubectl(["plugin", "list"])
            #expect(listed.standardOutput.contains("kubectl-sharedlb"), "\(listed)")
            let help = try await kubectl(["sharedlb", "--help"])
            #expect(help.succeeded && help.standardOutput.contains("USAGE: kubectl sharedlb <subcommand>"), "\(help)")
            let audit = try await kubectl(["sharedlb", "audit"])
            #expect(audit.succeeded, "\(audit)")
            #expect(audit.standardOutput.contains("team-a/db"), "\(audit)")
        }
    }
}
