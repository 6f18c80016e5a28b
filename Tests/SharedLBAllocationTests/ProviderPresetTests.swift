import SharedLBAllocation
import SharedLBCore
import Testing

@Suite("Provider presets")
struct ProviderPresetTests {
    @Test("generic is today's behaviour; each preset sets its implementation's caps, protocols and failure reasons")
    func presets() {
        let generic = ProviderPreset.preset(.generic)
        let defaults = PlacementConfiguration()
        #expect(
            generic.maximumPortsPerLB == defaults.maximumPortsPerLB && generic.mixedProtocol == defaults.mixedProtocol)
        #expect(generic.maximumTargetsPerLB == nil && generic.failureReasons == nil)
        #expect(ProviderPreset.preset(.awsNLB).maximumTargetsPerLB == 3000)
        #expect(!ProviderPreset.preset(.awsNLB).mixedProtocol)
        let lbc = ProviderPreset.preset(.awsLBC)
        #expect(
            lbc.mixedProtocol && lbc.mixedProtocolAnnotations.keys.contains { $0.hasSuffix("enable-tcp-udp-listener") })
        #expect(ProviderPreset.preset(.metallb).maximumPortsPerLB == PlacementConfiguration.portsPerLBLimit)
        for provider in ProviderPreset.Provider.allCases {
            let preset = ProviderPreset.preset(provider)
            #expect((1...PlacementConfiguration.portsPerLBLimit).contains(preset.maximumPortsPerLB), "\(provider)")
        }
    }

    @Test("a preset's failure reasons decide which Warnings fail a shared LB")
    func failureReasons() {
        func event(_ reason: String) -> Event {
            Event(
                metadata: ObjectMeta(name: "lb.\(reason)", namespace: "sharedlb-system"),
                eventTime: "2026-12-05T00:00:00.000000Z", reportingController: "x", reportingInstance: "x",
                action: "Sync", reason: reason,
                regarding: ObjectReference(kind: "Service", namespace: "sharedlb-system", name: "lb"), note: "no",
                type: "Warning")
        }
        let metallb = ProviderPreset.preset(.metallb).failureReasons!
        let aks = ProviderPreset.preset(.aks).failureReasons!
        // MetalLB's pool exhaustion ends in Failed, its invalid-address one does not.
        #expect(!LoadBalancerHealth.failures(events: [event("LoadBalancerFailed")], sharedServices: ["lb"]).isEmpty)
        #expect(LoadBalancerHealth.failures(events: [event("InternalError")], sharedServices: ["lb"]).isEmpty)
        #expect(
            !LoadBalancerHealth.failures(
                events: [event("InternalError")], sharedServices: ["lb"], isFailure: metallb.contains
            ).isEmpty)
        // Azure's own Warnings are failures only for aks; a reason of another implementation is not.
        #expect(
            !LoadBalancerHealth.failures(
                events: [event("CreateOrUpdatePublicIPAddress")], sharedServices: ["lb"], isFailure: aks.contains
            ).isEmpty)
        #expect(
            LoadBalancerHealth.failures(
                events: [event("FailedDeployModel")], sharedServices: ["lb"], isFailure: aks.contains
            ).isEmpty)
    }

    @Test("the targets cap: listeners × nodes per shared LB; a mixed LB gets the implementation's annotation")
    func targets() {
        var configuration = PlacementConfiguration(maximumTargetsPerLB: 3000)
        #expect(configuration.portsPerLB == 50, "nodes not known yet: the listener cap alone")
        configuration.nodes = 100
        #expect(configuration.portsPerLB == 30)
        configuration.nodes = 5000
        #expect(configuration.portsPerLB == 1)
        configuration.nodes = 2
        configuration.maximumTargetsPerLB = 4
        let members = (0..<5).map { member("x", "m\($0)", ports: [(80 + $0, "TCP")]) }
        let placement = Planner.plan(members: members, shards: [], configuration: configuration)
        placement.checkInvariants(members: members, configuration: configuration)
        #expect(placement.shards.values.map(\.allocations.count).sorted() == [1, 2, 2])
        let wide = member("x", "wide", ports: [(90, "TCP"), (91, "TCP"), (92, "TCP")])
        let refused = Planner.plan(members: [wide], shards: [], configuration: configuration)
        #expect(refused.failures[wide.uid]?.contains("--max-targets-per-lb 4 over 2 nodes") == true)

        let dns = member("x", "dns", ports: [(53, "TCP"), (53, "UDP")])
        let mixed = Planner.plan(members: [dns], shards: [], configuration: PlacementConfiguration(mixedProtocol: true))
        let shard = mixed.shards.values.first!
        let lbc = ProviderPreset.preset(.awsLBC).mixedProtocolAnnotations
        let made = SharedService.make(shard: shard, namespace: "sharedlb-system", hostnames: [], mixedProtocol: lbc)
        #expect(made.metadata.annotations?.contains { lbc[$0.key] == $0.value } == true)
        let web = member("x", "web", ports: [(80, "TCP")])
        let single = Planner.plan(members: [web], shards: [], configuration: configuration).shards.values.first!
        let plain = SharedService.make(shard: single, namespace: "sharedlb-system", hostnames: [], mixedProtocol: lbc)
        #expect(plain.metadata.annotations?.keys.contains { lbc[$0] != nil } != true)
    }
}
