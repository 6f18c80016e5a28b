import SharedLBCore
import Testing

@Suite("Applying JSON Patch and JSON Merge Patch")
struct JSONPatchApplyTests {
    func json(_ text: String) throws -> JSONValue {
        try JSONParser.parse(Array(text.utf8))
    }

    @Test(
        "every captured patch applies to its object exactly as the independent test applier does",
        arguments: [
            "01-apply-lb-plain", "02-create-lb-allfields", "03-ssa-create-lb", "03b-ssa-reapply-lb",
            "04-dryrun-create-lb",
            "05-reapply-changed-port", "09-lb-mixed-protocol", "10-lb-generatename", "11-lb-externalips",
            "11b-lb-externalips-etp-removed", "12-update-real-lb",
        ])
    func fixturePatches(scenario: String) throws {
        let object = try #require(try Fixtures.json("\(scenario).review.json")["request"]?["object"])
        let patchDocument = try Fixtures.json("\(scenario).patch.json")
        let patch = try JSONPatch(json: patchDocument)
        #expect(try patch.apply(to: object) == PatchApplier.apply(patchDocument, to: object))
        // Decoding and re-encoding a patch is lossless.
        #expect(try JSONParser.parse(patch.encoded) == patchDocument)
    }

    @Test(
        "patches that do not apply are errors, and leave nothing half-done",
        arguments: [
            (#"[{"op":"remove","path":"/spec/nope"}]"#, "Unable to remove nonexistent key: nope"),
            (#"[{"op":"replace","path":"/spec/nope","value":1}]"#, "doc is missing key"),
            (#"[{"op":"add","path":"/missing/child","value":1}]"#, "doc is missing path"),
            (#"[{"op":"add","path":"/spec/ports/5","value":1}]"#, "out of range"),
            (#"[{"op":"add","path":"/spec/ports/01","value":1}]"#, "invalid array index"),
            (#"[{"op":"add","path":"/spec/type/x","value":1}]"#, "has no members"),
            (#"[{"op":"move","from":"/a","path":"/b"}]"#, "unsupported operation"),
            (#"[{"op":"add","path":"spec"}]"#, "does not start with /"),
            (#"[{"op":"add","path":"/a~2","value":1}]"#, "invalid escape"),
            (#"{"op":"add"}"#, "must be an array"),
        ])
    func failures(patch: String, message: String) throws {
        let document = try json(#"{"spec":{"type":"ClusterIP","ports":[{"port":80}]}}"#)
        #expect {
            try JSONPatch(json: json(patch)).apply(to: document)
        } throws: { error in
            (error as? JSONPatchError)?.message.contains(message) == true
        }
    }

    @Test("array insertion, append with -, removal and escaped keys")
    func arrays() throws {
        let document = try json(#"{"a":[1,2],"m":{"x/y":1,"t~":2}}"#)
        let patch = try JSONPatch(
            json: json(
                #"[{"op":"add","path":"/a/0","value":0},{"op":"add","path":"/a/-","value":3},{"op":"remove","path":"/a/1"},{"op":"remove","path":"/m/x~1y"},{"op":"replace","path":"/m/t~0","value":5}]"#
            ))
        #expect(try patch.apply(to: document) == json(#"{"a":[0,2,3],"m":{"t~":5}}"#))
    }

    @Test("a replaced member keeps its place in the object")
    func orderKept() throws {
        let patched = try JSONPatch([.add(path: JSONPointer("b"), value: .number("9"))]).apply(
            to: json(#"{"a":1,"b":2,"c":3}"#))
        #expect(JSONWriter.encode(patched) == #"{"a":1,"b":9,"c":3}"#)
    }

    @Test(
        "merge patch: objects merge, null deletes, the rest replaces (RFC 7386 appendix A)",
        arguments: [
            (#"{"a":"b"}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
            (#"{"a":"b"}"#, #"{"b":"c"}"#, #"{"a":"b","b":"c"}"#),
            (#"{"a":"b"}"#, #"{"a":null}"#, #"{}"#),
            (#"{"a":"b","b":"c"}"#, #"{"a":null}"#, #"{"b":"c"}"#),
            (#"{"a":["b"]}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
            (#"{"a":"c"}"#, #"{"a":["b"]}"#, #"{"a":["b"]}"#),
            (#"{"a":{"b":"c"}}"#, #"{"a":{"b":"d","c":null}}"#, #"{"a":{"b":"d"}}"#),
            (#"{"a":[{"b":"c"}]}"#, #"{"a":[1]}"#, #"{"a":[1]}"#),
            (#"["a","b"]"#, #"["c","d"]"#, #"["c","d"]"#),
            (#"{"a":"b"}"#, #"["c"]"#, #"["c"]"#),
            (#"{"e":null}"#, #"{"a":1}"#, #"{"e":null,"a":1}"#),
            (#"[1,2]"#, #"{"a":"b","c":null}"#, #"{"a":"b"}"#),
            (#"{}"#, #"{"a":{"bb":{"ccc":null}}}"#, #"{"a":{"bb":{}}}"#),
        ])
    func mergePatch(target: String, patch: String, result: String) throws {
        #expect(JSONMergePatch.apply(try json(patch), to: try json(target)) == (try json(result)))
    }
}
