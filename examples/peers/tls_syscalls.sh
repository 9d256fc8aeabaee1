#!/usr/bin/env bash
# System calls the server makes per handshake cycle (scenario H of tls_compare.sh: new TLS
# 1.3 connection + upgrade + one 32 B echo + close), for wirelane's echo on each runtime
# and for the peer (tokio-tungstenite + tokio-rustls). Counted with `strace -f -c`
# attached to every thread of the server while `loadgen --tls --handshakes` runs, divided
# by the cycles loadgen completed. Unlike CPU time, the counts do not depend on what else
# the machine runs, so they compare two builds on a busy machine.
#
#   examples/peers/tls_syscalls.sh [--secs N] [--only NAME] [--no-build] [--instructions]
#
# --instructions: user-space instructions per cycle instead (valgrind's callgrind, counting
# only while loadgen runs), the CPU side of the same comparison, also independent of load.
#
# NAME: wirelane-tokio, wirelane-smol, wirelane-async-std or peer. strace slows the server
# down a lot; the counts per cycle are what matters, not the rate. "errors" are calls that
# failed (for reads and writes: EAGAIN, a read that found the socket empty).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PEERS=$ROOT/examples/peers
# shellcheck source=examples/peers/lib.sh
. "$PEERS/lib.sh"
MAIN_TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
PEERS_TARGET=${PEERS_TARGET_DIR:-$PEERS/target}
SECS=3; ONLY=; BUILD=1; INSTR=0
while [ $# -gt 0 ]; do
    case $1 in
        --secs) SECS=$2; shift ;;
        --only) ONLY=$2; shift ;;
        --no-build) BUILD=0 ;;
        --instructions) INSTR=1 ;;
        *) echo "usage: $0 [--secs N] [--only NAME] [--no-build] [--instructions]" >&2; exit 2 ;;
    esac
    shift
done
if [ $INSTR = 1 ]; then
    command -v valgrind >/dev/null || { echo "valgrind not found: apt-get install -y valgrind" >&2; exit 1; }
else
    command -v strace >/dev/null || { echo "strace not found: apt-get install -y strace" >&2; exit 1; }
fi
if [ $BUILD = 1 ]; then
    (cd "$ROOT" && cargo build --release -q -p wirelane-examples --bin echo --bin loadgen)
    (cd "$PEERS" && CARGO_TARGET_DIR=$PEERS_TARGET cargo build --release -q --bin tungstenite_tls)
fi
LOADGEN=$MAIN_TARGET/release/loadgen
ECHO=${WIRELANE_ECHO:-$MAIN_TARGET/release/echo}
LOG=$(mktemp -d)
trap 'rm -rf "$LOG"' EXIT
test_cert "$LOG"
TLSARGS="--tls-cert $LOG/cert.pem --tls-key $LOG/key.pem"
SERVERS=(
    "wirelane-tokio|$ECHO --runtime tokio --threads 1 $TLSARGS"
    "wirelane-smol|$ECHO --runtime smol --threads 1 $TLSARGS"
    "wirelane-async-std|$ECHO --runtime async-std --threads 1 $TLSARGS"
    "peer|$PEERS_TARGET/release/tungstenite_tls"
)
PORT=19400
for entry in "${SERVERS[@]}"; do
    IFS='|' read -r name cmd <<< "$entry"
    [ -n "$ONLY" ] && [ "$ONLY" != "$name" ] && continue
    PORT=$((PORT + 1)); ADDR=127.0.0.1:$PORT
    if [ $INSTR = 1 ]; then
        # shellcheck disable=SC2086
        valgrind --tool=callgrind --callgrind-out-file="$LOG/cg.out" \
            $cmd --addr "$ADDR" > "$LOG/server.out" 2>&1 &
        pid=$!
        wait_listening "$ADDR" "$LOG/server.out" "$pid" 600 || true
        "$LOADGEN" --addr "$ADDR" --tls --tls-ca "$TLS_CERT" --handshakes --threads 1 \
            --duration 2 --json > /dev/null 2>&1 || true
        # Count from here (zero the counters) to the end of the load (dump: cg.out.1).
        callgrind_control -z "$pid" > /dev/null
        res=$("$LOADGEN" --addr "$ADDR" --tls --tls-ca "$TLS_CERT" --handshakes --threads 1 \
            --duration "$SECS" --json 2>"$LOG/lg.err") || echo "   ! errors: $(head -c 300 "$LOG/lg.err")" >&2
        callgrind_control -d "$pid" > /dev/null
        kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
        cycles=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["cycles"])' "$res")
        ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$LOG/cg.out.1")
        echo "== $name: $cycles cycles under callgrind, $((ir / cycles)) instructions per cycle"
        continue
    fi
    # shellcheck disable=SC2086
    $cmd --addr "$ADDR" > "$LOG/server.out" 2>&1 &
    pid=$!
    wait_listening "$ADDR" "$LOG/server.out" "$pid" || true
    # One warm-up cycle batch, so that thread-local buffers and lazy set-up are not
    # counted against the measured cycles.
    "$LOADGEN" --addr "$ADDR" --tls --tls-ca "$TLS_CERT" --handshakes --threads 1 \
        --duration 0.3 --json > /dev/null 2>&1 || true
    tids=()
    for t in /proc/$pid/task/*; do tids+=(-p "${t##*/}"); done
    strace -f -c -o "$LOG/strace.txt" "${tids[@]}" 2>/dev/null &
    spid=$!
    sleep 0.5
    res=$("$LOADGEN" --addr "$ADDR" --tls --tls-ca "$TLS_CERT" --handshakes --threads 1 \
        --duration "$SECS" --json 2>"$LOG/lg.err") || echo "   ! errors: $(head -c 300 "$LOG/lg.err")" >&2
    sleep 0.3
    kill -INT "$spid"; wait "$spid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
    cycles=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["cycles"])' "$res")
    echo "== $name: $cycles cycles under strace"
    python3 - "$LOG/strace.txt" "$cycles" <<'PY'
import sys
path, cycles = sys.argv[1], int(sys.argv[2])
rows = []
for line in open(path):
    f = line.split()
    if len(f) < 5 or not f[0][0].isdigit() or f[-1] == "total":
        continue
    calls = int(f[3])
    errors = int(f[4]) if len(f) == 6 else 0
    rows.append((f[-1], calls, errors))
rows.sort(key=lambda r: -r[1])
total = sum(r[1] for r in rows)
print(f"   {'syscall':<14} {'per cycle':>9} {'errors':>7}")
for name, calls, errors in rows:
    if calls / cycles >= 0.05:
        print(f"   {name:<14} {calls / cycles:9.2f} {errors / cycles:7.2f}")
print(f"   {'total':<14} {total / cycles:9.2f}")
PY
done
