#!/usr/bin/env bash
# libFuzzer over the webhook's request path and the ledger decoder.
#   scripts/fuzz.sh [admission|ledger|all] [SECONDS per target, default 600]
# Builds Fuzz/ with -sanitize=fuzzer,address into Fuzz/.build, seeds the corpus from the
# captured AdmissionReviews and the example ledger, and runs each target for SECONDS on one
# core. A crash leaves crash-* in fuzz-out/<target>/: add it as a regression test
# (Tests/SharedLBCoreTests/Fixtures/fuzz or Tests/SharedLBAllocationTests/Fixtures/fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}
seconds=${2:-600}
out=fuzz-out

# One combined -sanitize flag: SwiftPM turns `--sanitize=fuzzer --sanitize=address` into two
# `-sanitize=` flags in set order, random per run, and the last one wins, so half the builds had
# no coverage instrumentation. `--sanitize=fuzzer` stays for the link (libFuzzer's main).
build=(swift build --package-path Fuzz -c release --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address)
"${build[@]}"
bin=$("${build[@]}" --show-bin-path)
# A fuzzer without coverage counters only throws random bytes: refuse to run one.
for target in FuzzAdmission FuzzLedger; do
    readelf -SW "$bin/$target" | grep -q __sancov_cntrs \
        || { echo "fuzz: $bin/$target has no coverage instrumentation" >&2; exit 1; }
done

seed() { # target → corpus directory with the seeds
    local dir="$out/$1/corpus"
    mkdir -p "$dir"
    case "$1" in
        admission)
            cp Tests/SharedLBCoreTests/Fixtures/*.review.json "$dir/"
            cp Tests/SharedLBCoreTests/Fixtures/fuzz/* "$dir/" 2>/dev/null || true ;;
        ledger)
            # Each example ledger ConfigMap as JSON (first byte even: the ConfigMap form), and
            # its allocations text alone (first byte odd).
            python3 - manifests/examples/ledger.yaml "$dir" <<'PY'
import json, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
docs = [item for d in docs for item in (d["items"] if d.get("kind") == "List" else [d])]
for i, doc in enumerate(docs):
    open(f"{sys.argv[2]}/configmap-{i}", "wb").write(b"\x00" + json.dumps(doc).encode())
    open(f"{sys.argv[2]}/allocations-{i}", "wb").write(b"\x01" + doc["data"]["allocations"].encode())
PY
            cp Tests/SharedLBAllocationTests/Fixtures/fuzz/* "$dir/" 2>/dev/null || true ;;
    esac
    echo "$dir"
}

run() { # target, binary
    local corpus
    corpus=$(seed "$1")
    mkdir -p "$out/$1/artifacts"
    echo "== fuzzing $1 for ${seconds}s (corpus $corpus)"
    "$bin/$2" "$corpus" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
        -artifact_prefix="$out/$1/artifacts/" -print_final_stats=1 > "$out/$1/log" 2>&1 || {
        tail -n 40 "$out/$1/log"
        return 1
    }
    tail -n 25 "$out/$1/log"
    if grep -q "no interesting inputs were found" "$out/$1/log"; then
        echo "fuzz: $1 found no coverage at all: the target is not instrumented" >&2
        return 1
    fi
}

case "$which" in
    admission) run admission FuzzAdmission ;;
    ledger) run ledger FuzzLedger ;;
    all) run admission FuzzAdmission; run ledger FuzzLedger ;;
    *) echo "usage: $0 [admission|ledger|all] [seconds]" >&2; exit 2 ;;
esac
