import SharedLBCore
import Testing

@testable import SharedLBAPIServer

@Suite("matchConditions (the CEL subset the test API server evaluates)")
struct MatchConditionTests {
    func object(_ text: String) throws -> JSONValue {
        try JSONParser.parse(Array(text.utf8))
    }

    @Test("sharedlb's condition: called when the old or the new type is LoadBalancer, not otherwise")
    func loadBalancerCondition() throws {
        let condition = try MatchCondition(WebhookRegistration.loadBalancerCondition)
        let lb = try object(#"{"spec":{"type":"LoadBalancer"}}"#)
        let clusterIP = try object(#"{"spec":{"type":"ClusterIP"}}"#)
        let untyped = try object(#"{"spec":{}}"#)
        #expect(try condition.matches(["object": lb, "oldObject": .null]))
        #expect(try !condition.matches(["object": clusterIP, "oldObject": .null]))
        #expect(try !condition.matches(["object": untyped, "oldObject": .null]))
        #expect(try condition.matches(["object": clusterIP, "oldObject": lb]))
        #expect(try !condition.matches(["object": clusterIP, "oldObject": clusterIP]))
    }

    @Test("&& and || absorb an error when the other side decides; otherwise the error stands")
    func errorAbsorption() throws {
        let variables = ["object": try object(#"{"spec":{}}"#)]
        #expect(try !MatchCondition("false && object.spec.type == 'x'").matches(variables))
        #expect(try MatchCondition("object.spec.type == 'x' || true").matches(variables))
        #expect(throws: MatchCondition.EvaluationError.self) {
            try MatchCondition("object.spec.type == 'x'").matches(variables)
        }
        #expect(try MatchCondition("!has(object.spec.type) && object['spec'] != null").matches(variables))
    }

    @Test(
        "what this subset does not know is an error, never a guess",
        arguments: [
            "size(object.spec) > 0", "object.spec.ports[0].port == 80", "object.spec.type.startsWith('L')",
            "'unterminated",
            "object.spec.type == ", "request.operation in ['CREATE']", "1",
        ])
    func unsupported(_ expression: String) {
        #expect(throws: MatchCondition.EvaluationError.self) {
            try MatchCondition(expression).matches(["object": .object(JSONObject()), "request": .object(JSONObject())])
        }
    }

    @Test(
        "a false condition skips the webhook even beside an error; an error alone: Ignore skips, Fail is 403 Forbidden")
    func decision() throws {
        let attributes = AdmissionAttributes(
            kind: .services, operation: "CREATE", namespace: "default", name: "web",
            object: try object(#"{"spec":{"type":"LoadBalancer"}}"#), oldObject: nil, dryRun: false)
        func webhook(_ policy: String, _ expressions: [String]) -> RegisteredWebhookAdmission.Webhook {
            RegisteredWebhookAdmission.Webhook(
                name: "services.sharedlb.io", url: nil, caBundlePEM: nil, failurePolicy: policy, timeoutSeconds: 5,
                reinvocation: false, matchConditions: expressions.enumerated().map { ("c\($0.offset)", $0.element) })
        }
        func decide(_ webhook: RegisteredWebhookAdmission.Webhook) throws(APIStatus) -> Bool {
            try RegisteredWebhookAdmission.conditionsMatch(webhook, attributes, object: attributes.object)
        }
        let broken = "object.metadata.name == 'web'"  // no metadata: an evaluation error
        #expect(try decide(webhook("Fail", [WebhookRegistration.loadBalancerCondition])))
        #expect(try !decide(webhook("Fail", [broken, "false"])))
        #expect(try !decide(webhook("Ignore", [broken])))
        #expect(throws: APIStatus.self) { try decide(webhook("Fail", [broken])) }
        do {
            _ = try decide(webhook("Fail", ["true", broken]))
            Issue.record("an evaluation error under Fail must reject")
        } catch {
            #expect(error.code == 403)
            #expect(error.reason == "Forbidden")
            #expect(error.message.hasPrefix(#"services "web" is forbidden: webhook "services.sharedlb.io""#))
        }
    }
}
