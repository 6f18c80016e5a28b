#!/usr/bin/env bash
# Side-by-side webhook benchmark: the Go standard-library peer, nginx returning a fixed
# response (the TLS + HTTP limit of this machine) and `sharedlb webhook`, each pinned to
# CPU 0 with wrk on CPU 1, in one run. Prints each server's numbers and SharedLB's ratios.
#
#   scripts/webhook-bench.sh                  # 10 s per server, 32 connections
#   SECONDS_PER_RUN=20 CONNS=64 scripts/webhook-bench.sh
#   BODY=path/to/review.json scripts/webhook-bench.sh
#
# Needs: wrk, nginx, go 1.19, openssl (apt-get install -y golang-1.19-go wrk nginx-light openssl)
# and ../shared/bench/webhook-load.sh beside this repository. Like the Go peer (GOMAXPROCS=1),
# SharedLB runs one event-loop thread (--threads 1) on its one pinned CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
load=${LOAD_SCRIPT:-../shared/bench/webhook-load.sh}
[ -x "$load" ] || [ -f "$load" ] || { echo "missing $load" >&2; exit 2; }
for tool in wrk nginx openssl taskset; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y golang-1.19-go wrk nginx-light openssl" >&2; exit 2; }
done

# The binary the Dockerfile ships: the Swift runtime linked in statically.
swift build -c release --static-swift-stdlib --product sharedlb >/dev/null
binary=$(swift build -c release --show-bin-path)/sharedlb

results=$(mktemp)
trap 'rm -f "$results"' EXIT
bash "$load" go | tee -a "$results"
bash "$load" nginx | tee -a "$results"
bash "$load" cmd -- "$binary" webhook --listen '127.0.0.1:{port}' --cert '{cert}' --key '{key}' --threads 1 --log-level warning \
    | sed 's/^cmd /sharedlb /' | tee -a "$results"

python3 - "$results" <<'PY'
import re, sys
rows = {}
for line in open(sys.argv[1]):
    name, *fields = line.split()
    rows[name] = dict(f.split("=", 1) for f in fields)
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
ours = rows["sharedlb"]
print()
print(f"{'server':10} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'RSS MiB':>8}")
for name in ("sharedlb", "go", "nginx"):
    r = rows[name]
    print(f"{name:10} {float(r['rps']):>10.0f} {ms(r['p50']):>8.3f} {ms(r['p99']):>8.3f} {int(r['rss_kb'])/1024:>8.1f}")
go, nginx = rows["go"], rows["nginx"]
print()
print(f"throughput sharedlb/go    {float(ours['rps'])/float(go['rps']):.2f}x   (goal >= 1.5x)")
print(f"throughput sharedlb/nginx {float(ours['rps'])/float(nginx['rps']):.2f}x   (the TLS+HTTP limit)")
print(f"p99 sharedlb/go           {ms(ours['p99'])/ms(go['p99']):.2f}x   (goal <= 1.0x)")
print(f"RSS sharedlb/go           {int(ours['rss_kb'])/int(go['rss_kb']):.2f}x   (goal <= 1.5x)")
for name, r in rows.items():
    if r.get("non2xx", "0") not in ("0", ""):
        print(f"WARNING: {name} answered {r['non2xx']} non-2xx responses")
PY
