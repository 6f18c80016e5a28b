import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SharedLBCore

/// Sending one request: retries with backoff, the write fence, timeouts, and the body codec.
extension KubernetesClient {
    /// One request with retries; returns the body of a 2xx answer.
    func send(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: [UInt8]? = nil,
        contentType: String? = "application/json", idempotent: Bool
    ) async throws(KubernetesError) -> [UInt8] {
        var attempt = 1
        while true {
            do {
                return try await sendOnce(method, path, query: query, body: body, contentType: contentType)
            } catch let failure {
                let retry = failure.kind == .tooManyRequests || (idempotent && failure.isRetryable)
                guard retry, attempt < retryPolicy.attempts else { throw failure }
                do {
                    try await Task.sleep(
                        for: retryPolicy.delay(attempt: attempt, retryAfterSeconds: failure.retryAfterSeconds))
                } catch {
                    // Cancelled while waiting to retry: the last answer is the error.
                    throw failure
                }
                attempt += 1
            }
        }
    }

    func sendOnce(
        _ method: HTTPMethod, _ path: String, query: [(String, String)], body: [UInt8]?, contentType: String?
    ) async throws(KubernetesError) -> [UInt8] {
        var timeout = method == .GET ? requestTimeout : writeTimeout
        if method != .GET, let fence {
            let left = fence().map { $0 - ContinuousClock.now } ?? .zero
            guard left > .zero else {
                throw KubernetesError(
                    kind: .fenced, code: 0, message: "\(method) \(path) not sent: this writer is no longer the leader")
            }
            timeout = min(timeout, left)
        }
        var request = HTTPClientRequest(url: configuration.server + path + Self.queryString(query))
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: userAgent)
        if let token = try configuration.bearerToken() {
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType ?? "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await http.execute(request, timeout: timeout.timeAmount)
            bytes = try await response.body.collect(upTo: 64 << 20)
        } catch {
            throw KubernetesError(kind: .transport, code: 0, message: "\(method) \(path): \(error)")
        }
        let code = Int(response.status.code)
        guard (200..<300).contains(code) else {
            throw KubernetesError.fromResponse(
                code: code, body: Array(bytes.readableBytesView),
                retryAfterHeader: response.headers.first(name: "Retry-After"))
        }
        return Array(bytes.readableBytesView)
    }

    static func queryString(_ query: [(String, String)]) -> String {
        guard !query.isEmpty else { return "" }
        return "?" + query.map { "\(percentEncode($0.0))=\(percentEncode($0.1))" }.joined(separator: "&")
    }

    static func percentEncode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    func decode<T: Decodable>(_ bytes: [UInt8]) throws(KubernetesError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch {
            throw KubernetesError(kind: .decoding, code: 0, message: "cannot decode \(T.self): \(error)")
        }
    }

    func encode<T: Encodable>(_ value: T) throws(KubernetesError) -> [UInt8] {
        do {
            return Array(try JSONEncoder().encode(value))
        } catch {
            throw KubernetesError(kind: .decoding, code: 0, message: "cannot encode \(T.self): \(error)")
        }
    }
}

extension Duration {
    /// The same span as NIO's `TimeAmount` (nanosecond precision).
    var timeAmount: TimeAmount {
        .nanoseconds(components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000)
    }
}
