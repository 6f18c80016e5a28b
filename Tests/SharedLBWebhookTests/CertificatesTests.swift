import Foundation
import NIOSSL
import SharedLBCertificates
import SharedLBCore
import Testing

@Suite("Certificates and registration")
struct CertificatesTests {
    @Test("serving certificates carry the requested DNS and IP names, keys are written 0600")
    func issuedNames() throws {
        let bundle = try CertificateAuthority.generate().issue(
            ServingCertificateRequest(dnsNames: ["a.example", "b.example"], ipAddresses: ["127.0.0.1", "::1"]))
        let leaf = try NIOSSLCertificate(bytes: Array(bundle.certificatePEM.utf8), format: .pem)
        let names = leaf._subjectAlternativeNames().map { name -> String in
            switch name.nameType {
            case .dnsName: String(decoding: name.contents, as: UTF8.self)
            case .ipAddress: name.contents.map(String.init).joined(separator: ".")
            default: "?"
            }
        }
        #expect(names == ["a.example", "b.example", "127.0.0.1", "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1"])

        let directory = FileManager.default.temporaryDirectory.appending(path: "sharedlb-certs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try bundle.write(to: directory)
        for (file, mode) in [("ca.key", 0o600), ("tls.key", 0o600), ("ca.crt", 0o644), ("tls.crt", 0o644)] {
            let attributes = try FileManager.default.attributesOfItem(atPath: directory.appending(path: file).path)
            #expect((attributes[.posixPermissions] as? Int) == mode, "\(file)")
        }
        #expect(!FileManager.default.fileExists(atPath: directory.appending(path: ".tls.crt.tmp").path))
    }

    @Test("a reloaded CA issues certificates that chain to the same caBundle")
    func reuseCA() async throws {
        let original = try CertificateAuthority.generate()
        let first = try original.issue(ServingCertificateRequest(dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"]))
        let reloaded = try CertificateAuthority(certificatePEM: first.caCertificatePEM, keyPEM: first.caKeyPEM)
        let second = try reloaded.issue(ServingCertificateRequest(dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"]))
        #expect(second.caBundle == first.caBundle)
        #expect(second.certificatePEM != first.certificatePEM)
        // The proof: a client trusting only the first bundle's CA accepts the second certificate.
        let directory = FileManager.default.temporaryDirectory.appending(path: "sharedlb-reuse-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try second.write(to: directory)
        try await RunningWebhook.with(pki: TestPKI(directory: directory, bundle: second)) { webhook in
            try await withHTTPClient(tls: clientTLS(trusting: [first])) { http in
                let response = try await http.send("\(webhook.baseURL)/healthz", method: .GET)
                #expect(response.status == 200)
            }
        }
    }

    @Test("a CA key that does not match its certificate, and a bad IP, are clear errors")
    func errors() throws {
        let one = try CertificateAuthority.generate().issue(ServingCertificateRequest())
        let two = try CertificateAuthority.generate().issue(ServingCertificateRequest())
        #expect(throws: CertificateError.self) {
            try CertificateAuthority(certificatePEM: one.caCertificatePEM, keyPEM: two.caKeyPEM)
        }
        #expect {
            try CertificateAuthority.generate().issue(
                ServingCertificateRequest(dnsNames: [], ipAddresses: ["300.1.1.1"]))
        } throws: { error in
            "\(error)".contains("\"300.1.1.1\" is not an IPv4 or IPv6 address")
        }
    }

    @Test("the webhook registration has the selectors, policies and conditions kube-apiserver needs")
    func registration() throws {
        let manifest = WebhookRegistration(
            endpoint: .service(namespace: "sharedlb-system", name: "sharedlb-webhook", port: 443, path: "/mutate"),
            caBundle: "Q0E=", failurePolicy: .fail, matchConditions: true
        ).manifest()
        let json = try JSONParser.parse(Array(try JSONEncoder().encode(manifest)))
        let webhook = try #require(json["webhooks"]?.arrayValue?.first)
        #expect(json["apiVersion"]?.stringValue == "admissionregistration.k8s.io/v1")
        #expect(webhook["sideEffects"]?.stringValue == "None")
        #expect(webhook["admissionReviewVersions"] == .array([.string("v1")]))
        #expect(webhook["timeoutSeconds"] == .number("5"))
        #expect(webhook["matchPolicy"]?.stringValue == "Equivalent")
        #expect(webhook["reinvocationPolicy"]?.stringValue == "IfNeeded")
        #expect(webhook["failurePolicy"]?.stringValue == "Fail")
        #expect(webhook["rules"]?.arrayValue?.first?["resources"] == .array([.string("services")]))
        #expect(webhook["rules"]?.arrayValue?.first?["operations"] == .array([.string("CREATE"), .string("UPDATE")]))
        let namespaces = webhook["namespaceSelector"]?["matchExpressions"]?.arrayValue?.first
        #expect(namespaces?["operator"]?.stringValue == "NotIn")
        #expect(namespaces?["values"] == .array([.string("kube-system"), .string("sharedlb-system")]))
        let objects = webhook["objectSelector"]?["matchExpressions"]?.arrayValue?.first
        #expect(objects?["key"]?.stringValue == "sharedlb.io/role")
        #expect(objects?["values"] == .array([.string("shared-lb")]))
        #expect(webhook["clientConfig"]?["service"]?["path"]?.stringValue == "/mutate")
        #expect(webhook["clientConfig"]?["caBundle"]?.stringValue == "Q0E=")
        let condition = try #require(webhook["matchConditions"]?.arrayValue?.first?["expression"]?.stringValue)
        #expect(condition.contains("object.spec.type == 'LoadBalancer'"))
        #expect(condition.contains("oldObject.spec.type == 'LoadBalancer'"))

        let plain = WebhookRegistration(endpoint: .url("https://127.0.0.1:8443/mutate"), caBundle: nil).manifest()
        let plainJSON = try JSONParser.parse(Array(try JSONEncoder().encode(plain)))
        let plainWebhook = try #require(plainJSON["webhooks"]?.arrayValue?.first)
        #expect(plainWebhook["failurePolicy"]?.stringValue == "Ignore")
        #expect(plainWebhook["matchConditions"] == nil)
        #expect(plainWebhook["clientConfig"]?["caBundle"] == nil)
        #expect(plainWebhook["clientConfig"]?["url"]?.stringValue == "https://127.0.0.1:8443/mutate")
    }
}
