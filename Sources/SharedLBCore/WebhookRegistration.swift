/// An `admissionregistration.k8s.io/v1` MutatingWebhookConfiguration for SharedLB,
/// as plain Codable values (the executable prints it as YAML or JSON).
///
/// ```swift
/// let registration = WebhookRegistration(endpoint: .url("https://127.0.0.1:8443/mutate"), caBundle: base64CA)
/// let manifest = registration.manifest()   // encode with YAMLEncoder or JSONEncoder
/// ```
public struct WebhookRegistration: Sendable {
    public enum Endpoint: Sendable, Equatable {
        /// A URL outside the cluster (development): `https://HOST:PORT/mutate`.
        case url(String)
        /// The in-cluster webhook Service.
        case service(namespace: String, name: String, port: Int, path: String)
    }

    public enum FailurePolicy: String, Sendable, CaseIterable, Codable {
        /// A webhook outage lets LoadBalancer Services through unconverted (each gets its own LB).
        case ignore = "Ignore"
        /// A webhook outage rejects the Service writes the webhook would be called for.
        case fail = "Fail"
    }

    public var name: String
    public var endpoint: Endpoint
    /// Base64 PEM of the CA that signed the serving certificate; `nil` when a CA injector
    /// (cert-manager's `cert-manager.io/inject-ca-from`) fills it in.
    public var caBundle: String?
    public var failurePolicy: FailurePolicy
    public var timeoutSeconds: Int
    /// Namespaces never sent to the webhook: kube-system and the controller namespace.
    public var excludedNamespaces: [String]
    /// Add `matchConditions` (kube-apiserver v1.28+): call only for Services whose old or new type is LoadBalancer.
    public var matchConditions: Bool

    public init(
        name: String = "sharedlb-webhook",
        endpoint: Endpoint,
        caBundle: String?,
        failurePolicy: FailurePolicy = .ignore,
        timeoutSeconds: Int = 5,
        excludedNamespaces: [String] = ["kube-system", SharedLBNames.defaultNamespace],
        matchConditions: Bool = false
    ) {
        self.name = name
        self.endpoint = endpoint
        self.caBundle = caBundle
        self.failurePolicy = failurePolicy
        self.timeoutSeconds = timeoutSeconds
        self.excludedNamespaces = excludedNamespaces
        self.matchConditions = matchConditions
    }

    /// The CEL condition of `matchConditions`: a webhook outage under `failurePolicy: Fail`
    /// then blocks only writes of LoadBalancer Services, not every Service in the cluster.
    public static let loadBalancerCondition =
        "(has(object.spec.type) && object.spec.type == 'LoadBalancer') || "
        + "(oldObject != null && has(oldObject.spec.type) && oldObject.spec.type == 'LoadBalancer')"

    public func manifest() -> MutatingWebhookConfiguration {
        let clientConfig: WebhookClientConfig
        switch endpoint {
        case .url(let url):
            clientConfig = WebhookClientConfig(url: url, service: nil, caBundle: caBundle)
        case .service(let namespace, let name, let port, let path):
            clientConfig = WebhookClientConfig(
                url: nil, service: ServiceReference(namespace: namespace, name: name, path: path, port: port),
                caBundle: caBundle)
        }
        let webhook = MutatingWebhook(
            name: "services.sharedlb.io",
            admissionReviewVersions: ["v1"],
            clientConfig: clientConfig,
            rules: [
                RuleWithOperations(
                    operations: ["CREATE", "UPDATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["services"],
                    scope: "Namespaced")
            ],
            failurePolicy: failurePolicy.rawValue,
            matchPolicy: "Equivalent",
            namespaceSelector: LabelSelector(matchExpressions: [
                LabelSelectorRequirement(
                    key: "kubernetes.io/metadata.name", operator: "NotIn", values: excludedNamespaces)
            ]),
            // The API server matches this against the old OR the new object; SharedLB's own
            // shared LoadBalancer Services must never be converted.
            objectSelector: LabelSelector(matchExpressions: [
                LabelSelectorRequirement(
                    key: SharedLBNames.roleLabel, operator: "NotIn", values: [SharedLBNames.sharedLBRole])
            ]),
            sideEffects: "None",
            timeoutSeconds: timeoutSeconds,
            reinvocationPolicy: "IfNeeded",
            matchConditions: matchConditions
                ? [MatchCondition(name: "loadbalancer-services-only", expression: Self.loadBalancerCondition)] : nil
        )
        return MutatingWebhookConfiguration(
            metadata: ObjectMeta(name: name, labels: ["app.kubernetes.io/name": "sharedlb"]), webhooks: [webhook])
    }
}

// The wire shapes, with Kubernetes' field names; `nil` fields are omitted when encoded.

public struct MutatingWebhookConfiguration: KubernetesObject, Equatable {
    public static let descriptor = ResourceDescriptor(
        group: "admissionregistration.k8s.io", version: "v1", plural: "mutatingwebhookconfigurations",
        kind: "MutatingWebhookConfiguration", namespaced: false)
    public var apiVersion = "admissionregistration.k8s.io/v1"
    public var kind = "MutatingWebhookConfiguration"
    public var metadata: ObjectMeta
    public var webhooks: [MutatingWebhook]
}

public struct MutatingWebhook: Codable, Sendable, Equatable {
    public var name: String
    public var admissionReviewVersions: [String]
    public var clientConfig: WebhookClientConfig
    public var rules: [RuleWithOperations]
    public var failurePolicy: String
    public var matchPolicy: String
    public var namespaceSelector: LabelSelector
    public var objectSelector: LabelSelector
    public var sideEffects: String
    public var timeoutSeconds: Int
    public var reinvocationPolicy: String
    public var matchConditions: [MatchCondition]?
}

public struct WebhookClientConfig: Codable, Sendable, Equatable {
    public var url: String?
    public var service: ServiceReference?
    public var caBundle: String?

    public init(url: String?, service: ServiceReference?, caBundle: String?) {
        self.url = url
        self.service = service
        self.caBundle = caBundle
    }
}

public struct ServiceReference: Codable, Sendable, Equatable {
    public var namespace: String
    public var name: String
    public var path: String
    public var port: Int
}

public struct RuleWithOperations: Codable, Sendable, Equatable {
    public var operations: [String]
    public var apiGroups: [String]
    public var apiVersions: [String]
    public var resources: [String]
    public var scope: String
}

public struct LabelSelector: Codable, Sendable, Equatable {
    public var matchExpressions: [LabelSelectorRequirement]
}

public struct LabelSelectorRequirement: Codable, Sendable, Equatable {
    public var key: String
    public var `operator`: String
    public var values: [String]
}

public struct MatchCondition: Codable, Sendable, Equatable {
    public var name: String
    public var expression: String
}
