import Testing

@testable import SharedLBAPIServer

@Suite("Label selectors")
struct LabelSelectorTests {
    let labels = ["sharedlb.io/managed": "true", "app": "web", "tier": "frontend"]

    @Test(
        "matching",
        arguments: [
            ("", true), ("sharedlb.io/managed=true", true), ("sharedlb.io/managed==true", true), ("app!=web", false),
            ("app!=db", true), ("tier in (frontend, backend)", true), ("tier notin (frontend)", false),
            ("missing notin (x)", true), ("missing in (x)", false), ("app", true), ("!app", false), ("!missing", true),
            ("app=web,tier=frontend", true), ("app=web,tier=backend", false), (" app = web ", true),
            ("sharedlb.io/role!=shared-lb", true),
        ])
    func matching(selector: String, expected: Bool) throws {
        #expect(try LabelSelector(parsing: selector).matches(labels) == expected)
    }

    @Test(
        "malformed selectors are 400 Bad Request",
        arguments: ["app in x", "a in ()", "=x", "a=b=c d", "a b", "tier in (a,)"])
    func malformed(selector: String) {
        #expect {
            try LabelSelector(parsing: selector)
        } throws: { error in
            (error as? APIStatus)?.code == 400
        }
    }
}
