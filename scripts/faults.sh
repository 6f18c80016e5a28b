#!/usr/bin/env bash
# Longer fault runs than CI's: the allocator process SIGKILLed at random points of a burst,
# and the API-fault scenarios (409/429/500 storms, dropped watches, API server restart), ROUNDS times.
#   scripts/faults.sh [ROUNDS, default 5] [SERVICES, default 2000] [KILLS, default 25]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
export CRASH_SERVICES=${2:-2000} CRASH_KILLS=${3:-25}
swift build --build-tests
for round in $(seq 1 "$rounds"); do
    echo "== round $round: $CRASH_SERVICES Services, $CRASH_KILLS SIGKILLs; API faults"
    swift test --skip-build --filter 'AllocatorCrashTests|AllocatorFaultTests' 2>&1 | tail -n 3
done
