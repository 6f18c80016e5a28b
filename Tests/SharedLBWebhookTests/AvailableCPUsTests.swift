import Testing

@testable import SharedLBWebhook

@Suite("The CPUs the webhook may use")
struct AvailableCPUsTests {
    @Test(
        "affinity lists count each CPU once",
        arguments: [
            ("Name:\tx\nCpus_allowed:\tff\nCpus_allowed_list:\t0-3,8,10-11\n", 7),
            ("Cpus_allowed_list:\t0\n", 1), ("Cpus_allowed_list:\t0-1\n", 2),
        ])
    func affinity(status: String, expected: Int) {
        #expect(AvailableCPUs.allowedCPUs(status: status) == expected)
    }

    @Test("the tightest quota of the process's cgroup and its ancestors, rounded up; none when unlimited")
    func quota() {
        // cgroup v1 (this CI machine's layout): a one-CPU group below the root.
        let v1 = "4:memory:/x\n2:cpu,cpuacct:/bench/one\n0::/\n"
        let v1Files = [
            "/sys/fs/cgroup/cpu,cpuacct/bench/one/cpu.cfs_quota_us": "100000\n",
            "/sys/fs/cgroup/cpu,cpuacct/bench/one/cpu.cfs_period_us": "100000\n",
            "/sys/fs/cgroup/cpu,cpuacct/bench/cpu.cfs_quota_us": "-1\n",
            "/sys/fs/cgroup/cpu,cpuacct/bench/cpu.cfs_period_us": "100000\n",
        ]
        #expect(AvailableCPUs.quota(cgroups: v1, read: { v1Files[$0] }) == 1)
        // cgroup v2: 1.5 CPUs on the pod, 4 on its parent.
        let v2 = "0::/kubepods/pod1/ctr\n"
        let v2Files = [
            "/sys/fs/cgroup/kubepods/pod1/ctr/cpu.max": "max 100000\n",
            "/sys/fs/cgroup/kubepods/pod1/cpu.max": "150000 100000\n",
            "/sys/fs/cgroup/kubepods/cpu.max": "400000 100000\n",
        ]
        #expect(AvailableCPUs.quota(cgroups: v2, read: { v2Files[$0] }) == 2)
        // A container's own cgroup namespace: the path is `/`, the root holds its limit.
        #expect(
            AvailableCPUs.quota(cgroups: "0::/\n", read: { ["/sys/fs/cgroup/cpu.max": "50000 100000"][$0] }) == 1)
        #expect(AvailableCPUs.quota(cgroups: "0::/\n", read: { ["/sys/fs/cgroup/cpu.max": "max 100000"][$0] }) == nil)
        #expect(AvailableCPUs.quota(cgroups: "", read: { _ in nil }) == nil)
    }

    @Test("on this machine: at least one, at most the online CPUs")
    func here() {
        let count = AvailableCPUs.count()
        #expect(count >= 1)
        #expect(count <= AvailableCPUs.affinity() ?? count)
    }
}
