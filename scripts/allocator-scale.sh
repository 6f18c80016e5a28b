#!/usr/bin/env bash
# The allocator at scale against a real control plane (the newest of ../shared/kube, with the
# real webhook registered; the in-repo API server when none can be unpacked):
#   scripts/allocator-scale.sh [SIZES, default 1000,10000]
# Builds the release `sharedlb` and runs the ScaleProbe test with it as the allocator process;
# prints one row per size (time until every Service has its endpoint, that time against the API
# server's write-rate bound, API writes per Service from the audit log, shards and ledger
# bytes, the allocator's peak RSS, audit time). The webhook and the clients run in the (debug)
# test process.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-1000,10000}
scripts/release-build.sh # the binary the Dockerfile ships
binary=$(scripts/release-build.sh --show-bin-path)/sharedlb
assets=$(scripts/kube-assets.sh 2>/dev/null || true)
SCALE_PROBE="$sizes" SHAREDLB_BINARY="$binary" SHAREDLB_KUBE_ASSETS="$assets" swift test --filter ScaleProbe 2>&1 \
    | sed -n '/^SCALE/,/^$/p'
