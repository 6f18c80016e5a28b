#!/usr/bin/env bash
# The release build of `sharedlb`: what the Dockerfile ships (stripped), `make release-static`
# checks and `make bench` measures. A plain `swift build -c release` with the Swift runtime
# linked in statically, so the image needs only the C and C++ runtimes. Extra arguments go to
# `swift build` (e.g. `--show-bin-path`).
#
# Until 2026-12 this script also laid the code out with a generated link order, a linker script
# and valgrind; the webhook's resident set was about half (16.5 against 33.8 MiB, most of it code
# mapped from the page cache), and any change to hot code could make the order stale
# (docs/PERFORMANCE.md, "Release build").
set -euo pipefail
cd "$(dirname "$0")/.."
exec swift build -c release --static-swift-stdlib --product sharedlb "$@"
