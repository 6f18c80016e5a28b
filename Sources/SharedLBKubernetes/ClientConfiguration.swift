import Foundation
public import NIOSSL
import Yams

/// Where and how to reach kube-apiserver: from a kubeconfig file, from the in-cluster
/// service account, or built directly (tests).
public struct ClientConfiguration: Sendable {
    public enum Credentials: Sendable {
        case none
        case token(String)
        /// Re-read on every request, so a rotated service-account token is picked up.
        case tokenFile(String)
        /// A client certificate and key (PEM).
        case clientCertificate(certificatePEM: String, keyPEM: String)
    }

    /// `https://host:port` (no trailing slash).
    public var server: String
    /// PEM of the CAs to trust; `nil` uses the system's roots.
    public var certificateAuthorityPEM: String?
    public var insecureSkipTLSVerify: Bool
    public var credentials: Credentials
    /// The context's namespace, or the pod's (in-cluster), or `default`.
    public var namespace: String

    public init(
        server: String, certificateAuthorityPEM: String? = nil, insecureSkipTLSVerify: Bool = false,
        credentials: Credentials = .none, namespace: String = "default"
    ) {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.certificateAuthorityPEM = certificateAuthorityPEM
        self.insecureSkipTLSVerify = insecureSkipTLSVerify
        self.credentials = credentials
        self.namespace = namespace
    }

    /// The bearer token to send now, if any.
    func bearerToken() throws(KubernetesError) -> String? {
        switch credentials {
        case .token(let token): return token
        case .tokenFile(let path):
            do {
                return try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                throw KubernetesError(
                    kind: .configuration, code: 0,
                    message: "cannot read token file \(path): \(error.localizedDescription)")
            }
        default: return nil
        }
    }

    /// The TLS settings for this server.
    public func tlsConfiguration() throws(KubernetesError) -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        do {
            if let certificateAuthorityPEM {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(certificateAuthorityPEM.utf8)))
            }
            if case .clientCertificate(let certificatePEM, let keyPEM) = credentials {
                tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)).map {
                    .certificate($0)
                }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem))
            }
        } catch {
            throw KubernetesError(kind: .configuration, code: 0, message: "invalid TLS material: \(error)")
        }
        if insecureSkipTLSVerify { tls.certificateVerification = .none }
        // Closing a connection waits at most this long for the server's close_notify.
        tls.shutdownTimeout = .seconds(1)
        return tls
    }
}

extension ClientConfiguration {
    /// Loads a kubeconfig: the named context or `current-context`, with its cluster and user.
    ///
    /// ```swift
    /// let configuration = try ClientConfiguration.kubeconfig(path: "~/.kube/config")
    /// ```
    public static func kubeconfig(path: String, context: String? = nil) throws(KubernetesError) -> ClientConfiguration {
        let expanded = (path as NSString).expandingTildeInPath
        let text: String
        do {
            text = try String(contentsOfFile: expanded, encoding: .utf8)
        } catch {
            throw configurationError("cannot read kubeconfig \(expanded): \(error.localizedDescription)")
        }
        return try kubeconfig(yaml: text, directory: (expanded as NSString).deletingLastPathComponent, context: context)
    }

    /// Parses kubeconfig YAML; relative file paths resolve against `directory`.
    public static func kubeconfig(yaml: String, directory: String, context: String? = nil) throws(KubernetesError)
        -> ClientConfiguration
    {
        let document: Any?
        do {
            document = try Yams.load(yaml: yaml)
        } catch {
            throw configurationError("kubeconfig is not valid YAML: \(error)")
        }
        guard let root = document as? [String: Any] else {
            throw configurationError("kubeconfig is not a YAML mapping")
        }
        guard let contextName = context ?? (root["current-context"] as? String), !contextName.isEmpty else {
            throw configurationError("kubeconfig has no current-context (and no context was named)")
        }
        let contextEntry = try named(root, "contexts", contextName, field: "context")
        guard let clusterName = contextEntry["cluster"] as? String else {
            throw configurationError("context \"\(contextName)\" has no cluster")
        }
        let cluster = try named(root, "clusters", clusterName, field: "cluster")
        guard let server = cluster["server"] as? String, !server.isEmpty else {
            throw configurationError("cluster \"\(clusterName)\" has no server")
        }
        let user = (contextEntry["user"] as? String).flatMap { try? named(root, "users", $0, field: "user") } ?? [:]
        func material(_ dataKey: String, _ fileKey: String, in entry: [String: Any]) throws(KubernetesError) -> String?
        {
            if let data = entry[dataKey] as? String {
                guard let decoded = Data(base64Encoded: data) else {
                    throw configurationError("\(dataKey) is not valid base64")
                }
                return String(decoding: decoded, as: UTF8.self)
            }
            if let file = entry[fileKey] as? String {
                let resolved = file.hasPrefix("/") ? file : "\(directory)/\(file)"
                do {
                    return try String(contentsOfFile: resolved, encoding: .utf8)
                } catch {
                    throw configurationError("cannot read \(fileKey) \(resolved): \(error.localizedDescription)")
                }
            }
            return nil
        }
        let credentials: Credentials
        if let token = user["token"] as? String {
            credentials = .token(token)
        } else if let tokenFile = user["tokenFile"] as? String {
            credentials = .tokenFile(tokenFile.hasPrefix("/") ? tokenFile : "\(directory)/\(tokenFile)")
        } else if let certificate = try material("client-certificate-data", "client-certificate", in: user) {
            guard let key = try material("client-key-data", "client-key", in: user) else {
                throw configurationError(
                    "user of context \"\(contextName)\" has a client-certificate but no client-key")
            }
            credentials = .clientCertificate(certificatePEM: certificate, keyPEM: key)
        } else {
            credentials = .none
        }
        return ClientConfiguration(
            server: server,
            certificateAuthorityPEM: try material("certificate-authority-data", "certificate-authority", in: cluster),
            insecureSkipTLSVerify: cluster["insecure-skip-tls-verify"] as? Bool ?? false,
            credentials: credentials,
            namespace: contextEntry["namespace"] as? String ?? "default")
    }

    /// The service account a pod runs as: `KUBERNETES_SERVICE_HOST`/`_PORT` and the files under
    /// `/var/run/secrets/kubernetes.io/serviceaccount` (the token is re-read on every request).
    public static func inCluster(
        environment: [String: String]? = nil,
        directory: String = "/var/run/secrets/kubernetes.io/serviceaccount"
    ) throws(KubernetesError) -> ClientConfiguration {
        let environment = environment ?? ProcessInfo.processInfo.environment
        guard let host = environment["KUBERNETES_SERVICE_HOST"], let port = environment["KUBERNETES_SERVICE_PORT"]
        else {
            throw configurationError(
                "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set")
        }
        let ca: String
        do {
            ca = try String(contentsOfFile: "\(directory)/ca.crt", encoding: .utf8)
        } catch {
            throw configurationError("cannot read \(directory)/ca.crt: \(error.localizedDescription)")
        }
        let namespace = (try? String(contentsOfFile: "\(directory)/namespace", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return ClientConfiguration(
            server: "https://\(hostPart):\(port)", certificateAuthorityPEM: ca,
            credentials: .tokenFile("\(directory)/token"),
            namespace: namespace ?? "default")
    }

    /// `--kubeconfig`, then `$KUBECONFIG` (first file), then `~/.kube/config`, then in-cluster.
    public static func resolve(kubeconfig: String?, context: String? = nil) throws(KubernetesError)
        -> ClientConfiguration
    {
        if let kubeconfig { return try self.kubeconfig(path: kubeconfig, context: context) }
        if let environment = ProcessInfo.processInfo.environment["KUBECONFIG"],
            let first = environment.split(separator: ":").first
        {
            return try self.kubeconfig(path: String(first), context: context)
        }
        let home = ("~/.kube/config" as NSString).expandingTildeInPath
        if FileManager.default.fileExists(atPath: home) { return try self.kubeconfig(path: home, context: context) }
        return try inCluster()
    }

    private static func named(_ root: [String: Any], _ list: String, _ name: String, field: String)
        throws(KubernetesError)
        -> [String: Any]
    {
        guard let entries = root[list] as? [[String: Any]] else {
            throw configurationError("kubeconfig has no \(list)")
        }
        guard let entry = entries.first(where: { $0["name"] as? String == name }) else {
            throw configurationError("kubeconfig has no \(field) named \"\(name)\" in \(list)")
        }
        guard let body = entry[field] as? [String: Any] else {
            throw configurationError("\(list) entry \"\(name)\" has no \(field) mapping")
        }
        return body
    }

    static func configurationError(_ message: String) -> KubernetesError {
        KubernetesError(kind: .configuration, code: 0, message: message)
    }
}
