#!/usr/bin/env bash
# User-space instructions the echo server spends per echoed WebSocket message (scenario A:
# 64 connections x 32 B, window 16) and per HTTP `GET /` (wrk -t1 -c64), counted with
# valgrind's callgrind. Instruction counts do not depend on what else the machine runs,
# so this is the steady figure to compare two builds with (time is not).
#
#   examples/peers/instructions.sh [ECHO_BINARY [LOADGEN_BINARY]] [--runtime tokio] [--secs 8]
#
# Each figure is (instructions of a loaded run - instructions of an idle run of the same
# length) / messages (or requests): start-up, shutdown and the timer task cancel out.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
ECHO=$TARGET/release/echo
LOADGEN=$TARGET/release/loadgen
RUNTIME=tokio
SECS=8
POS=0
while [ $# -gt 0 ]; do
    case $1 in
        --runtime) RUNTIME=$2; shift ;;
        --secs) SECS=$2; shift ;;
        -*) echo "usage: $0 [ECHO [LOADGEN]] [--runtime R] [--secs N]" >&2; exit 2 ;;
        *) if [ $POS = 0 ]; then ECHO=$1; else LOADGEN=$1; fi; POS=$((POS + 1)) ;;
    esac
    shift
done
command -v valgrind >/dev/null || { echo "valgrind not found: apt-get install -y valgrind" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# run NAME LOAD: starts echo under callgrind, runs LOAD (idle|ws|http) against it, stops
# it with SIGTERM (a graceful shutdown), prints "instructions count".
run() {
    local name=$1 load=$2 port pid count=0
    port=$(free_port)
    valgrind --tool=callgrind --callgrind-out-file="$WORK/$name.out" \
        "$ECHO" --addr "127.0.0.1:$port" --runtime "$RUNTIME" --threads 1 \
        >"$WORK/$name.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
        sleep 0.1
    done
    case $load in
        idle) sleep "$SECS" ;;
        ws)
            count=$("$LOADGEN" --addr "127.0.0.1:$port" --conns 64 --window 16 --size 32 \
                --duration "$SECS" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["messages"])')
            ;;
        http)
            count=$(wrk -t1 -c64 -d"${SECS}s" "http://127.0.0.1:$port/" |
                awk '/requests in/ {print $1}')
            ;;
    esac
    kill -TERM "$pid"
    wait "$pid" || true
    local ir
    ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$WORK/$name.out")
    echo "$ir $count"
}

read -r idle _ < <(run idle idle)
read -r ws_ir ws_n < <(run ws ws)
read -r http_ir http_n < <(run http http)
python3 - "$idle" "$ws_ir" "$ws_n" "$http_ir" "$http_n" <<'PY'
import sys
idle, ws_ir, ws_n, http_ir, http_n = map(int, sys.argv[1:])
print(f"echoed 32 B message: {(ws_ir - idle) / ws_n:,.0f} instructions ({ws_n:,} messages)")
print(f"GET /:               {(http_ir - idle) / http_n:,.0f} instructions ({http_n:,} requests)")
PY
