import Foundation
import SharedLBCore
import Testing

@Suite("AdmissionReview envelope")
struct AdmissionReviewerTests {
    let reviewer = AdmissionReviewer(policy: ConversionPolicy())

    func review(_ request: String) -> String {
        #"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":\#(request)}"#
    }

    @Test(
        "bodies that are not a v1 AdmissionReview with a uid are errors",
        arguments: [
            ("", "not valid JSON"),
            ("{", "not valid JSON"),
            ("[]", "not a JSON object"),
            (
                #"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1beta1","request":{"uid":"u"}}"#,
                "admission.k8s.io/v1"
            ),
            (#"{"kind":"Service","apiVersion":"v1"}"#, "admission.k8s.io/v1"),
            (#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}"#, "no request"),
            (#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":""}}"#, "no uid"),
            (#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":7}}"#, "no uid"),
        ])
    func invalidEnvelopes(body: String, message: String) {
        #expect {
            try reviewer.review(Array(body.utf8))
        } throws: { error in
            (error as? AdmissionReviewError)?.message.contains(message) == true
        }
    }

    @Test(
        "other kinds, DELETE, CONNECT and subresources are allowed without a patch",
        arguments: [
            #"{"uid":"u","kind":{"group":"","version":"v1","kind":"ConfigMap"},"operation":"CREATE","object":{}}"#,
            #"{"uid":"u","kind":{"group":"","version":"v1","kind":"Service"},"operation":"DELETE","object":null,"oldObject":{"spec":{"type":"LoadBalancer"}}}"#,
            #"{"uid":"u","kind":{"group":"","version":"v1","kind":"Service"},"operation":"CONNECT"}"#,
            #"{"uid":"u","kind":{"group":"","version":"v1","kind":"Service"},"subResource":"status","operation":"UPDATE","object":{"spec":{"type":"LoadBalancer"}}}"#,
            #"{"uid":"u","kind":{"group":"example.com","version":"v1","kind":"Service"},"operation":"CREATE","object":{"spec":{"type":"LoadBalancer"}}}"#,
        ])
    func ignored(request: String) throws {
        let outcome = try reviewer.review(Array(review(request).utf8))
        #expect(outcome.result == .ignored)
        #expect(outcome.patch.isEmpty)
        #expect(
            String(decoding: outcome.responseBody(), as: UTF8.self)
                == #"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u","allowed":true}}"#
        )
    }

    @Test("the response echoes the uid, carries the base64 patch and the warning")
    func responseShape() throws {
        let outcome = try reviewer.review(Fixtures.compactReview("01-apply-lb-plain"))
        let response = try JSONParser.parse(outcome.responseBody())
        #expect(response["apiVersion"]?.stringValue == "admission.k8s.io/v1")
        #expect(response["kind"]?.stringValue == "AdmissionReview")
        let body = try #require(response["response"])
        let captured = try Fixtures.json("01-apply-lb-plain.review.json")
        #expect(body["uid"] == captured["request"]?["uid"])
        #expect(body["allowed"] == .bool(true))
        #expect(body["patchType"]?.stringValue == "JSONPatch")
        let encoded = try #require(body["patch"]?.stringValue)
        let patch = try #require(Data(base64Encoded: encoded))
        #expect(try JSONParser.parse(Array(patch)) == Fixtures.json("01-apply-lb-plain.patch.json"))
        #expect(body["warnings"]?.arrayValue?.count == 1)
    }

    @Test("a uid with quotes and control characters is echoed as valid JSON")
    func uidEscaping() throws {
        let outcome = try reviewer.review(Array(review(#"{"uid":"a\"b\\c\nd","operation":"DELETE"}"#).utf8))
        let response = try JSONParser.parse(outcome.responseBody())
        #expect(response["response"]?["uid"]?.stringValue == "a\"b\\c\nd")
    }
}
