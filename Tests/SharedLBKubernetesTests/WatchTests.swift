import SharedLBAPIServer
import SharedLBCore
import SharedLBKubernetes
import Testing

/// Waits until `condition` holds for the informer's store (see ``Informer/wait(timeout:until:)``).
func waitUntil<Object: KubernetesObject>(
    _ informer: Informer<Object>, timeout: Duration = .seconds(10),
    _ condition: @Sendable @escaping ([String: Object]) -> Bool
) async throws -> Bool {
    try await informer.wait(timeout: timeout, until: condition)
}

@Suite("Watches and the informer")
struct WatchTests {
    func configMap(_ name: String, _ value: String = "1") -> ConfigMap {
        ConfigMap(metadata: ObjectMeta(name: name, namespace: "default", labels: ["app": "x"]), data: ["v": value])
    }

    @Test("a watch from a list's resourceVersion sees each later change once, in order, with bookmarks")
    func watchInOrder() async throws {
        try await withCluster(bookmarkInterval: .milliseconds(20)) { client, _ in
            _ = try await client.create(configMap("before"))
            let list = try await client.list(ConfigMap.self, namespace: "default")
            _ = try await client.create(configMap("a"))
            var b = try await client.create(configMap("b"))
            b.data = ["v": "2"]
            _ = try await client.update(b)
            try await client.delete(ConfigMap.self, namespace: "default", name: "a")
            var seen: [String] = []
            var bookmarks = 0
            for try await event in client.watch(
                ConfigMap.self, namespace: "default", resourceVersion: list.metadata.resourceVersion, timeoutSeconds: 1)
            {
                if event.type == .bookmark {
                    bookmarks += 1
                    continue
                }
                seen.append("\(event.type.rawValue) \(event.object.metadata.name ?? "")")
            }
            #expect(seen == ["ADDED a", "ADDED b", "MODIFIED b", "DELETED a"])
            #expect(bookmarks > 0)
        }
    }

    @Test("an event longer than the bound ends the watch with an error instead of a growing buffer")
    func boundedLine() async throws {
        try await withCluster { client, _ in
            let list = try await client.list(ConfigMap.self, namespace: "default")
            _ = try await client.create(configMap("small"))
            _ = try await client.create(configMap("large", String(repeating: "x", count: 4096)))
            var seen: [String] = []
            await #expect {
                for try await event in client.watch(
                    ConfigMap.self, namespace: "default", resourceVersion: list.metadata.resourceVersion,
                    timeoutSeconds: 5, allowBookmarks: false, maximumEventBytes: 2048)
                {
                    seen.append(event.object.metadata.name ?? "")
                }
            } throws: { error in
                (error as? KubernetesError)?.kind == .decoding
                    && (error as? KubernetesError)?.message.contains("more than 2048 bytes") == true
            }
            #expect(seen == ["small"])
        }
    }

    @Test("a watch from a resourceVersion the server no longer has fails with .gone (in-stream ERROR 410)")
    func expired() async throws {
        try await withCluster { client, handler in
            _ = try await client.create(configMap("a"))
            handler.store.evictWatchCache()
            await #expect {
                for try await _ in client.watch(
                    ConfigMap.self, namespace: "default", resourceVersion: "1", timeoutSeconds: 5)
                {}
            } throws: { error in
                (error as? KubernetesError)?.kind == .gone
            }
        }
    }

    @Test("the informer follows changes across dropped connections and a 410, missing and duplicating nothing")
    func informerSurvivesFaults() async throws {
        try await withCluster { client, handler in
            _ = try await client.create(configMap("seed"))
            let informer = Informer(
                client: client, type: ConfigMap.self, namespace: nil, labelSelector: "app=x", watchTimeoutSeconds: 30)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await informer.run() }
                #expect(try await waitUntil(informer) { $0.keys.sorted() == ["default/seed"] })

                _ = try await client.create(configMap("one"))
                #expect(try await waitUntil(informer) { $0["default/one"] != nil })

                // The connection drops; changes made meanwhile arrive after the re-watch.
                handler.store.dropWatches()
                _ = try await client.create(configMap("two"))
                var one = try await client.get(ConfigMap.self, namespace: "default", name: "one")
                one.data = ["v": "changed"]
                _ = try await client.update(one)
                #expect(
                    try await waitUntil(informer) {
                        $0["default/two"] != nil && $0["default/one"]?.data == ["v": "changed"]
                    })
                #expect(informer.relistCount == 1)

                // History is compacted while the informer cannot reconnect: its re-watch gets 410
                // and it lists again.
                handler.inject(
                    .init(verb: "watch", resource: "configmaps", count: 1_000_000, status: .internalError("restarting"))
                )
                handler.store.dropWatches()
                try await client.delete(ConfigMap.self, namespace: "default", name: "seed")
                _ = try await client.create(configMap("three"))
                handler.store.evictWatchCache()
                handler.clearFaults()
                #expect(
                    try await waitUntil(informer) { Set($0.keys) == ["default/one", "default/two", "default/three"] })
                #expect(informer.relistCount >= 2)
                let server = try await client.listAll(ConfigMap.self, namespace: nil, labelSelector: "app=x")
                #expect(
                    informer.snapshot().mapValues(\.metadata.resourceVersion)
                        == Dictionary(
                            uniqueKeysWithValues: server.items.map {
                                ("default/\($0.metadata.name!)", $0.metadata.resourceVersion)
                            }))
                group.cancelAll()
            }
        }
    }
}

@Suite("API server restarts")
struct RestartTests {
    @Test("requests and the informer carry on across a restart; state is kept")
    func restart() async throws {
        try await withCluster { client, _, server in
            _ = try await client.create(
                ConfigMap(metadata: ObjectMeta(name: "before", namespace: "default", labels: ["app": "x"])))
            let informer = Informer(client: client, type: ConfigMap.self, namespace: nil, labelSelector: "app=x")
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await informer.run() }
                #expect(try await waitUntil(informer) { $0["default/before"] != nil })
                await server.restart()
                let kept = try await client.get(ConfigMap.self, namespace: "default", name: "before")
                #expect(kept.metadata.name == "before")
                _ = try await client.create(
                    ConfigMap(metadata: ObjectMeta(name: "after", namespace: "default", labels: ["app": "x"])))
                #expect(try await waitUntil(informer) { Set($0.keys) == ["default/before", "default/after"] })
                group.cancelAll()
            }
        }
    }
}
