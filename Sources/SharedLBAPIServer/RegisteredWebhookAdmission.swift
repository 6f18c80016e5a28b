import Foundation
public import SharedLBCore
import SharedLBKubernetes
import Synchronization

/// Calls the mutating webhooks registered as MutatingWebhookConfiguration objects, the way
/// kube-apiserver does: rules, namespaceSelector and objectSelector (old OR new object)
/// decide who is called; an AdmissionReview v1 is POSTed to `clientConfig.url` with
/// `?timeout=Ns`, verified with `caBundle`; the answer is checked (uid, apiVersion, kind,
/// patchType); the JSON Patch is applied (a patch that does not apply always rejects);
/// an unreachable or broken webhook applies its `failurePolicy`. With
/// `reinvocationPolicy: IfNeeded` a webhook runs once more if a later one changed the object.
/// `matchConditions` are evaluated first (``MatchCondition``, the CEL subset they are written
/// in here): one false skips the webhook; an evaluation error skips it under `Ignore` and
/// rejects the request (403 Forbidden) under `Fail`, without calling it.
///
/// A `clientConfig.service` webhook is reached as kube-apiserver does with
/// `--enable-aggregator-routing`: the Service's port, then a ready endpoint of its
/// EndpointSlices (cluster IPs do not route here), over TLS with SNI and verification for
/// `<name>.<namespace>.svc`, the name kube-apiserver checks. One difference: NIOSSL also
/// accepts a certificate whose IP address SAN is the endpoint's address, where Go's TLS
/// checks only the name.
public final class RegisteredWebhookAdmission: MutatingAdmission {
    let store: ObjectStore
    private let clients = Mutex<[String: WebhookClient]>([:])

    public init(store: ObjectStore) {
        self.store = store
    }

    /// Closes the HTTP clients made for webhook calls.
    public func shutdown() async {
        let all = clients.withLock { clients in
            defer { clients.removeAll() }
            return Array(clients.values)
        }
        for client in all { try? await client.shutdown() }
    }

    struct Webhook {
        var name: String
        var url: String?
        var service: (namespace: String, name: String, port: Int, path: String)?
        var caBundlePEM: String?
        var failurePolicy: String
        var timeoutSeconds: Int
        var reinvocation: Bool
        var matchConditions: [(name: String, expression: String)]
    }

    public func admit(_ attributes: AdmissionAttributes) async throws(APIStatus) -> JSONValue {
        let webhooks = matching(attributes)
        var object = attributes.object
        var changedBy: [Int] = []
        for (index, webhook) in webhooks.enumerated() {
            guard try Self.conditionsMatch(webhook, attributes, object: object) else { continue }
            let result = try await call(webhook, attributes, object: object)
            if result != object { changedBy.append(index) }
            object = result
        }
        // Reinvocation: once, for IfNeeded webhooks that ran before a later change.
        if let lastChange = changedBy.last {
            for (index, webhook) in webhooks.enumerated() where index < lastChange && webhook.reinvocation {
                guard try Self.conditionsMatch(webhook, attributes, object: object) else { continue }
                object = try await call(webhook, attributes, object: object)
            }
        }
        return object
    }

    private func matching(_ attributes: AdmissionAttributes) -> [Webhook] {
        let configurations = (try? store.list(.mutatingWebhookConfigurations, namespace: nil).items) ?? []
        let namespaceLabels =
            attributes.kind.namespaced
            ? LabelSelector.labels(
                of: (try? store.get(.namespaces, namespace: "", name: attributes.namespace)) ?? .null) : [:]
        var result: [Webhook] = []
        // kube-apiserver calls configurations in name order, webhooks in list order.
        for configuration in configurations.sorted(by: {
            ($0["metadata"]?["name"]?.stringValue ?? "") < ($1["metadata"]?["name"]?.stringValue ?? "")
        }) {
            for webhook in configuration["webhooks"]?.arrayValue ?? [] {
                guard Self.rulesMatch(webhook["rules"], attributes) else { continue }
                if attributes.kind.namespaced,
                    !LabelSelector(json: webhook["namespaceSelector"]).matches(
                        namespaceLabels.merging(["kubernetes.io/metadata.name": attributes.namespace]) { $1 })
                {
                    continue
                }
                let objectSelector = LabelSelector(json: webhook["objectSelector"])
                let oldMatches = attributes.oldObject.map { objectSelector.matches(object: $0) } ?? false
                guard objectSelector.matches(object: attributes.object) || oldMatches else { continue }
                let caBundle = webhook["clientConfig"]?["caBundle"]?.stringValue.flatMap { Data(base64Encoded: $0) }
                result.append(
                    Webhook(
                        name: webhook["name"]?.stringValue ?? "",
                        url: webhook["clientConfig"]?["url"]?.stringValue,
                        service: webhook["clientConfig"]?["service"].map { service in
                            (
                                service["namespace"]?.stringValue ?? "", service["name"]?.stringValue ?? "",
                                service["port"].flatMap(ServiceStrategy.integer) ?? 443,
                                service["path"]?.stringValue ?? ""
                            )
                        },
                        caBundlePEM: caBundle.map { String(decoding: $0, as: UTF8.self) },
                        failurePolicy: webhook["failurePolicy"]?.stringValue ?? "Fail",
                        timeoutSeconds: webhook["timeoutSeconds"].flatMap(ServiceStrategy.integer) ?? 10,
                        reinvocation: webhook["reinvocationPolicy"]?.stringValue == "IfNeeded",
                        matchConditions: (webhook["matchConditions"]?.arrayValue ?? []).map {
                            ($0["name"]?.stringValue ?? "", $0["expression"]?.stringValue ?? "")
                        }))
            }
        }
        return result
    }

    /// Whether `webhook` is to be called: every match condition true. False wins over an
    /// error; an error alone skips the webhook under `Ignore` and rejects under `Fail`.
    static func conditionsMatch(_ webhook: Webhook, _ attributes: AdmissionAttributes, object: JSONValue)
        throws(APIStatus) -> Bool
    {
        let variables: [String: JSONValue] = [
            "object": object, "oldObject": attributes.oldObject ?? .null,
            "request": .object(
                JSONObject([
                    ("operation", .string(attributes.operation)), ("namespace", .string(attributes.namespace)),
                    ("name", .string(attributes.name ?? "")),
                ])),
        ]
        var failure: String?
        for condition in webhook.matchConditions {
            do {
                if try !MatchCondition(condition.expression).matches(variables) { return false }
            } catch {
                failure = failure ?? "match condition \"\(condition.name)\": \(error)"
            }
        }
        guard let failure else { return true }
        if webhook.failurePolicy == "Ignore" { return false }
        // kube-apiserver fails closed here with Forbidden, not with the 500 of an unreachable webhook.
        throw APIStatus.forbidden(
            attributes.kind.plural, attributes.name ?? "", "webhook \"\(webhook.name)\": failed to evaluate \(failure)")
    }

    /// `proxy.ResolveEndpoint`: the Service, its port, a ready endpoint for that port.
    private func resolve(_ service: (namespace: String, name: String, port: Int, path: String))
        throws(WebhookCallFailure) -> (host: String, address: String, port: Int)
    {
        guard let object = try? store.get(.services, namespace: service.namespace, name: service.name) else {
            throw WebhookCallFailure(reason: "services \"\(service.name)\" not found")
        }
        let type = object["spec"]?["type"]?.stringValue ?? "ClusterIP"
        guard ["ClusterIP", "LoadBalancer", "NodePort"].contains(type) else {
            throw WebhookCallFailure(reason: "unsupported service type \"\(type)\"")
        }
        guard
            let servicePort = object["spec"]?["ports"]?.arrayValue?.first(where: {
                $0["port"].flatMap(ServiceStrategy.integer) == service.port
            })
        else {
            throw WebhookCallFailure(reason: "no service port \(service.port) found for service \"\(service.name)\"")
        }
        let slices =
            (try? store.list(
                .endpointSlices, namespace: service.namespace,
                selector: LabelSelector(parsing: "kubernetes.io/service-name=\(service.name)")
            ).items) ?? []
        for slice in slices {
            guard
                let port = slice["ports"]?.arrayValue?.first(where: { $0["name"] == servicePort["name"] })?["port"]
                    .flatMap(ServiceStrategy.integer)
            else { continue }
            for endpoint in slice["endpoints"]?.arrayValue ?? [] where endpoint["conditions"]?["ready"] != .bool(false)
            {
                if let address = endpoint["addresses"]?.arrayValue?.first?.stringValue {
                    return ("\(service.name).\(service.namespace).svc", address, port)
                }
            }
        }
        throw WebhookCallFailure(reason: "no endpoints available for service \"\(service.name)\"")
    }

    static func rulesMatch(_ rules: JSONValue?, _ attributes: AdmissionAttributes) -> Bool {
        func has(_ rule: JSONValue, _ field: String, _ value: String) -> Bool {
            let values = (rule[field]?.arrayValue ?? []).compactMap(\.stringValue)
            return values.contains("*") || values.contains(value)
        }
        return (rules?.arrayValue ?? []).contains { rule in
            has(rule, "operations", attributes.operation) && has(rule, "apiGroups", attributes.kind.group)
                && has(rule, "apiVersions", attributes.kind.version) && has(rule, "resources", attributes.kind.plural)
        }
    }

    private func client(for caBundlePEM: String?, dnsOverride: [String: String] = [:]) throws(KubernetesError)
        -> WebhookClient
    {
        let key = (caBundlePEM ?? "") + dnsOverride.sorted { $0.key < $1.key }.map { "\u{0}\($0)=\($1)" }.joined()
        if let existing = clients.withLock({ $0[key] }) { return existing }
        let made = try WebhookClient(caBundlePEM: caBundlePEM, dnsOverride: dnsOverride)
        return clients.withLock { clients in
            if let existing = clients[key] { return existing }
            clients[key] = made
            return made
        }
    }

    private func call(_ webhook: Webhook, _ attributes: AdmissionAttributes, object: JSONValue) async throws(APIStatus)
        -> JSONValue
    {
        let uid = UUID().uuidString.lowercased()
        var current = attributes
        current.object = object
        let review = AdmissionReviewBuilder.review(current, uid: uid)
        let outcome: Result<JSONValue, WebhookCallFailure>
        do {
            var url = webhook.url ?? ""
            var dnsOverride: [String: String] = [:]
            if webhook.url == nil, let service = webhook.service {
                let (host, address, port) = try resolve(service)
                url = "https://\(host):\(port)\(service.path)"
                dnsOverride[host] = address
            }
            let separator = url.contains("?") ? "&" : "?"
            let answer = try await client(for: webhook.caBundlePEM, dnsOverride: dnsOverride).post(
                url: "\(url)\(separator)timeout=\(webhook.timeoutSeconds)s",
                body: Array(JSONWriter.encode(review).utf8),
                timeout: .seconds(webhook.timeoutSeconds))
            outcome = Self.interpret(answer, uid: uid)
        } catch {
            outcome = .failure(WebhookCallFailure(reason: "\(error)"))
        }
        switch outcome {
        case .failure(let failure):
            let reason = failure.reason
            if webhook.failurePolicy == "Ignore" { return object }
            throw APIStatus.internalError("failed calling webhook \"\(webhook.name)\": \(reason)")
        case .success(let response):
            guard response["allowed"]?.boolValue == true else {
                let message = response["status"]?["message"]?.stringValue ?? ""
                let code = response["status"]?["code"].flatMap(ServiceStrategy.integer) ?? 400
                throw APIStatus(
                    code: code, reason: code == 403 ? "Forbidden" : "BadRequest",
                    message: "admission webhook \"\(webhook.name)\" denied the request: \(message)")
            }
            guard let encoded = response["patch"]?.stringValue else { return object }
            guard response["patchType"]?.stringValue == "JSONPatch", let bytes = Data(base64Encoded: encoded) else {
                throw APIStatus.internalError(
                    "webhook \"\(webhook.name)\" returned a patch without patchType JSONPatch")
            }
            do {
                return try JSONPatch(json: JSONParser.parse(Array(bytes))).apply(to: object)
            } catch {
                // Whatever the failure policy: a patch that does not apply rejects the request.
                throw APIStatus.internalError("JSON patch from webhook \"\(webhook.name)\" does not apply: \(error)")
            }
        }
    }

    /// The `response` of a well-formed AdmissionReview answer, or why it is not one.
    static func interpret(_ answer: (code: Int, body: [UInt8]), uid: String) -> Result<JSONValue, WebhookCallFailure> {
        guard answer.code == 200 else {
            return .failure(WebhookCallFailure(reason: "expected response code 200, got \(answer.code)"))
        }
        guard let review = try? JSONParser.parse(answer.body) else {
            return .failure(WebhookCallFailure(reason: "the response is not JSON"))
        }
        guard review["apiVersion"]?.stringValue == "admission.k8s.io/v1",
            review["kind"]?.stringValue == "AdmissionReview",
            let response = review["response"]
        else { return .failure(WebhookCallFailure(reason: "expected an admission.k8s.io/v1 AdmissionReview response")) }
        guard response["uid"]?.stringValue == uid else {
            return .failure(
                WebhookCallFailure(
                    reason: "expected response.uid=\"\(uid)\", got \"\(response["uid"]?.stringValue ?? "")\""))
        }
        return .success(response)
    }
}

/// Why a webhook call produced no usable answer (its failurePolicy then decides).
struct WebhookCallFailure: Error {
    var reason: String
}
