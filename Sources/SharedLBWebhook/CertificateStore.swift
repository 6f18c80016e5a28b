public import NIOSSL
import Synchronization
import SystemPackage

/// The serving certificate in use, swapped atomically when its files change.
///
/// TLS handshakes read it from a synchronous NIOSSL callback, so it lives behind a
/// `Mutex`, not an actor. Connections already established keep the certificate they
/// negotiated; every new handshake gets the newest good one.
public final class CertificateStore: Sendable {
    /// A loaded certificate chain and its key, validated as a pair.
    public struct Loaded: Sendable {
        public var chain: [NIOSSLCertificate]
        public var key: NIOSSLPrivateKey
        /// The leaf's notAfter, in seconds since 1970.
        public var notValidAfter: Int
        fileprivate var fingerprint: [UInt8]
    }

    /// What one look at the files found.
    public enum ReloadOutcome: Sendable, Equatable {
        case unchanged
        case loaded
        /// The files are missing, half-written or do not match; the last good certificate stays.
        case failed(String)
    }

    public let certificatePath: String
    public let keyPath: String
    private let state = Mutex<Loaded?>(nil)
    /// The bytes of the last attempt, so a bad file is reported once, not on every poll.
    private let lastAttempt = Mutex<[UInt8]?>(nil)

    public init(certificatePath: String, keyPath: String) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
    }

    public var current: Loaded? {
        state.withLock { $0 }
    }

    /// Reads both files and swaps in the pair if it changed and is valid.
    public func reload() -> ReloadOutcome {
        let certificateBytes: [UInt8]
        let keyBytes: [UInt8]
        do {
            certificateBytes = try Self.read(certificatePath)
            keyBytes = try Self.read(keyPath)
        } catch {
            let message = "cannot read certificate files: \(error)"
            let marker = [UInt8](repeating: 0xFF, count: 1) + Array(message.utf8)
            if lastAttempt.withLock({ $0 == marker }) { return .unchanged }
            return remember(marker, outcome: .failed(message))
        }
        let fingerprint = certificateBytes + [0] + keyBytes
        if state.withLock({ $0?.fingerprint == fingerprint }) {
            return .unchanged
        }
        if lastAttempt.withLock({ $0 == fingerprint }) {
            // Already reported as bad; do not count the same bad files again.
            return .unchanged
        }
        do {
            let chain = try NIOSSLCertificate.fromPEMBytes(certificateBytes)
            guard let leaf = chain.first else {
                return remember(fingerprint, outcome: .failed("\(certificatePath) holds no PEM certificate"))
            }
            let key = try NIOSSLPrivateKey(bytes: keyBytes, format: .pem)
            // Building a context checks that the key belongs to the certificate.
            _ = try NIOSSLContext(
                configuration: .makeServerConfiguration(
                    certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key)))
            let loaded = Loaded(
                chain: chain, key: key, notValidAfter: Int(leaf.notValidAfter), fingerprint: fingerprint)
            state.withLock { $0 = loaded }
            return remember(fingerprint, outcome: .loaded)
        } catch {
            return remember(
                fingerprint, outcome: .failed("invalid certificate or key (\(certificatePath), \(keyPath)): \(error)"))
        }
    }

    /// A certificate or key file, read whole. Certificates are a few KiB; a file over 1 MiB
    /// (the most a Secret holds) is refused: reading stops once past the limit.
    private static func read(_ path: String) throws(ReadError) -> [UInt8] {
        let limit = 1 << 20
        do {
            let file = try FileDescriptor.open(FilePath(path), .readOnly, options: .closeOnExec)
            return try file.closeAfter {
                var bytes: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: 16 * 1024)
                while true {
                    let count = try chunk.withUnsafeMutableBytes { try file.read(into: $0) }
                    if count == 0 { return bytes }
                    bytes += chunk[..<count]
                    if bytes.count > limit { throw ReadError(path: path, reason: "larger than 1 MiB") }
                }
            }
        } catch let error as ReadError {
            throw error
        } catch {
            throw ReadError(path: path, reason: "\(error)")
        }
    }

    private struct ReadError: Error, CustomStringConvertible {
        var path: String
        var reason: String
        var description: String { "\(path): \(reason)" }
    }

    private func remember(_ fingerprint: [UInt8], outcome: ReloadOutcome) -> ReloadOutcome {
        lastAttempt.withLock { $0 = fingerprint }
        return outcome
    }

    /// A server TLS configuration (TLS 1.2 and 1.3) whose every handshake uses the
    /// current certificate through NIOSSL's context callback.
    ///
    /// - Parameter applicationProtocols: ALPN protocols to offer (`http/1.1`, and `h2` when enabled).
    public func tlsConfiguration(initial: Loaded, applicationProtocols: [String]) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: initial.chain.map { .certificate($0) },
            privateKey: .privateKey(initial.key)
        )
        configuration.minimumTLSVersion = .tlsv12
        configuration.maximumTLSVersion = .tlsv13
        configuration.applicationProtocols = applicationProtocols
        // When the server closes a connection (graceful shutdown, idle timeout) it sends
        // close_notify and waits for the peer's; a peer that never answers must not hold
        // shutdown for NIOSSL's default 5 s. The response bytes are flushed before this.
        configuration.shutdownTimeout = .seconds(1)
        configuration.sslContextCallback = { [self] _, promise in
            guard let loaded = self.current else {
                promise.fail(NIOSSLError.noCertificateToValidate)
                return
            }
            var override = NIOSSLContextConfigurationOverride()
            override.certificateChain = loaded.chain.map { .certificate($0) }
            override.privateKey = .privateKey(loaded.key)
            promise.succeed(override)
        }
        return configuration
    }
}
