/// Errors from issuing or writing certificates.
public struct CertificateError: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Code: Equatable, Sendable {
        case keyMismatch
        case noNames
        case invalidIPAddress(String)
        case write(String, String)
    }

    private let code: Code

    static let keyMismatch = CertificateError(code: .keyMismatch)
    static let noNames = CertificateError(code: .noNames)
    static func invalidIPAddress(_ address: String) -> CertificateError { .init(code: .invalidIPAddress(address)) }
    static func write(_ path: String, _ reason: String) -> CertificateError { .init(code: .write(path, reason)) }

    public var description: String {
        switch code {
        case .keyMismatch: "the CA key does not belong to the CA certificate"
        case .noNames: "a serving certificate needs at least one --dns or --ip name"
        case .invalidIPAddress(let address): "\"\(address)\" is not an IPv4 or IPv6 address"
        case .write(let path, let reason): "cannot write \(path): \(reason)"
        }
    }
}
