import AsyncHTTPClient
import Foundation
import NIOCore
public import SharedLBCore

/// One event of a watch, typed.
public struct WatchEvent<Object: KubernetesObject>: Sendable {
    public enum EventType: String, Sendable {
        case added = "ADDED"
        case modified = "MODIFIED"
        case deleted = "DELETED"
        /// Only `metadata.resourceVersion` is meaningful: progress without a change.
        case bookmark = "BOOKMARK"
    }

    public var type: EventType
    public var object: Object
}

/// A watch as an async sequence: connects on the first `next()`, yields events as lines
/// arrive (NDJSON, split across chunk boundaries), ends when the server closes the stream
/// (its `timeoutSeconds`), and throws ``KubernetesError`` with kind `.gone` for a 410,
/// whether as an HTTP status or as an in-stream `ERROR` event (fixture `17c`). A line longer
/// than `maximumEventBytes` ends the watch with a `.decoding` error instead of growing the
/// buffer without bound; each byte is scanned once, however the lines fall across chunks.
public struct WatchSequence<Object: KubernetesObject>: AsyncSequence {
    public typealias Element = WatchEvent<Object>

    let client: KubernetesClient
    let path: String
    let query: [(String, String)]
    let maximumEventBytes: Int

    public func makeAsyncIterator() -> Iterator {
        Iterator(client: client, path: path, query: query, maximumEventBytes: maximumEventBytes)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let client: KubernetesClient
        let path: String
        let query: [(String, String)]
        let maximumEventBytes: Int
        var body: HTTPClientResponse.Body.AsyncIterator?
        /// Received bytes; those before `start` are consumed, those before `scanned` hold no newline.
        var buffer: [UInt8] = []
        var start = 0
        var scanned = 0
        var finished = false

        init(client: KubernetesClient, path: String, query: [(String, String)], maximumEventBytes: Int) {
            self.client = client
            self.path = path
            self.query = query
            self.maximumEventBytes = maximumEventBytes
        }

        public mutating func next() async throws -> WatchEvent<Object>? {
            guard !finished else { return nil }
            if body == nil {
                body = try await client.openStream(path, query: query)
            }
            while true {
                let newline = buffer[scanned...].firstIndex(of: UInt8(ascii: "\n"))
                guard (newline ?? buffer.count) - start <= maximumEventBytes else {
                    finished = true
                    throw KubernetesError(
                        kind: .decoding, code: 0,
                        message: "watch \(path) sent an event of more than \(maximumEventBytes) bytes")
                }
                if let newline {
                    let line = buffer[start..<newline]
                    start = newline + 1
                    scanned = start
                    if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) { continue }
                    return try decode(Array(line))
                }
                scanned = buffer.count
                // Consumed bytes are dropped once they are most of the buffer: linear overall.
                if start > 0, start >= buffer.count / 2 {
                    buffer.removeSubrange(..<start)
                    scanned -= start
                    start = 0
                }
                let chunk: ByteBuffer?
                do {
                    chunk = try await body!.next()
                } catch {
                    finished = true
                    throw KubernetesError(kind: .transport, code: 0, message: "watch \(path) broke: \(error)")
                }
                guard let chunk else {
                    finished = true
                    return nil
                }
                buffer += chunk.readableBytesView
            }
        }

        /// Decodes an event in one pass: the object (or an `ERROR` event's Status) straight from
        /// the line's bytes.
        private mutating func decode(_ line: [UInt8]) throws -> WatchEvent<Object> {
            let envelope: Envelope
            do {
                envelope = try JSONDecoder().decode(Envelope.self, from: Data(line))
            } catch {
                finished = true
                guard (try? JSONParser.parse(line)) != nil else {
                    throw KubernetesError(
                        kind: .decoding, code: 0, message: "watch \(path) sent a line that is not JSON: \(error)")
                }
                throw KubernetesError(
                    kind: .decoding, code: 0, message: "watch \(path): cannot decode \(Object.self): \(error)")
            }
            if envelope.type == "ERROR" {
                // An ERROR event carries a Status, never the resource (410 Expired on a too-old resourceVersion).
                finished = true
                throw KubernetesError.fromStatus(
                    envelope.status, code: envelope.status?.code ?? 500, text: "watch \(path) ended with an ERROR event"
                )
            }
            guard let eventType = WatchEvent<Object>.EventType(rawValue: envelope.type), let object = envelope.object
            else {
                finished = true
                throw KubernetesError(
                    kind: .decoding, code: 0,
                    message: envelope.object == nil
                        ? "watch \(path) sent a \(envelope.type) event without an object"
                        : "watch \(path) sent an event of type \"\(envelope.type)\"")
            }
            return WatchEvent(type: eventType, object: object)
        }

        /// `{"type": ..., "object": ...}`: the object, or the `Status` of an `ERROR` event.
        struct Envelope: Decodable {
            var type: String
            var object: Object?
            var status: KubernetesError.Status?

            enum Keys: String, CodingKey { case type, object }

            init(from decoder: any Decoder) throws {
                let container = try decoder.container(keyedBy: Keys.self)
                type = try container.decode(String.self, forKey: .type)
                if type == "ERROR" {
                    // A Status that does not decode still ends the watch, as a 500.
                    status = try? container.decodeIfPresent(KubernetesError.Status.self, forKey: .object)
                } else {
                    object = try container.decodeIfPresent(Object.self, forKey: .object)
                }
            }
        }
    }
}

extension KubernetesClient {
    /// Watches from `resourceVersion` (a list's, or the last event's). The server ends the
    /// stream after `timeoutSeconds`; the client's read timeout is set above that.
    /// One event is at most `maximumEventBytes` (an object in etcd is at most ~1.5 MiB).
    public func watch<Object: KubernetesObject>(
        _ type: Object.Type, namespace: String?, labelSelector: String? = nil, resourceVersion: String?,
        timeoutSeconds: Int = 290, allowBookmarks: Bool = true, maximumEventBytes: Int = 16 << 20
    ) -> WatchSequence<Object> {
        var query: [(String, String)] = [("watch", "true"), ("timeoutSeconds", String(timeoutSeconds))]
        if let labelSelector { query.append(("labelSelector", labelSelector)) }
        if let resourceVersion { query.append(("resourceVersion", resourceVersion)) }
        if allowBookmarks { query.append(("allowWatchBookmarks", "true")) }
        return WatchSequence(
            client: self, path: Object.descriptor.path(namespace: namespace), query: query,
            maximumEventBytes: maximumEventBytes)
    }

    /// Sends a GET and returns the streaming body of a 200; any other answer is an error.
    func openStream(_ path: String, query: [(String, String)]) async throws(KubernetesError)
        -> HTTPClientResponse.Body.AsyncIterator
    {
        var request = HTTPClientRequest(url: configuration.server + path + Self.queryString(query))
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: userAgent)
        if let token = try configuration.bearerToken() {
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        let response: HTTPClientResponse
        do {
            // The deadline covers the response head only; the body may stream for minutes.
            response = try await http.execute(request, timeout: .seconds(30))
        } catch {
            throw KubernetesError(kind: .transport, code: 0, message: "watch \(path): \(error)")
        }
        guard response.status.code == 200 else {
            let body = (try? await response.body.collect(upTo: 1 << 20)).map { Array($0.readableBytesView) } ?? []
            throw KubernetesError.fromResponse(
                code: Int(response.status.code), body: body,
                retryAfterHeader: response.headers.first(name: "Retry-After"))
        }
        return response.body.makeAsyncIterator()
    }
}
