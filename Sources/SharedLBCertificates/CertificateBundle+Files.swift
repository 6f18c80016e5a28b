public import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

extension CertificateBundle {
    /// The file names of a Kubernetes TLS Secret (`tls.crt`, `tls.key`) plus the CA's.
    public enum FileName {
        public static let caCertificate = "ca.crt"
        public static let caKey = "ca.key"
        public static let certificate = "tls.crt"
        public static let key = "tls.key"
    }

    /// Writes the four PEM files into `directory` (created if missing); keys are mode 0600.
    ///
    /// Each file is written to a temporary name and renamed, so a reader (the webhook's
    /// certificate reloader) never sees a half-written file. The key is renamed into
    /// place before the certificate, whose change is what the reloader notices.
    public func write(to directory: URL) throws {
        let manager = FileManager.default
        do {
            try manager.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw CertificateError.write(directory.path, "\(error)")
        }
        let files: [(String, String, Int)] = [
            (FileName.caKey, caKeyPEM, 0o600),
            (FileName.caCertificate, caCertificatePEM, 0o644),
            (FileName.key, keyPEM, 0o600),
            (FileName.certificate, certificatePEM, 0o644),
        ]
        for (name, contents, mode) in files {
            let target = directory.appending(path: name)
            let temporary = directory.appending(path: ".\(name).tmp")
            do {
                _ = manager.createFile(atPath: temporary.path, contents: nil, attributes: [.posixPermissions: mode])
                try Data(contents.utf8).write(to: temporary)
                try manager.setAttributes([.posixPermissions: mode], ofItemAtPath: temporary.path)
                // rename(2) replaces the target atomically.
                guard rename(temporary.path, target.path) == 0 else {
                    throw CertificateError.write(target.path, String(cString: strerror(errno)))
                }
            } catch {
                try? manager.removeItem(at: temporary)
                throw CertificateError.write(target.path, "\(error)")
            }
        }
    }
}
