import SharedLBCore
import Testing

@testable import SharedLBAPIServer

@Suite("Status bodies are byte-identical to kube-apiserver's")
struct APIStatusTests {
    @Test(
        "each error shape",
        arguments: [
            ("14-put-configmap-stale-rv.json", APIStatus.conflict("configmaps", "app-config")),
            ("16a-get-missing-service.json", APIStatus.notFound("services", "does-not-exist")),
            ("16b-create-existing-configmap.json", APIStatus.alreadyExists("configmaps", "app-config")),
            (
                "17f-list-services-continue-expired.json",
                APIStatus.expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                    continueToken:
                        "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6LTEsInN0YXJ0IjoidGVhbS1hL2FsbGZpZWxkc1x1MDAwMCJ9")
            ),
        ])
    func shapes(fixture: String, status: APIStatus) throws {
        // The API server writes compact JSON and a newline.
        #expect(JSONWriter.encode(status.json) + "\n" == (try Fixtures.text(fixture)))
    }

    @Test("the 422 of an invalid ClusterIP Service, from validation of the request the fixture sent")
    func invalidService() throws {
        let strategy = ServiceStrategy()
        let request = try Fixtures.json("15-create-invalid-service.request.json")
        let defaulted = strategy.applyDefaults(to: request)
        let status = APIStatus.invalid(kind: "Service", name: "invalid-cip", causes: strategy.validate(defaulted))
        #expect(JSONWriter.encode(status.json) + "\n" == (try Fixtures.text("15-create-invalid-service.json")))
    }
}
