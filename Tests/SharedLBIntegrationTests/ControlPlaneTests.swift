import Foundation
import SharedLBCore
import SharedLBEnvtest
import SharedLBKubernetes
import Testing

@Suite("Real-cluster tier: the control plane harness")
struct ControlPlaneTests {
    @Test(
        "the real-cluster tier runs when SHAREDLB_KUBE_ASSETS names control planes",
        .enabled(if: KubeAssets.skipReason == nil, Comment(rawValue: KubeAssets.skipReason ?? "")))
    func tierEnabled() {
        #expect(!KubeAssets.versions.isEmpty)
    }

    @Test(
        "a control plane starts on free ports with minted certificates, answers as its version, audits, and leaves nothing behind",
        arguments: KubeAssets.versions)
    func startsAndCleansUp(version: KubeVersion) async throws {
        let (directory, started) = try await ControlPlane.run(version) { plane -> (URL, [Int32]) in
            let info = try await plane.kubectl(["version", "-o", "json"])
            #expect(info.succeeded, "\(info)")
            #expect(info.standardOutput.contains("\"gitVersion\": \"\(version.name.prefix(5))"))
            _ = try await plane.client.create(Namespace(metadata: ObjectMeta(name: "smoke")))
            // The controller manager runs: the namespace gets its default ServiceAccount.
            let account = try await plane.kubectl(
                ["wait", "--for=create", "serviceaccount/default", "-n", "smoke", "--timeout=60s"])
            #expect(account.succeeded, "\(account)")
            // A ServiceAccount token from the TokenRequest API authenticates as that account.
            let token = try await plane.serviceAccountToken(namespace: "smoke", name: "default")
            let asAccount = try KubernetesClient(
                configuration: ClientConfiguration(
                    server: plane.server, certificateAuthorityPEM: plane.caCertificatePEM, credentials: .token(token)))
            await #expect(throws: KubernetesError.self) {
                _ = try await asAccount.list(ConfigMap.self, namespace: "kube-system")
            }
            try await asAccount.shutdown()
            let audit = try plane.auditEvents()
            #expect(audit.contains { $0.verb == "create" && $0.objectRef?.name == "smoke" && $0.code == 201 })
            #expect(
                audit.contains {
                    $0.username == "system:serviceaccount:smoke:default" && $0.code == 403
                        && $0.objectRef?.resource == "configmaps"
                })
            return (plane.directory, try processes(under: plane.directory))
        }
        #expect(started.count >= 3, "etcd, kube-apiserver and kube-controller-manager should have run")
        #expect(!FileManager.default.fileExists(atPath: directory.path))
        for pid in started { #expect(kill(pid, 0) != 0, "process \(pid) still runs") }
    }
}

/// Processes whose command line names `directory` (the control plane's own).
func processes(under directory: URL) throws -> [Int32] {
    try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap { entry -> Int32? in
        guard let pid = Int32(entry),
            let line = try? Data(contentsOf: URL(filePath: "/proc/\(entry)/cmdline")),
            String(decoding: line, as: UTF8.self).contains(directory.path)
        else { return nil }
        return pid
    }
}
