import Foundation
import Testing

@testable import SharedLBCore

@Suite("Hand-written encoders agree with the reference ones")
struct EncodingTests {
    @Test("base64 matches Foundation for every length and many byte patterns")
    func base64() {
        var generator = SplitMix64(seed: 42)
        for length in 0..<200 {
            let input = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            var output: [UInt8] = []
            Base64.encode(input, into: &output)
            #expect(String(decoding: output, as: UTF8.self) == Data(input).base64EncodedString(), "length \(length)")
        }
    }

    @Test("strings are escaped wherever the bytes to escape are, and parse back to themselves")
    func stringEscaping() throws {
        var output: [UInt8] = []
        JSONWriter.writeString("\"a\\b\u{01}c\n\"", into: &output)
        #expect(String(decoding: output, as: UTF8.self) == #""\"a\\b\u0001c\n\"""#)
        var generator = SplitMix64(seed: 7)
        let pieces = ["a", "é", "\"", "\\", "\n", "\u{1F}", "\u{7F}", "xyz", "🙂", "\t", "\r", "/"]
        for _ in 0..<500 {
            let string = (0..<Int(generator.next() % 12)).map { _ in
                pieces[Int(generator.next() % UInt64(pieces.count))]
            }.joined()
            var encoded: [UInt8] = []
            JSONWriter.writeString(string, into: &encoded)
            #expect(try JSONParser.parse(encoded) == .string(string), "\(string.debugDescription)")
        }
    }

    @Test("the direct patch encoder writes what the generic JSON writer writes")
    func patchEncoding() throws {
        let tricky = "a\"b\\c\n~/é\u{01}"
        let patch = JSONPatch([
            .replace(path: JSONPointer("spec", "type"), value: .string("ClusterIP")),
            .remove(path: JSONPointer("metadata", "annotations", tricky)),
            .add(path: JSONPointer("metadata", "labels"), value: .object(JSONObject([(tricky, .string(tricky))]))),
            .add(path: JSONPointer("spec", "ports", "0"), value: .array([.number("1"), .null, .bool(false)])),
        ])
        let reference = JSONWriter.encode(.array(patch.operations.map(\.json)))
        #expect(String(decoding: patch.encoded, as: UTF8.self) == reference)
        // And it parses back to the same operations, with the pointer escaped per RFC 6901.
        let parsed = try JSONParser.parse(patch.encoded)
        #expect(parsed.arrayValue?[1]["path"]?.stringValue == "/metadata/annotations/a\"b\\c\n~0~1é\u{01}")
    }
}
