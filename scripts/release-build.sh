#!/usr/bin/env bash
# The release build of `sharedlb`: what the Dockerfile ships (stripped), `make release-static`
# checks and `make bench` measures. `swift build -c release` with the Swift runtime and the C++
# runtime linked in statically, so the image needs only the C runtime and zlib, and three stable
# linker options that keep less of the binary resident (docs/PERFORMANCE.md, "Release build"):
# - `lld` (the toolchain's linker) with `-z pack-relative-relocs`: the position-independent
#   executable's 140,000 relative relocations take 27 KiB instead of 3.2 MiB, all of which the
#   dynamic loader reads at start; needs glibc 2.36 or later where the binary runs (the image's
#   Ubuntu 24.04 has 2.39).
# - `--no-export-dynamic`: the toolchain's static-stdlib link exports every symbol (1.5 MiB of
#   dynamic symbol tables, read at start); nothing looks our symbols up at run time.
# - libstdc++ from its archive (the Swift runtime and ICU use it): a directory holding only
#   `libstdc++.a`, searched first, answers the `-lstdc++` that the toolchain asks for.
# None of them depends on the code: no generated order or script to keep in step. A plain
# `swift build -c release` builds and runs the same, with a larger resident set.
# Extra arguments go to `swift build` (e.g. `--show-bin-path`).
set -euo pipefail
cd "$(dirname "$0")/.."
archive=$(clang -print-file-name=libstdc++.a)
if [ ! -f "$archive" ]; then
    echo "release-build.sh: clang finds no libstdc++.a; install libstdc++-N-dev" >&2
    exit 2
fi
mkdir -p .build/static-libstdc++
ln -sf "$archive" .build/static-libstdc++/libstdc++.a
exec swift build -c release --static-swift-stdlib --product sharedlb \
    -Xswiftc -use-ld=lld \
    -Xlinker -z -Xlinker pack-relative-relocs \
    -Xlinker --no-export-dynamic \
    -Xlinker -L"$PWD/.build/static-libstdc++" \
    "$@"
