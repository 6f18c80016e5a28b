import AsyncHTTPClient
import Foundation
import NIOCore
import SharedLBCore
import SharedLBEnvtest
import SharedLBKubernetes
import Synchronization
import Testing

/// The in-repo API server against Kubernetes itself: the same scripted requests go to the mock
/// and to each real control plane, and their answers (status code, error message, stored object)
/// are compared. The mock stands for v1.24: every difference from v1.24 is either fixed or listed
/// in ``mockDifferences`` with its reason (and in the README); what changed between real versions
/// is listed in ``versionDifferences``. Both lists must stay exact: a difference that goes away
/// fails the test too, so the lists never claim what is no longer true.
@Suite("Differential: the in-repo API server answers as kube-apiserver does")
struct DifferentialTests {
    /// One request of the script.
    struct Step: Sendable {
        var name: String
        var method: String
        var path: String
        var body: String?
        var contentType = "application/json"
    }

    /// Steps where the mock knowingly differs from v1.24, and why.
    static let mockDifferences: [String: String] = [:]

    /// Steps where v1.34 answers differently from v1.24 (the mock follows v1.24).
    static let versionDifferences: [String: String] = [
        "LoadBalancer on port 10250": "accepted from v1.33 (kubernetes/kubernetes#129174)",
        "LoadBalancer with TCP and UDP": "accepted from v1.26 (MixedProtocolLBService GA)",
        "ClusterIP with externalTrafficPolicy":
            "the same refusal, worded \"may only be set for externally-accessible services\"",
        "LoadBalancer with a bad source range":
            "the same refusal, per entry: \"spec.LoadBalancerSourceRanges[0]: ... must be a valid CIDR value\"",
        "status ingress on a ClusterIP Service": "refused from v1.29 (422, status.loadBalancer.ingress: Forbidden)",
    ]

    static let namespace = "diff"
    static let services = "/api/v1/namespaces/diff/services"
    static let configMaps = "/api/v1/namespaces/diff/configmaps"
    static let slices = "/apis/discovery.k8s.io/v1/namespaces/diff/endpointslices"
    static let events = "/apis/events.k8s.io/v1/namespaces/diff/events"
    static let leases = "/apis/coordination.k8s.io/v1/namespaces/diff/leases"

    static func service(_ name: String, type: String = "ClusterIP", spec: String = "", annotations: String = "{}")
        -> String
    {
        #"{"apiVersion":"v1","kind":"Service","metadata":{"name":"\#(name)","annotations":\#(annotations)},"spec":{"type":"\#(type)","selector":{"app":"x"},"ports":[{"name":"a","port":80}]\#(spec)}}"#
    }

    static let script: [Step] = [
        Step(
            name: "create namespace", method: "POST", path: "/api/v1/namespaces",
            body: #"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"diff"}}"#),
        Step(name: "create ClusterIP", method: "POST", path: services, body: service("plain")),
        Step(name: "create LoadBalancer", method: "POST", path: services, body: service("lb", type: "LoadBalancer")),
        Step(name: "create duplicate", method: "POST", path: services, body: service("plain")),
        Step(name: "get missing", method: "GET", path: services + "/missing"),
        Step(
            name: "LoadBalancer on port 10250", method: "POST", path: services,
            body: service("kubelet", type: "LoadBalancer").replacingOccurrences(
                of: #""port":80"#, with: #""port":10250"#)),
        Step(
            name: "headless LoadBalancer", method: "POST", path: services,
            body: service("headless", type: "LoadBalancer", spec: #","clusterIP":"None""#)),
        Step(
            name: "LoadBalancer with a bad source range", method: "POST", path: services,
            body: service("badrange", type: "LoadBalancer", spec: #","loadBalancerSourceRanges":["10.0.0.0/33"]"#)),
        Step(
            name: "ClusterIP with the source-ranges annotation", method: "POST", path: services,
            body: service(
                "rangeannotation",
                annotations: #"{"service.beta.kubernetes.io/load-balancer-source-ranges":"10.0.0.0/8"}"#)),
        Step(
            name: "LoadBalancer with externalTrafficPolicy Foo", method: "POST", path: services,
            body: service("etp", type: "LoadBalancer", spec: #","externalTrafficPolicy":"Foo""#)),
        Step(
            name: "ClusterIP with a nodePort", method: "POST", path: services,
            body: service("nodeport").replacingOccurrences(of: #""port":80"#, with: #""port":80,"nodePort":30080"#)),
        Step(
            name: "ClusterIP with externalTrafficPolicy", method: "POST", path: services,
            body: service("etpcluster", spec: #","externalTrafficPolicy":"Cluster""#)),
        Step(
            name: "LoadBalancer with TCP and UDP", method: "POST", path: services,
            body: service("mixed", type: "LoadBalancer").replacingOccurrences(
                of: #"[{"name":"a","port":80}]"#,
                with: #"[{"name":"a","port":53,"protocol":"TCP"},{"name":"b","port":53,"protocol":"UDP"}]"#)),
        Step(name: "invalid name", method: "POST", path: services, body: service("Bad_Name")),
        Step(
            name: "merge patch of labels", method: "PATCH", path: services + "/plain",
            body: #"{"metadata":{"labels":{"team":"a"}}}"#, contentType: "application/merge-patch+json"),
        Step(
            name: "JSON patch removing a missing key", method: "PATCH", path: services + "/plain",
            body: #"[{"op":"remove","path":"/metadata/annotations/missing"}]"#,
            contentType: "application/json-patch+json"),
        Step(
            name: "LoadBalancer back to ClusterIP", method: "PATCH", path: services + "/lb",
            body: #"{"spec":{"type":"ClusterIP"}}"#, contentType: "application/merge-patch+json"),
        Step(name: "create ClusterIP for status", method: "POST", path: services, body: service("statusprobe")),
        Step(
            name: "status ingress on a ClusterIP Service", method: "PATCH", path: services + "/statusprobe/status",
            body: #"{"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.9"}]}}}"#,
            contentType: "application/merge-patch+json"),
        Step(
            name: "create ConfigMap", method: "POST", path: configMaps,
            body: #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ledger"},"data":{"a":"1"}}"#),
        Step(
            name: "update ConfigMap with a stale resourceVersion", method: "PUT", path: configMaps + "/ledger",
            body:
                #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ledger","resourceVersion":"1"},"data":{"a":"2"}}"#
        ),
        Step(
            name: "delete ConfigMap with a wrong uid", method: "DELETE", path: configMaps + "/ledger",
            body:
                #"{"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"uid":"00000000-0000-0000-0000-000000000000"}}"#
        ),
        Step(
            name: "delete ConfigMap with a stale resourceVersion", method: "DELETE", path: configMaps + "/ledger",
            body: #"{"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"resourceVersion":"1"}}"#),
        Step(
            name: "watch ConfigMaps from any version", method: "GET",
            path: configMaps + "?watch=true&resourceVersion=0&timeoutSeconds=1"),
        Step(
            name: "create EndpointSlice", method: "POST", path: slices,
            body:
                #"{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"mirror","labels":{"kubernetes.io/service-name":"plain","endpointslice.kubernetes.io/managed-by":"allocator.sharedlb.io"}},"addressType":"IPv4","endpoints":[{"addresses":["10.244.1.5"],"conditions":{"ready":true}}],"ports":[{"name":"tcp-80","protocol":"TCP","port":8080}]}"#
        ),
        Step(
            name: "EndpointSlice with a bad address type", method: "POST", path: slices,
            body:
                #"{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"bad"},"addressType":"IPv5","endpoints":[]}"#
        ),
        Step(
            name: "create Event", method: "POST", path: events,
            body:
                #"{"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"plain.1"},"eventTime":"2026-12-04T10:00:00.000000Z","reportingController":"allocator.sharedlb.io","reportingInstance":"allocator-0","action":"Allocate","reason":"Allocated","regarding":{"kind":"Service","namespace":"diff","name":"plain"},"note":"reachable","type":"Normal"}"#
        ),
        Step(
            name: "Event without reportingController", method: "POST", path: events,
            body:
                #"{"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"plain.2"},"eventTime":"2026-12-04T10:00:00.000000Z","action":"Allocate","reason":"Allocated","regarding":{"kind":"Service","namespace":"diff","name":"plain"},"note":"reachable","type":"Normal"}"#
        ),
        Step(
            name: "create Lease", method: "POST", path: leases,
            body:
                #"{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"sharedlb-allocator"},"spec":{"holderIdentity":"allocator-0","leaseDurationSeconds":15,"acquireTime":"2026-12-04T10:00:00.000000Z","renewTime":"2026-12-04T10:00:00.000000Z","leaseTransitions":0}}"#
        ),
        Step(name: "list Services by label", method: "GET", path: services + "?labelSelector=team%3Da"),
        Step(name: "delete Service", method: "DELETE", path: services + "/plain"),
        Step(name: "delete missing Service", method: "DELETE", path: services + "/plain"),
    ]

    /// A step's answer: the code, and the message (errors) or the normalised object.
    struct Answer: Equatable, CustomStringConvertible {
        var code: Int
        var content: String
        var description: String { "\(code) \(content)" }
    }

    /// Runs the script against one API server (already reachable through `client`'s settings).
    static func answers(_ configuration: ClientConfiguration) async throws -> [String: Answer] {
        var tls = try configuration.tlsConfiguration()
        tls.applicationProtocols = ["http/1.1"]
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        defer { _ = http.shutdown() }
        var result: [String: Answer] = [:]
        for step in script {
            var request = HTTPClientRequest(url: configuration.server + step.path)
            request.method = .init(rawValue: step.method)
            request.headers.add(name: "Accept", value: "application/json")
            if case .token(let token) = configuration.credentials {
                request.headers.add(name: "Authorization", value: "Bearer \(token)")
            }
            if let body = step.body {
                request.headers.add(name: "Content-Type", value: step.contentType)
                request.body = .bytes(ByteBuffer(string: body))
            }
            let response = try await http.execute(request, timeout: .seconds(30))
            let bytes = try await response.body.collect(upTo: 1 << 22)
            let code = Int(response.status.code)
            // One document, or a watch's one per line.
            let lines = String(buffer: bytes).split(separator: "\n").map { try? JSONParser.parse(Array($0.utf8)) }
            let content: String
            if lines.count == 1, let document = lines[0], document["kind"]?.stringValue == "Status" {
                content = normalizeMessage(document["message"]?.stringValue ?? "")
            } else if !lines.isEmpty, lines.allSatisfy({ $0 != nil }) {
                content = lines.map { JSONWriter.encode(normalize($0!), sortedKeys: true) }.joined(separator: "\n")
            } else {
                content = String(buffer: bytes)
            }
            result[step.name] = Answer(code: code, content: content)
        }
        return result
    }

    /// Messages name uids and allocated node ports: those differ by nature.
    static func normalizeMessage(_ message: String) -> String {
        message.replacing(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/, with: "<uid>")
            .replacing(/NodePort:[0-9]+/, with: "NodePort:<allocated>")
            .replacing(/ResourceVersion in record \([0-9]+\)/, with: "ResourceVersion in record (<rv>)")
    }

    /// Leaves out what differs between any two servers by nature: identities, times, versions,
    /// allocated addresses and ports, and managedFields' bookkeeping.
    static func normalize(_ value: JSONValue) -> JSONValue {
        guard case .object(var object) = value else {
            if case .array(let items) = value { return .array(items.map(normalize)) }
            return value
        }
        for key in ["uid", "resourceVersion", "creationTimestamp", "managedFields", "selfLink", "deletionTimestamp"] {
            object[key] = nil
        }
        for key in ["clusterIP", "nodePort"] where object[key] != nil { object[key] = .string("<allocated>") }
        if object["clusterIPs"] != nil { object["clusterIPs"] = .array([.string("<allocated>")]) }
        if case .object(var metadata)? = object["metadata"], metadata["continue"] != nil {
            metadata["continue"] = .string("<token>")
            object["metadata"] = .object(metadata)
        }
        for member in object.members { object[member.key] = normalize(member.value) }
        return .object(object)
    }

    @Test(
        "the same scripted requests to the mock and to each real version: codes, messages and stored objects agree",
        .enabled(if: KubeAssets.versions.contains { $0.minor == 24 }, "needs the v1.24 control plane"))
    func agree() async throws {
        let collected = Mutex<[String: [String: Answer]]>([:])
        try await TestEnvironment.run(on: .mock) { environment in
            let answers = try await Self.answers(environment.client.configuration)
            collected.withLock { $0["mock"] = answers }
        }
        for version in KubeAssets.versions {
            try await ControlPlane.run(version, options: .init(controllerManager: false)) { plane in
                let answers = try await Self.answers(plane.client.configuration)
                collected.withLock { $0[version.name] = answers }
            }
        }
        let answers = collected.withLock { $0 }
        let reference = try #require(KubeAssets.versions.first { $0.minor == 24 }).name
        func differences(_ server: String) -> [String: String] {
            var result: [String: String] = [:]
            for step in Self.script where answers[server]?[step.name] != answers[reference]?[step.name] {
                result[step.name] =
                    "\(server): \(answers[server]?[step.name]?.description ?? "-")\n\(reference): \(answers[reference]?[step.name]?.description ?? "-")"
            }
            return result
        }
        let mock = differences("mock")
        #expect(
            Set(mock.keys) == Set(Self.mockDifferences.keys),
            "the mock differs from \(reference):\n\(mock.sorted { $0.key < $1.key }.map { "\($0.key)\n\($0.value)" }.joined(separator: "\n\n"))"
        )
        for version in KubeAssets.versions where version.name != reference {
            let changed = differences(version.name)
            #expect(
                Set(changed.keys) == Set(Self.versionDifferences.keys),
                "\(version.name) differs from \(reference):\n\(changed.sorted { $0.key < $1.key }.map { "\($0.key)\n\($0.value)" }.joined(separator: "\n\n"))"
            )
        }
    }
}
