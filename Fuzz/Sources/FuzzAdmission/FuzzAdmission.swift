// The webhook's request path after HTTP: body bytes → AdmissionReviewer → response bytes, as
// WebhookResponder calls it. Any byte sequence must give either a clear error (HTTP 400) or a
// response that is JSON, answers the request's uid, and whose patch applies to request.object.
// The reviewer's parse leaves managedFields out: it must agree with a full parse on everything
// else, and fail exactly where a full parse fails.
import Foundation
import SharedLBCore

private let reviewer = AdmissionReviewer(policy: ConversionPolicy())

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let full = Result { () throws(JSONParseError) in try JSONParser.parse(bytes) }
    let skipping = Result { () throws(JSONParseError) in try JSONParser.parse(bytes, skipping: .managedFields) }
    switch (full, skipping) {
    case (.success(let document), .success(let lean)):
        precondition(
            JSONWriter.encode(document.removing(.managedFields)) == JSONWriter.encode(lean),
            "skipping changed more than managedFields")
    case (.failure(let expected), .failure(let actual)):
        precondition(expected == actual, "skipping failed differently: \(actual) instead of \(expected)")
    default:
        fatalError("skipping managedFields disagrees with a full parse: \(full) vs \(skipping)")
    }
    let outcome: AdmissionOutcome
    do {
        outcome = try reviewer.review(bytes)
    } catch {
        precondition(!error.message.isEmpty, "an error without a message")
        return 0
    }
    let body = outcome.responseBody()
    guard case .object(let response)? = try? JSONParser.parse(body) else {
        fatalError("the response is not a JSON object: \(String(decoding: body, as: UTF8.self))")
    }
    guard case .object(let inner)? = response["response"], inner["uid"] != nil else {
        fatalError("the response has no response.uid: \(String(decoding: body, as: UTF8.self))")
    }
    // A patch must apply to the object it was made for, as the API server will apply it.
    if case .string(let encoded)? = inner["patch"] {
        guard let patchBytes = Data(base64Encoded: encoded),
            let request = try? JSONParser.parse(bytes)["request"], let object = request["object"]
        else { fatalError("a patch that is not base64, or for no object") }
        do {
            _ = try JSONPatch(json: JSONParser.parse(Array(patchBytes))).apply(to: object)
        } catch {
            fatalError(
                "the patch does not apply to the object: \(error)\n\(String(decoding: patchBytes, as: UTF8.self))")
        }
    }
    return 0
}
