import Crypto
import Foundation
import SwiftASN1
import X509

/// The certificates and keys a control plane needs, minted at run time with swift-certificates:
/// one CA for serving and client certificates, a front-proxy CA (the controller manager reads
/// it from the API server), and the service-account signing key.
struct ControlPlanePKI: Sendable {
    /// A certificate and its key, PEM.
    struct Pair: Sendable {
        var certificatePEM: String
        var keyPEM: String
    }

    var caCertificatePEM: String
    var serving: Pair
    var frontProxyCACertificatePEM: String
    var frontProxyClient: Pair
    var serviceAccountKeyPEM: String
    var serviceAccountPublicKeyPEM: String
    let issuer: Issuer

    /// A CA and what it signed.
    struct Issuer: Sendable {
        let certificate: Certificate
        let key: P256.Signing.PrivateKey

        static func generate(_ commonName: String) throws -> Issuer {
            let key = P256.Signing.PrivateKey()
            let name = try DistinguishedName { CommonName(commonName) }
            let now = Date()
            let certificate = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(),
                publicKey: Certificate.PublicKey(key.publicKey),
                notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(7 * 24 * 3600),
                issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                    Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
                    SubjectKeyIdentifier(hash: Certificate.PublicKey(key.publicKey))
                },
                issuerPrivateKey: Certificate.PrivateKey(key))
            return Issuer(certificate: certificate, key: key)
        }

        var certificatePEM: String {
            get throws { try certificate.serializeAsPEM().pemString + "\n" }
        }

        /// A leaf certificate: a client one (`organization` becomes the user's group) or, with
        /// names, a serving one.
        func issue(
            commonName: String, organization: String? = nil, dnsNames: [String] = [], ipAddresses: [[UInt8]] = []
        ) throws -> Pair {
            let key = P256.Signing.PrivateKey()
            let serving = !dnsNames.isEmpty || !ipAddresses.isEmpty
            let subject = try DistinguishedName {
                if let organization { OrganizationName(organization) }
                CommonName(commonName)
            }
            let names: [GeneralName] =
                dnsNames.map { .dnsName($0) }
                + ipAddresses.map { .ipAddress(ASN1OctetString(contentBytes: $0[...])) }
            let now = Date()
            let leaf = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(),
                publicKey: Certificate.PublicKey(key.publicKey),
                notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(7 * 24 * 3600),
                issuer: certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(KeyUsage(digitalSignature: true))
                    try ExtendedKeyUsage(serving ? [.serverAuth, .clientAuth] : [.clientAuth])
                    if serving { SubjectAlternativeNames(names) }
                    AuthorityKeyIdentifier(
                        keyIdentifier: try certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
                },
                issuerPrivateKey: Certificate.PrivateKey(self.key))
            return Pair(
                certificatePEM: try leaf.serializeAsPEM().pemString + "\n", keyPEM: key.pemRepresentation + "\n")
        }
    }

    static func generate() throws -> ControlPlanePKI {
        let ca = try Issuer.generate("envtest-ca")
        let frontProxy = try Issuer.generate("envtest-front-proxy-ca")
        let serviceAccount = P256.Signing.PrivateKey()
        return ControlPlanePKI(
            caCertificatePEM: try ca.certificatePEM,
            serving: try ca.issue(
                commonName: "kube-apiserver",
                dnsNames: ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"],
                ipAddresses: [[127, 0, 0, 1], [10, 96, 0, 1]]),
            frontProxyCACertificatePEM: try frontProxy.certificatePEM,
            frontProxyClient: try frontProxy.issue(commonName: "front-proxy-client"),
            serviceAccountKeyPEM: serviceAccount.pemRepresentation + "\n",
            serviceAccountPublicKeyPEM: serviceAccount.publicKey.pemRepresentation + "\n",
            issuer: ca)
    }

    /// A client certificate of this control plane's CA.
    func client(user: String, group: String? = nil) throws -> Pair {
        try issuer.issue(commonName: user, organization: group)
    }
}
