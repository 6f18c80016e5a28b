import Crypto
public import Foundation
import SwiftASN1
import X509

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// PEM files for a webhook: a CA (its certificate becomes the webhook's `caBundle`)
/// and a serving certificate and key signed by it.
public struct CertificateBundle: Sendable {
    public var caCertificatePEM: String
    public var caKeyPEM: String
    public var certificatePEM: String
    public var keyPEM: String

    /// The base64 of the CA certificate PEM: `clientConfig.caBundle` of a webhook configuration.
    public var caBundle: String {
        Data(caCertificatePEM.utf8).base64EncodedString()
    }
}

/// What a serving certificate is issued for.
public struct ServingCertificateRequest: Sendable {
    /// The in-cluster names of the webhook Service, plus what local development needs.
    public static let defaultDNSNames = [
        "sharedlb-webhook.sharedlb-system.svc",
        "sharedlb-webhook.sharedlb-system.svc.cluster.local",
        "localhost",
    ]
    public static let defaultIPAddresses = ["127.0.0.1"]

    public var dnsNames: [String]
    public var ipAddresses: [String]
    /// How long the serving certificate is valid.
    public var validity: Duration

    public init(
        dnsNames: [String] = Self.defaultDNSNames,
        ipAddresses: [String] = Self.defaultIPAddresses,
        validity: Duration = .seconds(365 * 24 * 3600)
    ) {
        self.dnsNames = dnsNames
        self.ipAddresses = ipAddresses
        self.validity = validity
    }
}

/// A certificate authority that issues serving certificates with swift-certificates (no openssl).
///
/// ```swift
/// let ca = try CertificateAuthority.generate(commonName: "sharedlb-webhook-ca")
/// let bundle = try ca.issue(ServingCertificateRequest(dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"]))
/// try bundle.write(to: URL(filePath: "certs"))
/// ```
public struct CertificateAuthority: Sendable {
    let certificate: Certificate
    private let key: P256.Signing.PrivateKey

    /// A new self-signed CA with an ECDSA P-256 key.
    public static func generate(
        commonName: String = "sharedlb-webhook-ca",
        validity: Duration = .seconds(10 * 365 * 24 * 3600),
        now: Date = Date()
    ) throws -> CertificateAuthority {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName(commonName) }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(key.publicKey),
            // Small clock skew between this machine and the API server must not break TLS.
            notValidBefore: now.addingTimeInterval(-300),
            notValidAfter: now.addingTimeInterval(validity.seconds),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: Certificate.PublicKey(key.publicKey))
            },
            issuerPrivateKey: Certificate.PrivateKey(key)
        )
        return CertificateAuthority(certificate: certificate, key: key)
    }

    /// Loads an existing CA (to issue a new serving certificate under the same `caBundle`).
    public init(certificatePEM: String, keyPEM: String) throws {
        let certificate = try Certificate(pemEncoded: certificatePEM)
        let key = try P256.Signing.PrivateKey(pemRepresentation: keyPEM)
        guard certificate.publicKey == Certificate.PublicKey(key.publicKey) else {
            throw CertificateError.keyMismatch
        }
        self.init(certificate: certificate, key: key)
    }

    /// The CA certificate in PEM form.
    public var certificatePEM: String {
        get throws { try certificate.serializeAsPEM().pemString + "\n" }
    }

    private init(certificate: Certificate, key: P256.Signing.PrivateKey) {
        self.certificate = certificate
        self.key = key
    }

    /// Issues a serving certificate for the request's names.
    public func issue(_ request: ServingCertificateRequest, now: Date = Date()) throws -> CertificateBundle {
        guard !request.dnsNames.isEmpty || !request.ipAddresses.isEmpty else { throw CertificateError.noNames }
        var names: [GeneralName] = request.dnsNames.map { .dnsName($0) }
        for address in request.ipAddresses {
            names.append(.ipAddress(ASN1OctetString(contentBytes: try Self.addressBytes(address)[...])))
        }
        let key = P256.Signing.PrivateKey()
        let commonName = request.dnsNames.first ?? request.ipAddresses[0]
        let subjectAlternativeNames = SubjectAlternativeNames(names)
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now.addingTimeInterval(-300),
            notValidAfter: now.addingTimeInterval(request.validity.seconds),
            issuer: self.certificate.subject,
            subject: try DistinguishedName { CommonName(commonName) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                subjectAlternativeNames
                AuthorityKeyIdentifier(
                    keyIdentifier: try self.certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
            },
            issuerPrivateKey: Certificate.PrivateKey(self.key)
        )
        return CertificateBundle(
            caCertificatePEM: try self.certificate.serializeAsPEM().pemString + "\n",
            caKeyPEM: self.key.pemRepresentation + "\n",
            certificatePEM: try certificate.serializeAsPEM().pemString + "\n",
            keyPEM: key.pemRepresentation + "\n"
        )
    }

    /// The 4 or 16 bytes of an IPv4 or IPv6 address, as a SAN `iPAddress` holds them.
    static func addressBytes(_ address: String) throws -> [UInt8] {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, address, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        throw CertificateError.invalidIPAddress(address)
    }
}

extension Duration {
    fileprivate var seconds: TimeInterval {
        TimeInterval(components.seconds) + TimeInterval(components.attoseconds) / 1e18
    }
}
