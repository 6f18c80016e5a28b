import Foundation
import SharedLBCore
import Testing

/// Fixtures captured from kube-apiserver v1.24 (copied from shared/fixtures/kube-1.24);
/// `*.input.json` are the scenario manifests (`*.input.yaml`) converted to JSON.
enum Fixtures {
    static func data(_ name: String) throws -> Data {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures"))
        return try Data(contentsOf: url)
    }

    static func json(_ name: String) throws -> JSONValue {
        try JSONParser.parse(Array(try data(name)))
    }

    static func text(_ name: String) throws -> String {
        String(decoding: try data(name), as: UTF8.self)
    }
}
