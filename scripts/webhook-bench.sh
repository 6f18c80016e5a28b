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

# The binary the Dockerfile ships, before `strip` (see scripts/release-build.sh).
scripts/release-build.sh >/dev/null
binary=$(scripts/release-build.sh --show-bin-path)/sharedlb

results=$(mktemp)
memory=$(mktemp -d)
# Where each server's RSS is, sampled every half second while it runs (the last sample is from
# the end of its load): anonymous memory (heap, stacks: the process's own) and file-backed pages
# (its binary and libraries, shared page cache the kernel can drop and refault).
sample_memory() {
    while :; do
        for spec in 'go=peer -addr 127\.0\.0\.1:[0-9]' 'sharedlb=sharedlb webhook --listen 127\.0\.0\.1:[0-9]'; do
            pid=$(pgrep -n -f -- "${spec#*=}") || continue
            awk '/^(VmRSS|RssAnon|RssFile):/ {printf "%s=%s ", $1, $2}' "/proc/$pid/status" >"$memory/new" 2>/dev/null \
                && mv "$memory/new" "$memory/${spec%%=*}"
        done
        sleep 0.5
    done
}
sample_memory &
sampler=$!
trap 'kill "$sampler" 2>/dev/null || true; rm -rf "$results" "$memory"' EXIT
# The load script's exit trap can fail after its figures are printed (it reads nginx's pid file,
# which nginx may already have removed): a missing figure still fails the summary below.
run_load() { bash "$load" "$@" || echo "webhook-bench: the load script exited with $? (ignored)" >&2; }
run_load go | tee -a "$results"
run_load nginx | tee -a "$results"
run_load cmd -- "$binary" webhook --listen '127.0.0.1:{port}' --cert '{cert}' --key '{key}' --threads 1 --log-level warning \
    | sed 's/^cmd /sharedlb /' | tee -a "$results"

kill "$sampler" 2>/dev/null || true
python3 - "$results" "$memory" <<'PY'
import os, re, sys
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
print(f"RSS sharedlb/go           {int(ours['rss_kb'])/int(go['rss_kb']):.2f}x   (goal <= 2x)")
memory = {}
for name in ("sharedlb", "go"):
    path = os.path.join(sys.argv[2], name)
    if os.path.exists(path):
        memory[name] = {k.rstrip(":"): int(v) for k, v in (f.split("=") for f in open(path).read().split())}
if len(memory) == 2:
    print()
    print(f"{'server':10} {'RSS MiB':>8} {'anon MiB':>9} {'file MiB':>9}   (sampled at the end of each load)")
    for name in ("sharedlb", "go"):
        m = memory[name]
        print(f"{name:10} {m['VmRSS']/1024:>8.1f} {m['RssAnon']/1024:>9.1f} {m['RssFile']/1024:>9.1f}")
    print(f"anonymous memory sharedlb/go {memory['sharedlb']['RssAnon']/memory['go']['RssAnon']:.2f}x")
for name, r in rows.items():
    if r.get("non2xx", "0") not in ("0", ""):
        print(f"WARNING: {name} answered {r['non2xx']} non-2xx responses")
PY
