public import ArgumentParser
import SharedLBAllocation

extension ProviderPreset.Provider: ExpressibleByArgument {}

/// `--provider` and the flags whose defaults it sets (docs/OPERATIONS.md, "Provider presets").
struct ProviderOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The load-balancer implementation the shared LBs are made by.",
            discussion: """
                Sets the defaults of --max-ports-per-lb, --max-targets-per-lb, --mixed-protocol and \
                --failure-reason to what that implementation allows; each can still be given.
                """))
    var provider: ProviderPreset.Provider = .generic

    @Option(
        name: .customLong("max-ports-per-lb"),
        help: "Listeners per shared LB (default: the provider's; generic and AWS 50; at most 1000).")
    var maxPortsPerLB: Int?

    @Option(
        name: .customLong("max-targets-per-lb"),
        help:
            "Listeners × nodes per shared LB, where each listener registers every node (default: AWS 3000, else none; 0: none)."
    )
    var maxTargetsPerLB: Int?

    @Option(
        help: "allow: one shared LB may mix TCP, UDP and SCTP (default: the provider's; generic deny; needs v1.26+).")
    var mixedProtocol: MixedProtocol?

    @Option(
        name: .customLong("failure-reason"),
        help: "A Warning reason on a shared LB that means the cloud failed it; repeatable (default: the provider's).")
    var failureReasons: [String] = []

    var preset: ProviderPreset {
        var preset = ProviderPreset.preset(provider)
        if let maxPortsPerLB { preset.maximumPortsPerLB = maxPortsPerLB }
        if let maxTargetsPerLB { preset.maximumTargetsPerLB = maxTargetsPerLB == 0 ? nil : maxTargetsPerLB }
        if let mixedProtocol { preset.mixedProtocol = mixedProtocol == .allow }
        if !failureReasons.isEmpty { preset.failureReasons = Set(failureReasons) }
        return preset
    }

    func validate() throws {
        guard (1...PlacementConfiguration.portsPerLBLimit).contains(preset.maximumPortsPerLB) else {
            throw ValidationError("--max-ports-per-lb must be 1...\(PlacementConfiguration.portsPerLBLimit)")
        }
        if let maxTargetsPerLB, maxTargetsPerLB < 0 {
            throw ValidationError("--max-targets-per-lb must not be negative")
        }
    }
}
