import SharedLBCore
import Testing

@Suite("Conversion rules")
struct ServiceConverterTests {
    let converter = ServiceConverter(policy: ConversionPolicy())

    func object(_ json: String) throws -> JSONValue {
        try JSONParser.parse(Array(json.utf8))
    }

    func applied(_ result: ServiceConversion, to object: JSONValue) throws -> JSONValue {
        try PatchApplier.apply(JSONParser.parse(result.patch.encoded), to: object)
    }

    @Test("no labels and no annotations: each map is added whole")
    func missingMaps() throws {
        let service = try object(#"{"metadata":{"name":"a"},"spec":{"type":"LoadBalancer","ports":[{"port":80}]}}"#)
        let result = converter.convert(operation: "CREATE", object: service, oldObject: nil)
        #expect(
            result.patch.operations.contains(
                .add(
                    path: JSONPointer("metadata", "labels"),
                    value: .object(JSONObject([("sharedlb.io/managed", .string("true"))])))))
        #expect(result.patch.operations.map(\.path.description).contains("/metadata/annotations"))
        let patched = try applied(result, to: service)
        #expect(convertedServiceViolations(patched, original: service) == [])
    }

    @Test("labels and annotations that are null are replaced by maps")
    func nullMaps() throws {
        let service = try object(#"{"metadata":{"labels":null,"annotations":null},"spec":{"type":"LoadBalancer"}}"#)
        let patched = try applied(converter.convert(operation: "CREATE", object: service, oldObject: nil), to: service)
        #expect(convertedServiceViolations(patched, original: service) == [])
        #expect(patched["metadata"]?["annotations"]?["sharedlb.io/requested"]?.stringValue == #"{"ports":[]}"#)
    }

    @Test("no metadata at all: one add of /metadata carries both maps")
    func missingMetadata() throws {
        let service = try object(#"{"spec":{"type":"LoadBalancer","ports":[{"port":53,"protocol":"UDP"}]}}"#)
        let result = converter.convert(operation: "CREATE", object: service, oldObject: nil)
        #expect(result.patch.operations.filter { $0.path == JSONPointer("metadata") }.count == 1)
        #expect(convertedServiceViolations(try applied(result, to: service), original: service) == [])
    }

    @Test("pointer tokens escape / as ~1 and ~ as ~0")
    func pointerEscaping() {
        #expect(JSONPointer("metadata", "annotations", "a~b/c").description == "/metadata/annotations/a~0b~1c")
        #expect(
            JSONPointer("metadata", "labels", "sharedlb.io/managed").description
                == "/metadata/labels/sharedlb.io~1managed")
    }

    @Test("existing keys with ~ and / survive the patch untouched")
    func escapedNeighbours() throws {
        let service = try object(
            #"{"metadata":{"labels":{"a~b/c":"1"},"annotations":{"x/y~z":"2"}},"spec":{"type":"LoadBalancer","ports":[{"port":1,"nodePort":30001}]}}"#
        )
        let patched = try applied(converter.convert(operation: "CREATE", object: service, oldObject: nil), to: service)
        #expect(patched["metadata"]?["labels"]?["a~b/c"]?.stringValue == "1")
        #expect(patched["metadata"]?["annotations"]?["x/y~z"]?.stringValue == "2")
        #expect(convertedServiceViolations(patched, original: service) == [])
    }

    @Test("only fields that are present are removed (a remove of a missing key fails the request)")
    func removesOnlyPresent() throws {
        let service = try object(
            #"{"metadata":{},"spec":{"type":"LoadBalancer","ports":[{"port":1},{"port":2,"nodePort":30002}],"loadBalancerIP":"192.0.2.1"}}"#
        )
        let result = converter.convert(operation: "CREATE", object: service, oldObject: nil)
        let removed = result.patch.operations.compactMap { operation -> String? in
            if case .remove(let path) = operation { return path.description }
            return nil
        }
        #expect(removed == ["/spec/ports/1/nodePort", "/spec/loadBalancerIP"])
        let requested = try #require(
            try applied(result, to: service)["metadata"]?["annotations"]?["sharedlb.io/requested"]?.stringValue)
        #expect(requested == #"{"loadBalancerIP":"192.0.2.1","ports":[{"port":1},{"nodePort":30002,"port":2}]}"#)
    }

    @Test(
        "opt-outs and unsafe cases are left as LoadBalancer with a warning",
        arguments: [
            (
                #"{"metadata":{"annotations":{"sharedlb.io/dedicated":"true"}},"spec":{"type":"LoadBalancer"}}"#,
                SkipReason.dedicated
            ),
            (#"{"metadata":{},"spec":{"type":"LoadBalancer","loadBalancerClass":"metallb"}}"#, .loadBalancerClass),
            (#"{"metadata":{},"spec":{"type":"LoadBalancer","externalTrafficPolicy":"Local"}}"#, .localTrafficPolicy),
            (
                #"{"metadata":{"ownerReferences":[{"kind":"Gateway","name":"gw","controller":true}]},"spec":{"type":"LoadBalancer"}}"#,
                .controllerOwned
            ),
        ])
    func skipped(json: String, reason: SkipReason) throws {
        let result = converter.convert(operation: "CREATE", object: try object(json), oldObject: nil)
        #expect(result.decision == .skipped([reason]))
        #expect(result.patch.isEmpty)
        #expect(result.warnings.count == 1)
        #expect(result.warnings.allSatisfy { $0.utf8.count < 120 && $0.hasPrefix("sharedlb: ") })
    }

    @Test("flags widen conversion to classes, Local and owned Services")
    func widened() throws {
        let policy = ConversionPolicy(convertClasses: ["metallb"], convertLocal: true, convertOwned: true)
        let service = try object(
            #"{"metadata":{"ownerReferences":[{"kind":"X","name":"x","controller":true}]},"spec":{"type":"LoadBalancer","loadBalancerClass":"metallb","externalTrafficPolicy":"Local"}}"#
        )
        #expect(
            ServiceConverter(policy: policy).convert(operation: "CREATE", object: service, oldObject: nil).decision
                == .converted)
    }

    @Test("an owner that is not the controller does not block conversion")
    func nonControllerOwner() throws {
        let service = try object(
            #"{"metadata":{"ownerReferences":[{"kind":"App","name":"a"}]},"spec":{"type":"LoadBalancer"}}"#)
        #expect(converter.convert(operation: "CREATE", object: service, oldObject: nil).decision == .converted)
    }

    @Test("a managed Service that opts out becomes a dedicated LB and drops SharedLB's label and annotations")
    func managedOptOut() throws {
        let old = try object(
            #"{"metadata":{"labels":{"sharedlb.io/managed":"true"},"annotations":{"sharedlb.io/requested":"{}","sharedlb.io/endpoint":"203.0.113.7:80/TCP"}},"spec":{"type":"ClusterIP"}}"#
        )
        let new = try object(
            #"{"metadata":{"labels":{"sharedlb.io/managed":"true","app":"a"},"annotations":{"sharedlb.io/dedicated":"true","sharedlb.io/requested":"{}","sharedlb.io/endpoint":"203.0.113.7:80/TCP"}},"spec":{"type":"LoadBalancer"}}"#
        )
        let result = converter.convert(operation: "UPDATE", object: new, oldObject: old)
        #expect(result.decision == .skipped([.dedicated]))
        let patched = try applied(result, to: new)
        #expect(patched["metadata"]?["labels"] == .object(JSONObject([("app", .string("a"))])))
        #expect(
            patched["metadata"]?["annotations"] == .object(JSONObject([("sharedlb.io/dedicated", .string("true"))])))
        #expect(patched["spec"]?["type"]?.stringValue == "LoadBalancer")
    }

    @Test("a re-apply of a managed Service is converted again and its record follows the new ports")
    func reapply() throws {
        let old = try object(
            #"{"metadata":{"labels":{"sharedlb.io/managed":"true"},"annotations":{"sharedlb.io/requested":"{\"ports\":[{\"port\":80}]}"}},"spec":{"type":"ClusterIP","ports":[{"port":80}]}}"#
        )
        let new = try object(
            #"{"metadata":{"labels":{"sharedlb.io/managed":"true"},"annotations":{"sharedlb.io/requested":"{\"ports\":[{\"port\":80}]}"}},"spec":{"type":"LoadBalancer","ports":[{"port":81}],"externalTrafficPolicy":"Cluster"}}"#
        )
        let result = converter.convert(operation: "UPDATE", object: new, oldObject: old)
        #expect(result.decision == .converted)
        let patched = try applied(result, to: new)
        #expect(convertedServiceViolations(patched, original: new) == [])
        #expect(
            patched["metadata"]?["annotations"]?["sharedlb.io/requested"]?.stringValue
                == #"{"externalTrafficPolicy":"Cluster","ports":[{"port":81}]}"#)
        // The label was already there: no operation touches it.
        #expect(!result.patch.operations.map(\.path.description).contains("/metadata/labels/sharedlb.io~1managed"))
    }

    @Test(
        "unexpected shapes are let through with a warning",
        arguments: [
            (#"{"spec":{"type":"LoadBalancer","ports":"80"}}"#, "spec.ports is a string, not an array"),
            (#"{"spec":{"type":5}}"#, "spec.type is a number, not a string"),
            (#"{"spec":{"type":"LoadBalancer","ports":[80]}}"#, "spec.ports[0] is a number, not an object"),
            (#"{"spec":[]}"#, "spec is an array, not an object"),
            (
                #"{"metadata":{"labels":[]},"spec":{"type":"LoadBalancer"}}"#,
                "metadata.labels is an array, not an object"
            ),
            (
                #"{"metadata":{"ownerReferences":{}},"spec":{"type":"LoadBalancer"}}"#,
                "metadata.ownerReferences is an object, not an array"
            ),
            (#""Service""#, "object is a string, not an object"),
        ])
    func malformed(json: String, message: String) throws {
        let result = converter.convert(operation: "CREATE", object: try object(json), oldObject: nil)
        #expect(result.decision == .malformed(message))
        #expect(result.patch.isEmpty)
        #expect(result.warnings == ["sharedlb: left unchanged: \(message)"])
    }

    @Test("Services that are not LoadBalancers get nothing", arguments: ["ClusterIP", "NodePort", "ExternalName"])
    func otherTypes(type: String) throws {
        let result = converter.convert(
            operation: "CREATE", object: try object(#"{"spec":{"type":"\#(type)"}}"#), oldObject: nil)
        #expect(result.decision == .unchanged)
        #expect(result.patch.isEmpty)
        #expect(result.warnings.isEmpty)
    }

    @Test("long class names keep the warning under 120 characters")
    func longWarning() throws {
        let name = String(repeating: "x", count: 300)
        let result = converter.convert(
            operation: "CREATE",
            object: try object(#"{"spec":{"type":"LoadBalancer","loadBalancerClass":"\#(name)"}}"#), oldObject: nil)
        #expect(result.warnings.allSatisfy { $0.utf8.count < 120 && $0.hasSuffix("...") })
    }
}

@Suite("Conversion of Services kube-apiserver would refuse as LoadBalancers")
struct InvalidLoadBalancerConversionTests {
    let converter = ServiceConverter(policy: ConversionPolicy())

    @Test("a Service invalid as a LoadBalancer is let through unconverted, with a warning saying why")
    func leftUnconverted() throws {
        let service = try JSONParser.parse(
            Array(#"{"metadata":{"name":"kubelet"},"spec":{"type":"LoadBalancer","ports":[{"port":10250}]}}"#.utf8))
        let result = converter.convert(operation: "CREATE", object: service, oldObject: nil)
        #expect(result.decision == .skipped([.invalid]))
        #expect(result.patch.operations.isEmpty)
        #expect(
            result.warnings == ["sharedlb: left as LoadBalancer: port 10250 is refused on one before Kubernetes 1.33"])
    }

    @Test("an opted-out Service is not also called invalid")
    func otherReasonsFirst() throws {
        let service = try JSONParser.parse(
            Array(
                #"{"metadata":{"annotations":{"sharedlb.io/dedicated":"true"}},"spec":{"type":"LoadBalancer","ports":[{"port":10250}]}}"#
                    .utf8))
        #expect(
            converter.convert(operation: "CREATE", object: service, oldObject: nil).decision == .skipped([.dedicated]))
    }

    @Test("the source-ranges annotation, refused on a ClusterIP Service, moves into sharedlb.io/requested")
    func sourceRangesAnnotation() throws {
        let service = try JSONParser.parse(
            Array(
                #"{"metadata":{"name":"a","annotations":{"service.beta.kubernetes.io/load-balancer-source-ranges":"10.0.0.0/8","team":"x"}},"spec":{"type":"LoadBalancer","ports":[{"port":80}]}}"#
                    .utf8))
        let result = converter.convert(operation: "CREATE", object: service, oldObject: nil)
        #expect(result.decision == .converted)
        let patched = try PatchApplier.apply(JSONParser.parse(result.patch.encoded), to: service)
        #expect(convertedServiceViolations(patched, original: service) == [])
        let annotations = try #require(patched["metadata"]?["annotations"])
        #expect(annotations["team"]?.stringValue == "x")
        let requested = try JSONParser.parse(
            Array(try #require(annotations["sharedlb.io/requested"]?.stringValue).utf8))
        #expect(
            requested["annotations"]?["service.beta.kubernetes.io/load-balancer-source-ranges"]?.stringValue
                == "10.0.0.0/8")
    }
}
