import Foundation
import SharedLBKubernetes
import Testing

@Suite("kubeconfig and in-cluster configuration")
struct KubeConfigTests {
    let caPEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

    func yaml(user: String, cluster: String = "", context: String = "") -> String {
        """
        apiVersion: v1
        kind: Config
        current-context: dev
        clusters:
        - name: c1
          cluster:
            server: https://127.0.0.1:6443
            certificate-authority-data: \(Data(caPEM.utf8).base64EncodedString())
        \(cluster)
        contexts:
        - name: dev
          context:
            cluster: c1
            user: u1
            namespace: team-a
        \(context)
        users:
        - name: u1
          user:
        \(user)
        """
    }

    @Test("current context, base64 data, token and namespace")
    func tokenContext() throws {
        let configuration = try ClientConfiguration.kubeconfig(yaml: yaml(user: "    token: abc"), directory: "/tmp")
        #expect(configuration.server == "https://127.0.0.1:6443")
        #expect(configuration.certificateAuthorityPEM == caPEM)
        #expect(configuration.namespace == "team-a")
        guard case .token("abc") = configuration.credentials else {
            Issue.record("token not read")
            return
        }
    }

    @Test("client certificate files resolve relative to the kubeconfig")
    func certificateFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "kubeconfig-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "CERT".write(to: directory.appending(path: "client.crt"), atomically: true, encoding: .utf8)
        try "KEY".write(to: directory.appending(path: "client.key"), atomically: true, encoding: .utf8)
        let text = yaml(user: "    client-certificate: client.crt\n    client-key: client.key")
        try text.write(to: directory.appending(path: "config"), atomically: true, encoding: .utf8)
        let configuration = try ClientConfiguration.kubeconfig(path: directory.appending(path: "config").path)
        guard case .clientCertificate("CERT", "KEY") = configuration.credentials else {
            Issue.record("client certificate not read: \(configuration.credentials)")
            return
        }
    }

    @Test(
        "clear errors name what is missing",
        arguments: [
            ("current-context: dev\nclusters: []\ncontexts: []\nusers: []", "no context named \"dev\""),
            ("clusters: []", "no current-context"),
            ("- a list", "not a YAML mapping"),
            ("current-context: [", "not valid YAML"),
        ])
    func errors(text: String, message: String) {
        #expect {
            try ClientConfiguration.kubeconfig(yaml: text, directory: "/tmp")
        } throws: { error in
            "\(error)".contains(message)
        }
    }

    @Test("a user with a certificate and no key is refused")
    func certificateWithoutKey() {
        #expect {
            try ClientConfiguration.kubeconfig(
                yaml: yaml(user: "    client-certificate-data: Q0VSVA=="), directory: "/tmp")
        } throws: { error in
            "\(error)".contains("no client-key")
        }
    }

    @Test("in-cluster: service host and port, CA, namespace, and a token file read per request")
    func inCluster() throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "sa-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try caPEM.write(to: directory.appending(path: "ca.crt"), atomically: true, encoding: .utf8)
        try "sharedlb-system\n".write(to: directory.appending(path: "namespace"), atomically: true, encoding: .utf8)
        let configuration = try ClientConfiguration.inCluster(
            environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"],
            directory: directory.path)
        #expect(configuration.server == "https://10.96.0.1:443")
        #expect(configuration.namespace == "sharedlb-system")
        guard case .tokenFile(let path) = configuration.credentials else {
            Issue.record("no token file")
            return
        }
        #expect(path.hasSuffix("/token"))
        #expect(throws: KubernetesError.self) {
            try ClientConfiguration.inCluster(environment: [:], directory: directory.path)
        }
    }
}
