#!/usr/bin/env bash
# permessage-deflate load benchmark: scenario A (64 connections x 16 messages in flight,
# 32-byte payloads) with every client message compressed (loadgen --deflate, offering
# permessage-deflate as Chromium does), against wirelane's echo (tokio, one thread,
# `--deflate default`) and Node `ws` with perMessageDeflate (examples/interop/
# echo-server.mjs), one after the other, each server pinned to one CPU and loadgen to the
# other. Reports messages per second, server CPU seconds and messages per server-CPU-
# second for each, their ratio, and the compression ratio of the payloads sent.
#
#   examples/peers/deflate.sh [--duration SECS] [--reps N]
#
# Loopback only. Take the numbers when `uptime` is low; the load average is printed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DURATION=4
REPS=3
while [ $# -gt 0 ]; do
    case $1 in
        --duration) DURATION=$2; shift ;;
        --reps) REPS=$2; shift ;;
        *) echo "usage: $0 [--duration SECS] [--reps N]" >&2; exit 2 ;;
    esac
    shift
done
(cd "$ROOT" && cargo build --release -q -p wirelane-examples --bin echo --bin loadgen)
(cd "$ROOT/examples/interop" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
log=$(mktemp)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -f "$log"' EXIT

run() { # name command...
    local name=$1; shift
    : >"$log"
    taskset -c 0 "$@" >"$log" 2>&1 &
    pid=$!
    local port=
    for _ in $(seq 100); do
        port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$log")
        [ -n "$port" ] && break
        sleep 0.1
    done
    [ -n "$port" ] || { echo "$name did not start: $(cat "$log")" >&2; exit 1; }
    for rep in $(seq "$REPS"); do
        local t0 t1 res
        t0=$(cpu_ticks "$pid")
        res=$(taskset -c 1 "$TARGET/release/loadgen" --addr "127.0.0.1:$port" --path /ws \
            --conns 64 --window 16 --size 32 --duration "$DURATION" --deflate --json)
        t1=$(cpu_ticks "$pid")
        local cpu msgs
        cpu=$(awk "BEGIN{print ($t1-$t0)/$CLK_TCK}")
        msgs=$(echo "$res" | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])')
        echo "{\"server\":\"$name\",\"rep\":$rep,\"server_cpu_s\":$cpu,\"msgs_per_cpu_s\":$(awk "BEGIN{print $msgs/$cpu}"),\"load1\":$(cut -d' ' -f1 /proc/loadavg),\"result\":$res}"
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
}

echo "== load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
out=$(mktemp)
run wirelane "$TARGET/release/echo" --addr 127.0.0.1:0 --runtime tokio --threads 1 --deflate default | tee -a "$out"
run node-ws node "$ROOT/examples/interop/echo-server.mjs" 127.0.0.1:0 | tee -a "$out"
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
best = {}
for r in rows:
    best.setdefault(r["server"], []).append(r["msgs_per_cpu_s"])
med = {k: statistics.median(v) for k, v in best.items()}
ratio = rows[0]["result"].get("deflate_ratio")
errors = sum(r["result"].get("errors", 0) for r in rows)
print(f"msgs per server-CPU-second (median): wirelane {med['wirelane']:.0f}, node ws {med['node-ws']:.0f}; "
      f"ratio {med['wirelane'] / med['node-ws']:.2f}x; payload compression ratio {ratio}; errors {errors}")
PY
rm -f "$out"
