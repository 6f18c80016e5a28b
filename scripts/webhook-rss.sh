#!/usr/bin/env bash
# The webhook's resident set for one binary, at start and after 5 s of load: total, anonymous
# (its own memory) and file-backed (code and read-only data mapped from the page cache), and
# req/s. For comparing builds one after the other (docs/PERFORMANCE.md, "Release build"):
#   scripts/webhook-rss.sh "$(scripts/release-build.sh --show-bin-path)/sharedlb"
# Needs wrk, openssl, curl, taskset; the webhook runs one event loop on CPU 0, wrk on CPU 1.
set -euo pipefail
binary=${1:?usage: webhook-rss.sh BINARY}
review=${BODY:-$(dirname "$0")/../../shared/fixtures/kube-1.24/admission/01-apply-lb-plain.review.json}
work=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -keyout "$work/tls.key" \
    -out "$work/tls.crt" -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
python3 -c 'import json, sys; json.dump(json.load(open(sys.argv[1])), open(sys.argv[2], "w"), separators=(",", ":"))' \
    "$review" "$work/body.json"
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$work/body.json", "r"); wrk.body = f:read("*a"); f:close()
LUA
port=$((20000 + RANDOM % 10000))
taskset -c 0 "$binary" webhook --listen "127.0.0.1:$port" --cert "$work/tls.crt" --key "$work/tls.key" \
    --threads 1 --log-level warning &
pid=$!
for _ in $(seq 100); do curl -sk "https://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
rss() {
    awk '/^Rss/ {r = $2} /^Anonymous/ {a = $2}
        END {printf "rss=%.1f anon=%.1f file=%.1f MiB", r / 1024, a / 1024, (r - a) / 1024}' "/proc/$pid/smaps_rollup"
}
echo "start: $(rss)"
rps=$(taskset -c 1 wrk -t1 -c32 -d5s -s "$work/post.lua" "https://127.0.0.1:$port/mutate" | awk '/Requests\/sec/ {print $2}')
echo "load:  $(rss) req/s=$rps"
