#!/usr/bin/env bash
# Regenerates scripts/link-order.txt: the functions a running `sharedlb webhook` executes, which
# scripts/release-build.sh has the linker place first and together (see there why). Runs the
# release binary under valgrind's callgrind, which records every function executed: startup from
# certificate files, TLS handshakes, every captured AdmissionReview in the fixtures, the probes and
# /metrics (on the HTTPS port and on a metrics listener, as the manifests run it), error answers,
# clients that go away mid-request, a few seconds of keep-alive load, a certificate re-read and a
# graceful shutdown. Rerun it after changes to what the webhook runs; a stale list costs memory, never
# correctness (names it no longer finds are skipped).
#
#   scripts/link-order.sh                  # or: make link-order
#   scripts/link-order.sh --check BINARY   # how many of the listed functions BINARY defines
#                                          # (fails under 75 %: the list is stale)
#
# Needs: valgrind, curl, python3 (apt-get install -y valgrind curl python3), wrk if present.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --check ]; then
    export LC_ALL=C
    listed=$(grep -v '^#' scripts/link-order.txt | sort -u)
    found=$(nm --defined-only "$2" | awk '{print $NF}' | sort -u | comm -12 - <(echo "$listed") | wc -l)
    total=$(echo "$listed" | wc -l)
    echo "link order: the binary defines $found of the $total functions in scripts/link-order.txt"
    if ((found * 4 < total * 3)); then
        echo "link order: scripts/link-order.txt is stale; regenerate it with make link-order" >&2
        exit 1
    fi
    exit 0
fi
for tool in valgrind curl python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y $tool" >&2; exit 2; }
done
fixtures=${FIXTURES:-../shared/fixtures/kube-1.24/admission}
ls "$fixtures"/*.review.json >/dev/null || { echo "missing $fixtures" >&2; exit 2; }

[ -f scripts/link-order.txt ] || : >scripts/link-order.txt
scripts/release-build.sh >/dev/null
binary=$(scripts/release-build.sh --show-bin-path)/sharedlb
work=$(mktemp -d)
trap 'pkill -f "$work/sharedlb" 2>/dev/null || true; rm -rf "$work"' EXIT
# valgrind 3.19 cannot read the DWARF 5 the toolchain writes; the symbol table is all it needs.
strip --strip-debug -o "$work/sharedlb" "$binary"
"$work/sharedlb" certs --out "$work/certs" >/dev/null

port=$((20000 + RANDOM % 20000))
url=https://127.0.0.1:$port
plain=http://127.0.0.1:$((port + 1))
valgrind --tool=callgrind --dump-instr=yes --compress-pos=no --callgrind-out-file="$work/callgrind.out" \
    "$work/sharedlb" webhook --listen "127.0.0.1:$port" --cert "$work/certs/tls.crt" --key "$work/certs/tls.key" \
    --metrics-listen "127.0.0.1:$((port + 1))" --threads 1 --cert-reload-interval 1s --log-level notice \
    2>"$work/valgrind.log" &
server=$!
for _ in $(seq 300); do
    curl -sk -o /dev/null "$url/healthz" && break
    kill -0 "$server" 2>/dev/null || { cat "$work/valgrind.log" >&2; exit 1; }
    sleep 0.2
done
curl -sk -o /dev/null "$url/readyz" || { cat "$work/valgrind.log" >&2; exit 1; }

post() { curl -sk -X POST -H 'Content-Type: application/json' "$@" >/dev/null; }
for review in "$fixtures"/*.review.json; do
    post --data-binary "@$review" "$url/mutate?timeout=10s"
    post --data-binary "@$review" "$url/mutate" "$url/mutate" # two on one keep-alive connection
done
post --data-binary 'not json' "$url/mutate"
curl -sk -o /dev/null -H 'Content-Type: text/plain' --data-binary x "$url/mutate"
curl -sk -o /dev/null "$url/mutate"
curl -sk -o /dev/null "$url/metrics"
for path in healthz readyz metrics metrics; do curl -s -o /dev/null "$plain/$path"; done
# Clients that go away mid-conversation, with a reset or a plain close and no TLS close_notify:
# during a body, right after a request, and after a request and the start of the next (the error
# and close paths the end of every load test takes).
reviews=("$fixtures"/*.review.json)
python3 - "$port" "${reviews[0]}" <<'PY'
import socket, ssl, struct, sys
port, body = int(sys.argv[1]), open(sys.argv[2], "rb").read()
head = b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
for reset in (True, False):
    for payload in (head + body[:100], head + body, head + body + head):
        tls = context.wrap_socket(socket.create_connection(("127.0.0.1", port)))
        tls.sendall(payload)
        if reset:
            tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        tls.close()  # closes the socket without a close_notify
PY
if command -v wrk >/dev/null; then
    lua=$work/post.lua
    for review in "$fixtures"/01-*.review.json "$fixtures"/06-*.review.json; do
        printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nlocal f = io.open("%s", "r"); wrk.body = f:read("*a"); f:close()\n' "$review" >"$lua"
        wrk -t1 -c8 -d3s -s "$lua" "$url/mutate" >/dev/null
    done
fi
touch "$work/certs/tls.crt" && sleep 2 # a certificate re-read
curl -s -o /dev/null "$plain/metrics"
kill -TERM "$server"
wait "$server" || true

python3 - "$work/callgrind.out" "$work/sharedlb" >"$work/link-order.txt" <<'PY'
import bisect, collections, re, subprocess, sys
# Every instruction callgrind saw run in the binary (with --dump-instr=yes --compress-pos=no each
# cost line starts with its address), credited to the function containing it, hottest first.
# Addresses, not callgrind's function names: a name can stand for several symbols at one address.
symbols = []  # (start, size, name) of every function in the binary
for row in subprocess.run(["nm", "-S", "--defined-only", sys.argv[2]], capture_output=True, text=True, check=True).stdout.splitlines():
    fields = row.split()
    if len(fields) == 4 and fields[2] in "tTwW":
        symbols.append((int(fields[0], 16), int(fields[1], 16), fields[3]))
    elif len(fields) == 3 and fields[1] in "tTwW":  # no size (some Swift thunks and witnesses)
        symbols.append((int(fields[0], 16), 0, fields[2]))
symbols.sort()
starts = [start for start, _, _ in symbols]
by_name = {name: start for start, _, name in symbols}
# Where the code at each address ends: a symbol without a size reaches to the next address a
# symbol starts at, and aliases (one address, several names) share the longest extent.
distinct = sorted(set(starts))
next_start = dict(zip(distinct, distinct[1:] + [distinct[-1] + 1]))
extent = {}
for start, size, _ in symbols:
    extent[start] = max(extent.get(start, 0), start + size if size else next_start[start])
ends = [extent[start] for start in starts]

cost = collections.Counter()  # runtime address -> instructions executed there
samples = []  # (runtime address, function name callgrind gave) to find the load address
objects, functions, in_binary, function, call = {}, {}, False, None, False
entry = re.compile(r"(c?ob|c?fn)=\((\d+)\)(?: (.*))?$")
for line in open(sys.argv[1], errors="replace"):
    m = entry.match(line.rstrip("\n"))
    if m:
        kind, ident, name = m.groups()
        table = objects if kind.endswith("ob") else functions
        if name:
            table[ident] = name
        if kind == "ob":
            in_binary = objects[ident] == sys.argv[2]
        elif kind == "fn":
            function = functions[ident]
        continue
    if line.startswith("calls="):
        call = True  # the next line is the cost of the call, at the call instruction
        continue
    if in_binary and line.startswith("0x"):
        fields = line.split()
        address = int(fields[0], 16)
        if len(samples) < 5000 and function in by_name:
            samples.append((address, function))
        cost[address] += 0 if call else int(fields[2]) if len(fields) > 2 else 0
    call = False
if not cost:
    sys.exit("link-order: callgrind recorded nothing in " + sys.argv[2])
# The load address: where callgrind's named functions are, less where nm puts them.
offsets = collections.Counter()
for address, name in samples:
    offsets[address - by_name[name] & ~0xFFF] += 1
base = offsets.most_common(1)[0][0]

per_function = collections.Counter()
for address, instructions in cost.items():
    i = bisect.bisect_right(starts, address - base) - 1
    if i >= 0 and address - base < ends[i]:
        start = symbols[i][0]
        # Every name at this address (aliases; i is the last of them), so the linker finds the
        # section whichever name it keys on.
        j = i
        while j >= 0 and symbols[j][0] == start:
            per_function[symbols[j][2]] += instructions + 1
            j -= 1
print("# Functions a running `sharedlb webhook` executes, hottest first: scripts/release-build.sh")
print("# has the linker place them first and together. Generated by scripts/link-order.sh.")
for name, _ in sorted(per_function.items(), key=lambda item: (-item[1], item[0])):
    print(name)
# Then BoringSSL's assembly for CPU features valgrind's virtual CPU lacks (ADX, AVX-512, VAES,
# VPCLMULQDQ, SHA extensions: the `_hw` variants): on a machine that has them, TLS runs these
# instead of the variants listed above, and each one left out keeps the stretch of code around
# it resident.
variant = re.compile(r"^(?:_ZN4bssl\d+)?(C\w*BoringSSL)\w*?_(?:adx|avx512|vaes|vpclmulqdq|hw|mulx4x)(?:_|$|E)")
libraries = {m.group(1) for m in map(variant.match, per_function) if m} | {
    name.split("_")[0] for name in per_function if name.startswith("C") and "BoringSSL_" in name}
for name in sorted({name for _, _, name in symbols} - set(per_function)):
    m = variant.match(name)
    if m and m.group(1) in libraries:
        print(name)
PY
mv "$work/link-order.txt" scripts/link-order.txt # only once the list is complete
echo "scripts/link-order.txt: $(grep -vc '^#' scripts/link-order.txt) functions"
