import SharedLBCore
import Testing

@Suite("JSON parser")
struct JSONParserTests {
    func parse(_ text: String) throws -> JSONValue {
        try JSONParser.parse(Array(text.utf8))
    }

    @Test("scalars, escapes and surrogate pairs")
    func values() throws {
        #expect(
            try parse(#" {"a":[1,-2.5e3,true,false,null,"x\u00e9\ud83d\ude00\n\/"]} "#)
                == .object(
                    JSONObject([
                        (
                            "a",
                            .array([
                                .number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null, .string("xé😀\n/"),
                            ])
                        )
                    ])))
        #expect(try parse(#""héllo""#) == .string("héllo"))
    }

    @Test(
        "invalid documents are rejected, never trapped on",
        arguments: [
            "", " ", "{", "}", "[1,]", "{\"a\":}", "{\"a\" 1}", "01", "1.", "-", "1e", "tru", "nul", "\"abc",
            "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00x\"", "{\"a\":1}x", "[1 2]", "\"a\u{01}b\"", "{1:2}",
        ])
    func rejects(text: String) {
        #expect(throws: JSONParseError.self) { try parse(text) }
    }

    @Test(
        "invalid UTF-8 is rejected",
        arguments: [
            [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xF5, 0x22], [0x22, 0xE2, 0x82, 0x22],
        ])
    func invalidUTF8(bytes: [UInt8]) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(bytes) }
    }

    @Test("nesting is bounded, so deep input cannot exhaust the stack")
    func depth() throws {
        let deep = Array(repeating: UInt8(ascii: "["), count: 1_000_000)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
        let allowed = String(repeating: "[", count: 128) + String(repeating: "]", count: 128)
        #expect(throws: Never.self) { try parse(allowed) }
        let tooDeep = String(repeating: "{\"a\":", count: 129) + "1" + String(repeating: "}", count: 129)
        #expect(throws: JSONParseError.self) { try parse(tooDeep) }
    }

    @Test("fixtures round-trip through the writer unchanged", arguments: Fixtures.scenarios)
    func roundTrip(scenario: String) throws {
        let value = try Fixtures.json("\(scenario).review.json")
        #expect(try parse(JSONWriter.encode(value)) == value)
    }

    @Test("a skipped member is left out and nothing else changes", arguments: Fixtures.scenarios)
    func skipping(scenario: String) throws {
        let body = try Fixtures.compactReview(scenario)
        let full = try JSONParser.parse(body)
        let skipped = try JSONParser.parse(body, skipping: .managedFields)
        // Byte for byte: the same members in the same order, duplicates included.
        #expect(JSONWriter.encode(skipped) == JSONWriter.encode(full.removing(.managedFields)))
        #expect(skipped["request"]?["object"]?["metadata"]?["managedFields"] == nil)
    }

    @Test(
        "a skipped member is checked as strictly as the rest: the same error at the same byte",
        arguments: [
            #"{"metadata":{"managedFields":[{"f:a":"\ud800"}]}"#, "{\"metadata\":{\"managedFields\":\"a\u{01}\"}}",
            #"{"metadata":{"managedFields":[1,]}"#,
            #"{"metadata":{"managedFields":{"a" 1}}"#, #"{"metadata":{"managedFields":{1:2}}"#,
            #"{"metadata":{"managedFields":"\x"}"#,
            #"{"metadata":{"managedFields":[tru]}"#, #"{"metadata":{"managedFields":01}"#,
            #"{"metadata":{"managedFields":["abc]}"#,
            #"{"metadata":{"managedFields":{"a":[}]}"#, #"{"metadata":{"managedFields":[[["ok"]]],"b":}"#,
            #"{"metadata":{"managedFields":"# + String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
                + "}",
        ])
    func skippingErrors(text: String) {
        var expected: JSONParseError?
        do { _ = try JSONParser.parse(Array(text.utf8)) } catch { expected = error }
        var actual: JSONParseError?
        do { _ = try JSONParser.parse(Array(text.utf8), skipping: .managedFields) } catch { actual = error }
        #expect(expected != nil)
        #expect(actual == expected)
    }

    @Test(
        "invalid UTF-8 in a skipped member is rejected",
        arguments: [[0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF5]] as [[UInt8]])
    func skippingInvalidUTF8(bytes: [UInt8]) {
        let document = Array(#"{"metadata":{"managedFields":[""#.utf8) + bytes + Array(#""]}}"#.utf8)
        var expected: JSONParseError?
        do { _ = try JSONParser.parse(document) } catch { expected = error }
        var actual: JSONParseError?
        do { _ = try JSONParser.parse(document, skipping: .managedFields) } catch { actual = error }
        #expect(expected != nil)
        #expect(actual == expected)
    }

    @Test("only metadata.managedFields is skipped: a label, an annotation or a spec field of that name is kept")
    func skipsOnlyMetadata() throws {
        let text =
            #"{"metadata":{"labels":{"managedFields":"a"},"annotations":{"managedFields":"b"},"managedFields":[]},"spec":{"managedFields":1},"managedFields":2}"#
        let skipped = try JSONParser.parse(Array(text.utf8), skipping: .managedFields)
        #expect(
            JSONWriter.encode(skipped)
                == #"{"metadata":{"labels":{"managedFields":"a"},"annotations":{"managedFields":"b"}},"spec":{"managedFields":1},"managedFields":2}"#
        )
    }

    @Test("sorted output orders keys bytewise at every level")
    func sortedKeys() throws {
        #expect(
            JSONWriter.encode(try parse(#"{"b":{"z":1,"a":2},"a":[{"y":1,"x":2}]}"#), sortedKeys: true)
                == #"{"a":[{"x":2,"y":1}],"b":{"a":2,"z":1}}"#)
    }

    /// Property: no byte sequence crashes the parser or the reviewer. Mutations of real
    /// reviews reach deep into the grammar; pure noise covers the rest.
    @Test("random and mutated inputs never crash the reviewer")
    func mutationProperty() throws {
        var generator = SplitMix64(seed: 0x5A4E_D1B0)
        let reviewer = AdmissionReviewer(policy: ConversionPolicy())
        let seeds = try Fixtures.scenarios.map { try Fixtures.compactReview($0) }
        var accepted = 0
        for round in 0..<4000 {
            var bytes = seeds[round % seeds.count]
            for _ in 0...(generator.next() % 4) {
                let position = Int(generator.next() % UInt64(bytes.count))
                switch generator.next() % 4 {
                case 0: bytes[position] = UInt8(truncatingIfNeeded: generator.next())
                case 1: bytes.remove(at: position)
                case 2: bytes.insert(Array("{}[]\",:0\\".utf8)[Int(generator.next() % 9)], at: position)
                default: bytes = Array(bytes[..<position])
                }
                if bytes.isEmpty { break }
            }
            if let outcome = try? reviewer.review(bytes) {
                accepted += 1
                _ = outcome.responseBody()
            }
            let noise = (0..<Int(generator.next() % 64)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            _ = try? reviewer.review(noise)
        }
        // Some mutations land in string contents and still decode: both paths are exercised.
        #expect(accepted > 100)
        #expect(accepted < 4000)
    }
}

/// A small deterministic generator, so a failing input can be reproduced.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("JSON object equality")
struct JSONObjectEqualityTests {
    @Test("a duplicated key counts once with its last value, so every object equals itself (found by fuzzing)")
    func duplicates() throws {
        let twice = try JSONParser.parse(Array(#"{"kind":{},"name":"dns","kind":"Service"}"#.utf8))
        #expect(twice == twice)
        let once = try JSONParser.parse(Array(#"{"name":"dns","kind":"Service"}"#.utf8))
        #expect(twice == once)
        #expect(twice.hashValue == once.hashValue)
        #expect(twice != (try JSONParser.parse(Array(#"{"name":"dns","kind":{}}"#.utf8))))
        #expect(once == (try JSONParser.parse(Array(#"{"kind":"Service","name":"dns"}"#.utf8))))
        #expect(once != (try JSONParser.parse(Array(#"{"kind":"Service"}"#.utf8))))
    }

    @Test("the fuzzer's crasher: a review with duplicated keys parses the same with and without skipping")
    func fuzzCrasher() throws {
        let body = Array(try Fixtures.data("fuzz-crash-duplicate-keys.json"))
        let full = try JSONParser.parse(body)
        #expect(full == full)
        #expect(try JSONParser.parse(body, skipping: .managedFields) == full)
        // And the reviewer answers it (a request that is not a Service create/update passes).
        #expect(throws: Never.self) { try AdmissionReviewer(policy: ConversionPolicy()).review(body) }
    }
}
