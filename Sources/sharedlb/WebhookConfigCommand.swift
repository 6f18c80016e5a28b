public import ArgumentParser
import Foundation
public import SharedLBCore
import Yams

extension WebhookRegistration.FailurePolicy: ExpressibleByArgument {}

struct WebhookConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhook-config",
        abstract: "Print a MutatingWebhookConfiguration that registers the webhook with kube-apiserver.",
        discussion: """
            Calls the webhook for CREATE and UPDATE of Services, except in kube-system and the \
            controller namespace and except SharedLB's own shared LoadBalancer Services.

            Examples:
              sharedlb webhook-config --url https://192.0.2.10:8443/mutate \\
                --ca certs/ca.crt | kubectl apply -f -
              sharedlb webhook-config --service sharedlb-system/sharedlb-webhook \\
                --ca certs/ca.crt --match-conditions --failure-policy Fail
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case yaml, json
    }

    @Option(help: "Webhook URL outside the cluster, e.g. https://HOST:8443/mutate.")
    var url: String?

    @Option(help: "In-cluster webhook Service as NAMESPACE/NAME[:PORT] (port 443 by default).")
    var service: String?

    @Option(help: "Path on the --service.")
    var path = "/mutate"

    @Option(
        help: """
            PEM file of the CA that signed the webhook's serving certificate (sharedlb certs writes certs/ca.crt). \
            Without it, caBundle is left out for a CA injector such as cert-manager to fill in.
            """)
    var ca: String?

    @Option(
        help: """
            Ignore: during a webhook outage LoadBalancer Services are created unconverted. \
            Fail: they are rejected (use with --match-conditions so only LoadBalancer writes are blocked).
            """)
    var failurePolicy: WebhookRegistration.FailurePolicy = .ignore

    @Option(help: "Name of the MutatingWebhookConfiguration.")
    var name = "sharedlb-webhook"

    @Option(help: "Controller namespace, excluded from the webhook together with kube-system.")
    var controllerNamespace = SharedLBNames.defaultNamespace

    @Option(help: "Seconds the API server waits for the webhook (1-30).")
    var timeout = 5

    @Flag(
        help:
            "Add matchConditions (kube-apiserver v1.28+): call the webhook only when the old or new type is LoadBalancer."
    )
    var matchConditions = false

    @Option(help: "Output format: yaml or json.")
    var output: Format = .yaml

    func validate() throws {
        guard (url == nil) != (service == nil) else { throw ValidationError("give exactly one of --url and --service") }
        if let url, !url.hasPrefix("https://") { throw ValidationError("--url must start with https://") }
        if let service, parseService(service) == nil {
            throw ValidationError("--service must be NAMESPACE/NAME or NAMESPACE/NAME:PORT, not \"\(service)\"")
        }
        guard (1...30).contains(timeout) else { throw ValidationError("--timeout must be between 1 and 30 seconds") }
    }

    func run() throws {
        let caBundle: String? = try ca.map { try readCABundle($0) }
        let endpoint: WebhookRegistration.Endpoint
        if let url {
            endpoint = .url(url)
        } else {
            let (namespace, name, port) = parseService(service!)!
            endpoint = .service(namespace: namespace, name: name, port: port, path: path)
        }
        let registration = WebhookRegistration(
            name: name, endpoint: endpoint, caBundle: caBundle, failurePolicy: failurePolicy,
            timeoutSeconds: timeout, excludedNamespaces: ["kube-system", controllerNamespace],
            matchConditions: matchConditions)
        switch output {
        case .yaml:
            print(try YAMLEncoder().encode(registration.manifest()), terminator: "")
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(registration.manifest()), as: UTF8.self))
        }
    }

    private func readCABundle(_ path: String) throws -> String {
        let pem: Data
        do {
            pem = try Data(contentsOf: URL(filePath: path))
        } catch {
            throw ValidationError("cannot read --ca \(path): \(error.localizedDescription)")
        }
        guard String(decoding: pem, as: UTF8.self).contains("-----BEGIN CERTIFICATE-----") else {
            throw ValidationError("--ca \(path) holds no PEM certificate")
        }
        return pem.base64EncodedString()
    }

    private func parseService(_ text: String) -> (String, String, Int)? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty else { return nil }
        let nameAndPort = parts[1].split(separator: ":", omittingEmptySubsequences: false)
        guard !nameAndPort[0].isEmpty, nameAndPort.count <= 2 else { return nil }
        let port = nameAndPort.count == 2 ? Int(nameAndPort[1]) : 443
        guard let port, (1...65535).contains(port) else { return nil }
        return (String(parts[0]), String(nameAndPort[0]), port)
    }
}
