#!/usr/bin/env bash
# The release build of `sharedlb`: what the Dockerfile ships, `make release-static` checks and
# `make bench` measures. Extra arguments go to `swift build` (e.g. `--show-bin-path`).
#
# The Swift runtime is linked in statically, and the code is laid out so that a running process
# keeps little of the binary resident. The kernel maps a binary's code from the page cache and,
# on each page fault, also maps the cached pages around it (fault-around, 64 KiB). The webhook
# runs about 2 MiB of the binary's 31 MiB of code, spread over all of it, so most of the 64 KiB
# stretches of code ended up mapped. Hence:
# - every function in a section of its own (Swift, C and C++), so the linker can place it (and
#   drops it when nothing uses it);
# - `lld` placing the functions listed in scripts/link-order.txt (what a running webhook
#   executes; `make link-order` regenerates it) first and together, and the functions that have
#   no symbol to list together too (scripts/link-layout.ld);
# - no exported dynamic symbols: the static runtime's `-export-dynamic` filled a 1 MiB symbol
#   table that is read at startup and that nothing looks up (a crash prints no symbol names
#   either way without `swift-backtrace`, which the image does not have);
# - packed relative relocations (DT_RELR) where this machine's glibc can load them (2.36 and
#   later; the image's Ubuntu 24.04 has 2.39): the position-independent binary's 3.3 MiB table
#   of relocations, read once at startup and mapped from then on, becomes 46 KiB.
#
# SwiftPM did not recompile the Swift objects of a tree built without -function-sections when
# only that flag was added: the binary then links and runs as before, only laid out worse. Delete
# them once in such a tree: find .build -name '*.swift.o' -delete
set -euo pipefail
cd "$(dirname "$0")/.."

# lld, the order, the layout script and no exported symbols are in Package.swift (any release
# build of sharedlb links that way); these need the command line, as they apply to every package.
flags=(
    -c release --static-swift-stdlib --product sharedlb
    -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections -Xcxx -ffunction-sections
)
glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}' || true)
if [ -n "$glibc" ] && [ "$(printf '%s\n' 2.36 "$glibc" | sort -V | head -n1)" = 2.36 ]; then
    flags+=(-Xlinker -z -Xlinker pack-relative-relocs)
fi
# libstdc++ (which ICU and the Swift runtime use) linked in statically as well: its functions then
# take part in the link order, instead of the process mapping the shared library's code around
# every function it calls (1.4 MiB resident), and the image needs no libstdc++. The swift driver
# asks for `-lstdc++` itself; a directory holding only the archive, searched before the system's,
# makes that the static one.
# The toolchain's own clang links; it is next to swift (and on PATH in the official images).
clang=$(dirname "$(command -v swift)")/clang
[ -x "$clang" ] || clang=clang
cxx=$("$clang" -print-file-name=libstdc++.a 2>/dev/null || true)
if [ ! -f "$cxx" ]; then
    echo "release-build.sh: $clang -print-file-name=libstdc++.a found no static libstdc++" \
        "(install libstdc++-N-dev for the GCC that clang uses)" >&2
    exit 1
fi
mkdir -p .build/static-libstdc++
ln -sf "$cxx" .build/static-libstdc++/libstdc++.a
flags+=(-Xlinker -L -Xlinker "$PWD/.build/static-libstdc++")
case " $* " in
*" --show-bin-path "*) ;;
# SwiftPM does not know the link depends on scripts/link-order.txt: link again every time.
*) rm -f "$(swift build "${flags[@]}" --show-bin-path)/sharedlb" ;;
esac
exec swift build "${flags[@]}" "$@"
