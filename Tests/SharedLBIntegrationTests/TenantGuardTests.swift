import Foundation
import SharedLBCore
import SharedLBEnvtest
import SharedLBKubernetes
import Testing

/// The tenant-guard overlay's ValidatingAdmissionPolicies (GA since v1.30) on a real API server,
/// behind the webhook: validating admission sees the Service already converted to ClusterIP, so
/// the policies look at annotations only.
@Suite("Tenant guard overlay on a real API server")
struct TenantGuardTests {
    static let overlay = repositoryRoot.appending(path: "manifests/overlays/tenant-guard")

    static func service(_ name: String, _ namespace: String, _ annotations: [String: String] = [:]) -> KubeService {
        loadBalancer(name, namespace: namespace, ports: [(80, "TCP")], annotations: annotations)
    }

    static func merge(_ text: String) throws -> KubernetesClient.Patch {
        .merge(try JSONParser.parse(Array(text.utf8)))
    }

    @Test(
        "sharedlb.io/pool and sharedlb.io/dedicated only in labelled namespaces; other Services, and updates that keep the value, pass",
        .enabled(if: findExecutable("kubectl") != nil, "needs kubectl"),
        arguments: KubeAssets.versions.filter { $0.minor >= 30 }.map(Backend.real))
    func tenantGuard(backend: Backend) async throws {
        try await TestEnvironment.run(on: backend) { environment in
            let plane = try #require(environment.plane)
            let client = environment.client
            try await environment.register(failurePolicy: .fail)
            for file in ["pool-guard.yaml", "dedicated-guard.yaml"] {
                let applied = try await plane.kubectl(["apply", "-f", Self.overlay.appending(path: file).path])
                try #require(applied.succeeded, "\(applied)")
            }
            let grants = ["pool.sharedlb.io/gold": "allowed", "sharedlb.io/allow-dedicated": "true"]
            _ = try await client.create(Namespace(metadata: ObjectMeta(name: "team-a", labels: grants)))
            _ = try await client.create(Namespace(metadata: ObjectMeta(name: "team-b")))
            let gold = ["sharedlb.io/pool": "gold"]
            let dedicated = ["sharedlb.io/dedicated": "true"]

            /// Why the API server refuses `service` now (a server-side dry run), nil when it admits it.
            func refusal(_ service: KubeService) async throws -> KubernetesError? {
                do {
                    _ = try await client.create(service, dryRun: true)
                    return nil
                } catch {
                    guard error.kind == .forbidden || error.kind == .invalid else { throw error }
                    return error
                }
            }
            /// kube-apiserver loads webhook registrations, policies, bindings and namespace labels
            /// through informers, a moment after they are written: probe (dry runs, nothing is
            /// stored) until `condition` holds, as `waitForRegistration` does for webhooks.
            func eventually(_ what: String, _ condition: () async throws -> Bool) async throws {
                let deadline = ContinuousClock.now + .seconds(20)
                while try await !condition() {
                    if ContinuousClock.now >= deadline {
                        Issue.record("\(what): not within 20 s")
                        return
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            try await eventually("the webhook converts and both policies refuse") {
                let converted = try await client.create(Self.service("probe", "team-a"), dryRun: true)
                let pool = try await refusal(Self.service("probe", "team-b", gold))
                let optOut = try await refusal(Self.service("probe", "team-b", dedicated))
                return converted.spec?.type == "ClusterIP" && pool != nil && optOut != nil
            }

            // Pools: allowed where the namespace has the label, converted as usual.
            let web = try await client.create(Self.service("web", "team-a", gold))
            #expect(web.spec?.type == "ClusterIP")
            #expect(web.metadata.labels?[SharedLBNames.managedLabel] == "true")
            #expect(web.metadata.annotations?[SharedLBNames.poolAnnotation] == "gold")
            let refused = try await refusal(Self.service("web", "team-b", gold))
            #expect(refused?.kind == .forbidden, "\(String(describing: refused))")
            #expect(
                refused?.message.contains(
                    "namespace team-b may not use sharedlb.io/pool=gold: label the namespace pool.sharedlb.io/gold=allowed"
                ) == true, "\(String(describing: refused))")
            // Without the annotation (or with an empty one: the default pool) nothing changes.
            let plain = try await client.create(Self.service("plain", "team-b"))
            #expect(plain.spec?.type == "ClusterIP")
            #expect(try await refusal(Self.service("empty", "team-b", ["sharedlb.io/pool": ""])) == nil)
            // A value no label can grant.
            let invalid = try await refusal(Self.service("bad", "team-a", ["sharedlb.io/pool": "gold/eu"]))
            #expect(invalid?.kind == .invalid, "\(String(describing: invalid))")
            #expect(
                invalid?.message.contains("sharedlb.io/pool=gold/eu is not a valid label name") == true,
                "\(String(describing: invalid))")
            // Joining a pool later is joining too.
            await #expect(throws: KubernetesError.self) {
                try await client.patch(
                    KubeService.self, namespace: "team-b", name: "plain",
                    patch: try Self.merge(#"{"metadata":{"annotations":{"sharedlb.io/pool":"gold"}}}"#))
            }

            // Dedicated LBs: kept as a LoadBalancer where allowed, refused elsewhere.
            let own = try await client.create(Self.service("own", "team-a", dedicated))
            #expect(own.spec?.type == "LoadBalancer")
            let ownRefused = try await refusal(Self.service("own", "team-b", dedicated))
            #expect(ownRefused?.kind == .forbidden, "\(String(describing: ownRefused))")
            #expect(
                ownRefused?.message.contains(
                    "namespace team-b may not use sharedlb.io/dedicated=true (a load balancer of its own): label the namespace sharedlb.io/allow-dedicated=true"
                ) == true, "\(String(describing: ownRefused))")
            #expect(try await refusal(Self.service("other", "team-b", ["sharedlb.io/dedicated": "false"])) == nil)

            // Labels removed: new Services are refused once the API server sees it ...
            _ = try await client.patch(
                Namespace.self, namespace: nil, name: "team-a",
                patch: try Self.merge(
                    #"{"metadata":{"labels":{"pool.sharedlb.io/gold":null,"sharedlb.io/allow-dedicated":null}}}"#))
            try await eventually("the removed labels refuse new Services") {
                let pool = try await refusal(Self.service("web2", "team-a", gold))
                let optOut = try await refusal(Self.service("own2", "team-a", dedicated))
                return pool != nil && optOut != nil
            }
            // ... while updates that keep the value go on: an annotation edit, and a re-apply of
            // the LoadBalancer manifest (converted again).
            let edited = try await client.patch(
                KubeService.self, namespace: "team-a", name: "web",
                patch: try Self.merge(#"{"metadata":{"annotations":{"note":"edited"}}}"#))
            #expect(edited.metadata.annotations?[SharedLBNames.poolAnnotation] == "gold")
            let reapplied = try await client.patch(
                KubeService.self, namespace: "team-a", name: "web",
                patch: try Self.merge(#"{"spec":{"type":"LoadBalancer"}}"#))
            #expect(reapplied.spec?.type == "ClusterIP")
            let ownEdited = try await client.patch(
                KubeService.self, namespace: "team-a", name: "own",
                patch: try Self.merge(#"{"metadata":{"annotations":{"note":"edited"}}}"#))
            #expect(ownEdited.spec?.type == "LoadBalancer")
            // Moving to another pool is joining it.
            await #expect(throws: KubernetesError.self) {
                try await client.patch(
                    KubeService.self, namespace: "team-a", name: "web",
                    patch: try Self.merge(#"{"metadata":{"annotations":{"sharedlb.io/pool":"silver"}}}"#))
            }
        }
    }
}
