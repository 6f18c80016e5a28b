import SharedLBCore
import Testing

/// The mutation on the real AdmissionReviews kube-apiserver v1.24 sent.
@Suite("Conversion of captured AdmissionReviews")
struct FixtureConversionTests {
    let reviewer = AdmissionReviewer(policy: ConversionPolicy())

    /// Scenarios whose captured patch is exactly what SharedLB must produce by default.
    @Test(
        "matches the patch the API server accepted",
        arguments: [
            "01-apply-lb-plain", "03-ssa-create-lb", "03b-ssa-reapply-lb", "04-dryrun-create-lb",
            "05-reapply-changed-port", "09-lb-mixed-protocol", "10-lb-generatename",
            "11b-lb-externalips-etp-removed",
        ])
    func matchesAcceptedPatch(scenario: String) throws {
        let outcome = try reviewer.review(Fixtures.compactReview(scenario))
        #expect(outcome.result == .service(.converted))
        var expected = try Fixtures.json("\(scenario).patch.json").arrayValue ?? []
        // The capturing webhook re-added the managed label even when the object already
        // carried it (the re-applies 03b and 05); SharedLB leaves a correct label alone.
        let object = try Fixtures.json("\(scenario).review.json")["request"]?["object"]
        if object?["metadata"]?["labels"]?["sharedlb.io/managed"]?.stringValue == "true" {
            expected.removeAll { $0["path"]?.stringValue == "/metadata/labels/sharedlb.io~1managed" }
        }
        #expect(try outcome.patchJSON == .array(expected))
        #expect(outcome.warnings.count == 1)
    }

    @Test("every captured review yields a patch that applies and leaves a valid Service", arguments: Fixtures.scenarios)
    func patchAppliesAndIsValid(scenario: String) throws {
        let review = try Fixtures.json("\(scenario).review.json")
        let object = try #require(review["request"]?["object"])
        for policy in [
            ConversionPolicy(), ConversionPolicy(convertClasses: ["example.com/shared-lb"], convertLocal: true),
        ] {
            let outcome = try AdmissionReviewer(policy: policy).review(Fixtures.compactReview(scenario))
            let patched = try PatchApplier.apply(outcome.patchJSON, to: object)
            switch outcome.result {
            case .service(.converted):
                #expect(convertedServiceViolations(patched, original: object) == [], "\(scenario)")
                // Reinvocation: a second call on the webhook's own output changes nothing.
                let again = ServiceConverter(policy: policy).convert(
                    operation: outcome.operation, object: patched, oldObject: review["request"]?["oldObject"])
                #expect(again.decision == .unchanged)
                #expect(again.patch.isEmpty)
            case .service(.unchanged):
                #expect(outcome.patch.isEmpty)
                #expect(patched == object)
                #expect(object["spec"]?["type"]?.stringValue != "LoadBalancer")
            case .service(.skipped):
                #expect(patched["spec"]?["type"]?.stringValue == "LoadBalancer")
                #expect(patched["metadata"]?["labels"]?["sharedlb.io/managed"] == nil)
            default:
                Issue.record("unexpected result \(outcome.result) for \(scenario)")
            }
        }
    }

    @Test("the externalIPs case removes externalTrafficPolicy, which v1.24 rejected in fixture 11")
    func externalIPsDropTrafficPolicy() throws {
        let outcome = try reviewer.review(Fixtures.compactReview("11-lb-externalips"))
        let paths = try outcome.patchJSON.arrayValue!.compactMap { $0["path"]?.stringValue }
        #expect(paths.contains("/spec/externalTrafficPolicy"))
        let object = try #require(try Fixtures.json("11-lb-externalips.review.json")["request"]?["object"])
        let patched = try PatchApplier.apply(outcome.patchJSON, to: object)
        #expect(patched["spec"]?["externalIPs"] == .array([.string("192.0.2.50")]))
    }

    @Test("a class and Local traffic policy are left alone by default, with one warning per reason")
    func allFieldsSkippedByDefault() throws {
        let outcome = try reviewer.review(Fixtures.compactReview("02-create-lb-allfields"))
        #expect(outcome.result == .service(.skipped([.loadBalancerClass, .localTrafficPolicy])))
        #expect(outcome.patch.isEmpty)
        #expect(outcome.warnings.count == 2)
        #expect(outcome.warnings[0].contains("example.com/shared-lb"))
        #expect(outcome.warnings[1].contains("externalTrafficPolicy Local"))
    }

    @Test("with the flags that widen conversion, every LB field is removed and recorded")
    func allFieldsConvertedWhenWidened() throws {
        let policy = ConversionPolicy(convertClasses: ["example.com/shared-lb"], convertLocal: true)
        let outcome = try AdmissionReviewer(policy: policy).review(Fixtures.compactReview("02-create-lb-allfields"))
        #expect(outcome.result == .service(.converted))
        #expect(try outcome.patchJSON == Fixtures.json("02-create-lb-allfields.patch.json"))
    }

    @Test("an UPDATE of a live, unmanaged LoadBalancer is left alone: converting it would delete the LB")
    func existingLoadBalancerLeftAlone() throws {
        let outcome = try reviewer.review(Fixtures.compactReview("12-update-real-lb"))
        #expect(outcome.result == .service(.skipped([.existingLoadBalancer, .localTrafficPolicy])))
        #expect(outcome.patch.isEmpty)
        #expect(outcome.warnings[0].contains("sharedlb.io/migrate"))
    }

    @Test("sharedlb.io/migrate opts an existing LoadBalancer in")
    func migrateAnnotationConverts() throws {
        let review = try Fixtures.json("12-update-real-lb.review.json")
        var object = try #require(review["request"]?["object"])
        object = try PatchApplier.apply(
            JSONParser.parse(
                Array(
                    #"[{"op":"add","path":"/metadata/labels/x","value":"y"},{"op":"add","path":"/metadata/annotations/sharedlb.io~1migrate","value":"true"}]"#
                        .utf8)),
            to: object)
        let converter = ServiceConverter(policy: ConversionPolicy(convertLocal: true))
        let result = converter.convert(operation: "UPDATE", object: object, oldObject: review["request"]?["oldObject"])
        #expect(result.decision == .converted)
        let patched = try PatchApplier.apply(JSONParser.parse(result.patch.encoded), to: object)
        #expect(convertedServiceViolations(patched, original: object) == [])
        #expect(patched["spec"]?["clusterIP"]?.stringValue == "10.98.24.94")
    }

    @Test("a labels-only patch of a managed Service (type ClusterIP) gets no patch and no warning")
    func managedClusterIPUnchanged() throws {
        let outcome = try reviewer.review(Fixtures.compactReview("06-patch-labels-converted"))
        #expect(outcome.result == .service(.unchanged))
        #expect(outcome.patch.isEmpty)
        #expect(outcome.warnings.isEmpty)
        #expect(!String(decoding: outcome.responseBody(), as: UTF8.self).contains("patchType"))
    }

    @Test("dry-run requests are mutated like real ones")
    func dryRun() throws {
        let outcome = try reviewer.review(Fixtures.compactReview("04-dryrun-create-lb"))
        #expect(outcome.dryRun)
        #expect(outcome.result == .service(.converted))
    }

    @Test("generateName creates have no request.name and still convert")
    func generateName() throws {
        let outcome = try reviewer.review(Fixtures.compactReview("10-lb-generatename"))
        #expect(outcome.name == nil)
        #expect(outcome.namespace == "team-b")
        #expect(outcome.result == .service(.converted))
    }
}
