#!/usr/bin/env bash
# The allocator at scale against the in-repo API server (and the real webhook):
#   scripts/allocator-scale.sh [SIZES, default 100,1000,10000]
# Builds the release `sharedlb` and runs the ScaleProbe test with it as the allocator process;
# prints one row per size (time until every Service has its endpoint, API writes per Service,
# shards and ledger bytes, the allocator's peak RSS, audit time). The API server and the
# clients run in the (debug) test process.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-100,1000,10000}
scripts/release-build.sh # the binary the Dockerfile ships
binary=$(scripts/release-build.sh --show-bin-path)/sharedlb
SCALE_PROBE="$sizes" SHAREDLB_BINARY="$binary" swift test --filter ScaleProbe 2>&1 \
    | sed -n '/^SCALE/,/^$/p'
