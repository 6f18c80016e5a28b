public import SharedLBCore
import Synchronization
import Yams

/// One REST request, independent of the HTTP server that carried it.
public struct APIRequest: Sendable {
    public var method: String
    public var path: String
    public var query: [String: String]
    public var contentType: String?
    public var bearerToken: String?
    public var userAgent: String?
    public var body: [UInt8]

    public init(
        method: String, path: String, query: [String: String] = [:], contentType: String? = nil,
        bearerToken: String? = nil, userAgent: String? = nil, body: [UInt8] = []
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.contentType = contentType
        self.bearerToken = bearerToken
        self.userAgent = userAgent
        self.body = body
    }

    /// Who owns the fields this request writes: `?fieldManager=`, else the User-Agent up to
    /// its first `/` (kube-apiserver's `managerOrUserAgent`).
    var fieldManager: String {
        if let manager = query["fieldManager"], !manager.isEmpty { return manager }
        return String(
            (userAgent ?? "").split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
    }
}

/// The answer: a JSON document, or a watch stream of NDJSON lines.
public struct APIResponse: Sendable {
    public enum Body: Sendable {
        case json(JSONValue)
        case watch(WatchStream)
    }

    public var code: Int
    public var headers: [(String, String)]
    public var body: Body

    static func status(_ status: APIStatus) -> APIResponse {
        var headers: [(String, String)] = []
        if let retryAfter = status.retryAfterSeconds { headers.append(("Retry-After", String(retryAfter))) }
        return APIResponse(code: status.code, headers: headers, body: .json(status.json))
    }
}
