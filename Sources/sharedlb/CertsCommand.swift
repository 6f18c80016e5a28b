import ArgumentParser
import Foundation
import SharedLBCertificates

struct CertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs",
        abstract: "Generate a CA and a serving certificate for the webhook (no openssl needed).",
        discussion: """
            Writes ca.crt, ca.key, tls.crt and tls.key (the names of a Kubernetes TLS Secret) into \
            --out; keys are mode 0600. When ca.crt and ca.key already exist there, the CA is kept and \
            only a new serving certificate is issued, so the webhook's caBundle stays valid (a running \
            webhook picks the new certificate up by itself). Prints the base64 caBundle.

            Example:
              sharedlb certs --out certs --dns webhook.example.com --ip 127.0.0.1
              kubectl -n sharedlb-system create secret tls sharedlb-webhook-tls \\
                --cert certs/tls.crt --key certs/tls.key
            """
    )

    @Option(help: "Directory to write the PEM files into.")
    var out = "certs"

    @Option(
        name: .customLong("dns"),
        help: "DNS name for the serving certificate (repeatable). Default: the in-cluster Service names and localhost.")
    var dnsNames: [String] = []

    @Option(name: .customLong("ip"), help: "IP address for the serving certificate (repeatable). Default: 127.0.0.1.")
    var ipAddresses: [String] = []

    @Option(help: "Validity of the serving certificate, in days.")
    var days = 365

    @Flag(help: "Create a new CA even if one exists in --out (the webhook's caBundle must then be updated).")
    var newCA = false

    func validate() throws {
        guard days > 0 else { throw ValidationError("--days must be positive") }
    }

    func run() throws {
        let useDefaults = dnsNames.isEmpty && ipAddresses.isEmpty
        let request = ServingCertificateRequest(
            dnsNames: useDefaults ? ServingCertificateRequest.defaultDNSNames : dnsNames,
            ipAddresses: useDefaults ? ServingCertificateRequest.defaultIPAddresses : ipAddresses,
            validity: .seconds(days * 24 * 3600)
        )
        let directory = URL(filePath: out, directoryHint: .isDirectory)
        let (bundle, reused) = try issueCertificates(request, in: directory, newCA: newCA)
        try bundle.write(to: directory)
        let names = (request.dnsNames + request.ipAddresses).joined(separator: ", ")
        print(
            "\(reused ? "kept the CA in" : "wrote a new CA to") \(out)/ca.crt; serving certificate \(out)/tls.crt for \(names)"
        )
        print("caBundle: \(bundle.caBundle)")
    }
}

/// Issues a serving certificate, reusing the CA in `directory` when there is one.
func issueCertificates(
    _ request: ServingCertificateRequest, in directory: URL, newCA: Bool = false
) throws -> (bundle: CertificateBundle, reusedCA: Bool) {
    let caCertificate = directory.appending(path: CertificateBundle.FileName.caCertificate)
    let caKey = directory.appending(path: CertificateBundle.FileName.caKey)
    if !newCA, let certificatePEM = try? String(contentsOf: caCertificate, encoding: .utf8),
        let keyPEM = try? String(contentsOf: caKey, encoding: .utf8)
    {
        let authority = try CertificateAuthority(certificatePEM: certificatePEM, keyPEM: keyPEM)
        return (try authority.issue(request), true)
    }
    return (try CertificateAuthority.generate().issue(request), false)
}
