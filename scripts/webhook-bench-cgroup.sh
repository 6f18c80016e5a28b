#!/usr/bin/env bash
# The webhook at its default settings inside a cgroup limited to CGROUP_CPUS CPUs (default 1), as
# in a pod with `limits.cpu: 1` on a bigger node, against the Go peer at its defaults in the same
# cgroup; wrk runs outside it, pinned to the last CPU. Neither server is pinned or told its
# thread count: SharedLB reads its affinity and cgroup quota (AvailableCPUs), Go 1.19 does not
# (GOMAXPROCS = the node's CPUs). For contrast, SharedLB is also run with --threads = the
# machine's CPUs (SwiftNIO's own default, System.coreCount, before AvailableCPUs).
#
#   scripts/webhook-bench-cgroup.sh                 # 10 s per server, 32 connections, 1 CPU
#   CGROUP_CPUS=1 SECONDS_PER_RUN=20 scripts/webhook-bench-cgroup.sh
#
# Needs root (it makes a cgroup), wrk, go 1.19, openssl, and ../shared/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
load=${LOAD_SCRIPT:-../shared/bench/webhook-load.sh}
peer_source=$(dirname "$load")/peer-go-webhook.go
cpus=${CGROUP_CPUS:-1}
for tool in wrk openssl taskset nproc; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y golang-1.19-go wrk openssl" >&2; exit 2; }
done
scripts/release-build.sh >/dev/null
binary=$(scripts/release-build.sh --show-bin-path)/sharedlb

work=$(mktemp -d)
# cgroup v2 if the cpu controller is there, else v1's cpu hierarchy.
if [ -f /sys/fs/cgroup/cgroup.controllers ] && grep -qw cpu /sys/fs/cgroup/cgroup.controllers; then
    group=/sys/fs/cgroup/sharedlb-bench-$$
    mkdir "$group"
    echo "$((cpus * 100000)) 100000" >"$group/cpu.max"
    procs=$group/cgroup.procs
else
    group=/sys/fs/cgroup/cpu/sharedlb-bench-$$
    mkdir "$group"
    echo 100000 >"$group/cpu.cfs_period_us"
    echo "$((cpus * 100000))" >"$group/cpu.cfs_quota_us"
    procs=$group/tasks
fi
trap 'rmdir "$group" 2>/dev/null || true; rm -rf "$work"' EXIT
all="0-$(($(nproc) - 1))"
# The load script pins what it starts to CPU 0; this undoes the pin and moves the server
# into the cgroup, so only the quota limits it.
cat >"$work/in-cgroup.sh" <<SH
#!/usr/bin/env bash
echo \$\$ > "$procs"
exec taskset -c "$all" "\$@"
SH
chmod +x "$work/in-cgroup.sh"

export PATH=/usr/lib/go-1.19/bin:$PATH GOFLAGS=-mod=mod GOPROXY=off GOCACHE="$work/gocache"
mkdir "$work/go" && cp "$peer_source" "$work/go/main.go" && printf 'module peer\n\ngo 1.19\n' >"$work/go/go.mod"
(cd "$work/go" && go build -o "$work/peer" .)

results=$work/results
run() { # name, command...
    local name=$1; shift
    bash "$load" cmd -- "$work/in-cgroup.sh" "$@" | sed "s/^cmd /$name /" | tee -a "$results" \
        || echo "webhook-bench-cgroup: the load script exited with $? (ignored)" >&2
}
run go "$work/peer" -addr '127.0.0.1:{port}' -cert '{cert}' -key '{key}'
run sharedlb "$binary" webhook --listen '127.0.0.1:{port}' --cert '{cert}' --key '{key}' --log-level warning
run sharedlb-nio-default "$binary" webhook --listen '127.0.0.1:{port}' --cert '{cert}' --key '{key}' \
    --threads "$(nproc)" --log-level warning

python3 - "$results" "$cpus" "$(nproc)" <<'PY'
import re, sys
rows = {}
for line in open(sys.argv[1]):
    name, *fields = line.split()
    rows[name] = dict(f.split("=", 1) for f in fields)
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
print()
print(f"defaults inside a cgroup of {sys.argv[2]} CPU on a {sys.argv[3]}-CPU machine")
print(f"{'server':22} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
for name in ("sharedlb", "go", "sharedlb-nio-default"):
    r = rows[name]
    print(f"{name:22} {float(r['rps']):>10.0f} {ms(r['p50']):>8.3f} {ms(r['p99']):>8.3f}")
ours, go = rows["sharedlb"], rows["go"]
print()
print(f"throughput sharedlb/go {float(ours['rps'])/float(go['rps']):.2f}x   (goal >= 1.5x)")
print(f"p99 sharedlb/go        {ms(ours['p99'])/ms(go['p99']):.2f}x   (goal <= 1.0x)")
for name, r in rows.items():
    if r.get("non2xx", "0") not in ("0", ""):
        print(f"WARNING: {name} answered {r['non2xx']} non-2xx responses")
PY
