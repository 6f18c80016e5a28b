import SharedLBCore
import Testing

@testable import SharedLBAPIServer

@Suite("Service defaults, validation and clean-up as in kube-apiserver v1.24")
struct ServiceStrategyTests {
    let strategy = ServiceStrategy()

    @Test(
        "defaults before admission equal what the API server sent the webhook",
        arguments: [
            "01-apply-lb-plain", "02-create-lb-allfields", "07-create-clusterip", "08-create-nodeport",
            "09-lb-mixed-protocol",
            "10-lb-generatename", "11-lb-externalips",
        ])
    func defaults(scenario: String) throws {
        let manifest = try Fixtures.json("\(scenario).input.json")
        let sent = try #require(try Fixtures.json("\(scenario).review.json")["request"]?["object"])
        let defaulted = strategy.applyDefaults(to: manifest)
        #expect(defaulted["spec"] == sent["spec"])
        // Field order too: the stored object reads like the real one.
        #expect(defaulted["spec"]?.objectValue?.members.map(\.key) == sent["spec"]?.objectValue?.members.map(\.key))
        #expect(defaulted["status"] == sent["status"])
    }

    @Test("externalTrafficPolicy on a ClusterIP with externalIPs is rejected as in fixture 11")
    func externalIPsRejection() throws {
        let object = try #require(try Fixtures.json("11-lb-externalips.review.json")["request"]?["object"])
        let patched = try JSONPatch(json: Fixtures.json("11-lb-externalips.patch.json")).apply(to: object)
        let status = APIStatus.invalid(kind: "Service", name: "ext", causes: strategy.validate(patched))
        #expect("The \(status.message)\n" == (try Fixtures.text("11-lb-externalips.error.txt")))
    }

    @Test("a LoadBalancer with TCP and UDP is rejected as in fixture 09b (MixedProtocolLBService off)")
    func mixedProtocol() throws {
        var service = strategy.applyDefaults(to: try Fixtures.json("09b-lb-mixed-protocol-no-webhook.input.json"))
        // The captured rejection shows the dry-run node port the server had put on both ports.
        service = try JSONPatch([
            .add(path: JSONPointer("spec", "ports", "0", "nodePort"), value: .number("32769")),
            .add(path: JSONPointer("spec", "ports", "1", "nodePort"), value: .number("32769")),
        ]).apply(to: service)
        let status = APIStatus.invalid(kind: "Service", name: "dns", causes: strategy.validate(service))
        #expect("The \(status.message)\n" == (try Fixtures.text("09b-lb-mixed-protocol-no-webhook.error.txt")))
        #expect(ServiceStrategy(allowsMixedProtocolLoadBalancers: true).validate(service).isEmpty)
    }

    @Test("every converted fixture object is valid; a type-only change to ClusterIP is not")
    func convertedObjectsValidate() throws {
        let object = try #require(try Fixtures.json("01-apply-lb-plain.review.json")["request"]?["object"])
        let patched = try JSONPatch(
            json: JSONParser.parse(Array(#"[{"op":"replace","path":"/spec/type","value":"ClusterIP"}]"#.utf8))
        )
        .apply(to: object)
        let causes = strategy.validate(patched)
        #expect(causes.map(\.field) == ["spec.allocateLoadBalancerNodePorts", "spec.externalTrafficPolicy"])
        #expect(causes[0].message == "Forbidden: may only be used when `type` is 'LoadBalancer'")
        let converted = ServiceConverter(policy: ConversionPolicy()).convert(
            operation: "CREATE", object: object, oldObject: nil)
        #expect(strategy.validate(try converted.patch.apply(to: object)).isEmpty)
    }

    @Test("UPDATE from a LoadBalancer: unchanged type-dependent fields are dropped, source ranges are not")
    func updateCleanup() throws {
        let old = try #require(try Fixtures.json("12-update-real-lb.review.json")["request"]?["oldObject"])
        let typeOnly = try JSONPatch([.replace(path: JSONPointer("spec", "type"), value: .string("ClusterIP"))]).apply(
            to: old)
        let cleaned = strategy.dropTypeDependentFields(typeOnly, old: old)
        let spec = try #require(cleaned["spec"])
        #expect(spec["ports"]?.arrayValue?.first?["nodePort"] == nil)
        #expect(spec["healthCheckNodePort"] == nil)
        #expect(spec["externalTrafficPolicy"] == nil)
        #expect(spec["allocateLoadBalancerNodePorts"] == nil)
        #expect(spec["loadBalancerSourceRanges"] != nil)
        let causes = strategy.validateUpdate(cleaned, old: old)
        #expect(
            causes == [.forbidden("spec.LoadBalancerSourceRanges", "may only be used when `type` is 'LoadBalancer'")])
        // From a ClusterIP old object (a re-apply of a managed Service) nothing is dropped.
        let managed = try JSONPatch([.replace(path: JSONPointer("spec", "type"), value: .string("ClusterIP"))]).apply(
            to: old)
        #expect(strategy.dropTypeDependentFields(typeOnly, old: managed) == typeOnly)
    }

    @Test(
        "other validation rules",
        arguments: [
            (#"{"metadata":{"name":"Bad_Name"},"spec":{"ports":[{"port":80,"protocol":"TCP"}]}}"#, "metadata.name"),
            (#"{"metadata":{"name":"a"},"spec":{"type":"ClusterIP"}}"#, "spec.ports"),
            (
                #"{"metadata":{"name":"a"},"spec":{"ports":[{"port":80,"protocol":"TCP"},{"port":81,"protocol":"TCP"}]}}"#,
                "spec.ports[0].name,spec.ports[1].name"
            ),
            (#"{"metadata":{"name":"a"},"spec":{"ports":[{"port":70000,"protocol":"TCP"}]}}"#, "spec.ports[0].port"),
            (#"{"metadata":{"name":"a"},"spec":{"ports":[{"port":80,"protocol":"HTTP"}]}}"#, "spec.ports[0].protocol"),
            (#"{"metadata":{"name":"a"},"spec":{"type":"Weird","ports":[{"port":80,"protocol":"TCP"}]}}"#, "spec.type"),
            (
                #"{"metadata":{"name":"a"},"spec":{"loadBalancerClass":"x","ports":[{"port":80,"protocol":"TCP"}]}}"#,
                "spec.loadBalancerClass"
            ),
            (
                #"{"metadata":{"name":"a"},"spec":{"healthCheckNodePort":31000,"ports":[{"port":80,"protocol":"TCP"}]}}"#,
                "spec.healthCheckNodePort"
            ),
        ])
    func rules(json: String, field: String) throws {
        let causes = strategy.validate(strategy.applyDefaults(to: try JSONParser.parse(Array(json.utf8))))
        #expect(causes.map(\.field) == field.split(separator: ",").map(String.init))
    }
}
