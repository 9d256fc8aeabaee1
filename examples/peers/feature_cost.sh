#!/usr/bin/env bash
# What the `tracing` feature and the metrics cost scenario A of compare.sh (64 connections
# x 32 B, window 16), measured the way compare.sh measures it: echoed messages per
# server-CPU-second, server pinned to $SERVER_CPU and load generator to $CLIENT_CPU, server
# CPU time from /proc/PID/stat.
#
#   examples/peers/feature_cost.sh [--reps N] [--duration SECS] [--no-build] [--callgrind]
#
# Three release builds of the echo example, each in its own target directory:
#   a  HEAD as shipped: metrics (always on) and the `tracing` feature compiled in (the
#      examples crate enables it), no subscriber installed;
#   b  HEAD without `tracing` (the examples crate's default feature `tracing` turned off);
#   c  $BEFORE: the commit before metrics and tracing landed, built in a temporary git
#      worktree. It also lacks everything else merged since, so c/a is an upper bound on
#      what metrics and tracing cost together.
# The same load generator (HEAD's) drives all three. Each repetition runs the three once,
# rotating which goes first. Prints each build's median and min–max, and the median over
# repetitions of b/a and c/a taken within a repetition (the runs of one repetition are
# seconds apart, so machine noise that drifts slowly cancels).
# --callgrind adds user-space instructions per echoed message for each build
# (instructions.sh: independent of the machine's load, so the steady figure to compare).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PEERS=$ROOT/examples/peers
# shellcheck source=examples/peers/lib.sh
. "$PEERS/lib.sh"
MAIN_TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
COST_TARGET=${COST_TARGET_DIR:-$MAIN_TARGET/feature-cost}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
REPS=5
DURATION=4
BUILD=1
CALLGRIND=0
while [ $# -gt 0 ]; do
    case $1 in
        --reps) REPS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --no-build) BUILD=0 ;;
        --callgrind) CALLGRIND=1 ;;
        *) echo "usage: $0 [--reps N] [--duration SECS] [--no-build] [--callgrind]" >&2; exit 2 ;;
    esac
    shift
done
command -v taskset >/dev/null || { echo "taskset not found (util-linux)" >&2; exit 1; }

# The commit that added metrics.rs and trace.rs (one commit added both): its parent had
# neither.
FIRST=$(git -C "$ROOT" log --diff-filter=A --format=%h -- core/src/app/metrics.rs core/src/app/trace.rs | tail -1)
BEFORE=${BEFORE:-$(git -C "$ROOT" rev-parse --short "$FIRST^")}

A=$MAIN_TARGET/release/echo
B=$COST_TARGET/no-tracing/release/echo
C=$COST_TARGET/before/release/echo
LOADGEN=$MAIN_TARGET/release/loadgen
if [ $BUILD = 1 ]; then
    echo "== building a (HEAD)"
    (cd "$ROOT" && CARGO_TARGET_DIR=$MAIN_TARGET cargo build --release -q \
        -p wirelane-examples --bin echo --bin loadgen)
    echo "== building b (HEAD, --no-default-features: no tracing)"
    (cd "$ROOT" && CARGO_TARGET_DIR=$COST_TARGET/no-tracing cargo build --release -q \
        -p wirelane-examples --no-default-features --bin echo)
    echo "== building c ($BEFORE, before metrics and tracing)"
    WT=$(mktemp -d)
    git -C "$ROOT" worktree add -q --detach "$WT/src" "$BEFORE"
    (cd "$WT/src" && CARGO_TARGET_DIR=$COST_TARGET/before cargo build --release -q \
        -p wirelane-examples --bin echo) || { git -C "$ROOT" worktree remove --force "$WT/src"; exit 1; }
    git -C "$ROOT" worktree remove --force "$WT/src"
    rm -rf "$WT"
fi
for bin in "$A" "$B" "$C" "$LOADGEN"; do
    [ -x "$bin" ] || { echo "$bin missing: run without --no-build" >&2; exit 1; }
done

LOG=$COST_TARGET/logs
mkdir -p "$LOG"
RESULTS=$LOG/results.tsv
: > "$RESULTS"
CLK_TCK=$(getconf CLK_TCK)
PORT=19400
SERVER_PID=

start_server() { # binary; sets ADDR and SERVER_PID
    PORT=$((PORT + 1))
    ADDR=127.0.0.1:$PORT
    taskset -c "$SERVER_CPU" "$1" --runtime tokio --threads 1 --addr "$ADDR" > "$LOG/server.out" 2>&1 &
    SERVER_PID=$!
    wait_listening "$ADDR" "$LOG/server.out" "$SERVER_PID" && return 0
    echo "$1 did not start: $(head -c 300 "$LOG/server.out")" >&2
    stop_server
    exit 1
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}
trap stop_server EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

measure() { # label binary rep: one run of scenario A, appended to $RESULTS
    local t0 t1 res msgs cpu
    start_server "$2"
    t0=$(cpu_ticks "$SERVER_PID")
    res=$(timeout $((DURATION * 3 + 60)) taskset -c "$CLIENT_CPU" "$LOADGEN" --addr "$ADDR" \
        --duration "$DURATION" --json --conns 64 --window 16 --size 32 2>"$LOG/lg.err") \
        || echo "   ! loadgen reported errors: $(head -c 300 "$LOG/lg.err")" >&2
    t1=$(cpu_ticks "$SERVER_PID")
    stop_server
    msgs=$(echo "$res" | sed -n 's/.*"messages":\([0-9]*\).*/\1/p')
    cpu=$(awk "BEGIN{print ($t1 - $t0) / $CLK_TCK}")
    printf '%s\t%s\t%s\t%s\n' "$1" "$3" "${msgs:-0}" "$cpu" >> "$RESULTS"
    echo "   rep $3 $1: ${msgs:-?} messages, server cpu ${cpu}s"
}

echo "== machine: $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg); server on cpu $SERVER_CPU, load on cpu $CLIENT_CPU"
BUILDS=("a|$A" "b|$B" "c|$C")
for rep in $(seq "$REPS"); do
    for i in 0 1 2; do
        IFS='|' read -r label bin <<< "${BUILDS[$(( (rep - 1 + i) % 3 ))]}"
        measure "$label" "$bin" "$rep"
    done
done
echo "== load at the end $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$RESULTS" "$BEFORE" "$(git -C "$ROOT" rev-list --count "$BEFORE..HEAD")" <<'PY'
import sys
from collections import defaultdict
from statistics import median
path, before, commits = sys.argv[1:]
rate = defaultdict(dict)  # build -> rep -> messages per server-CPU-second
for line in open(path):
    label, rep, msgs, cpu = line.split("\t")
    if float(cpu) > 0 and int(msgs) > 0:
        rate[label][rep] = int(msgs) / float(cpu)
names = {"a": "HEAD (metrics + tracing)", "b": "HEAD without tracing",
         "c": f"{before} (before both, {commits} commits back)"}
print("scenario A, messages per server-CPU-second (median, min–max):")
for k in "abc":
    v = list(rate[k].values())
    if v:
        print(f"  {k} {names[k]:<40} {median(v):>10,.0f}  ({min(v):,.0f}–{max(v):,.0f})")
for k in "bc":
    r = [rate[k][rep] / rate["a"][rep] for rep in rate["a"] if rep in rate[k]]
    if r:
        print(f"  {k}/a {median(r):.3f}  ({min(r):.3f}–{max(r):.3f} over {len(r)} reps)")
# /proc counts CPU time in ticks (1/100 s): a run with little server CPU time is coarse.
least = min(float(line.split("\t")[3]) for line in open(path))
if least < 2:
    print(f"  note: a run had {least:.2f} s of server CPU; ticks of 0.01 s make that ±{0.01 / max(least, 0.01):.1%}")
PY

if [ $CALLGRIND = 1 ]; then
    for pair in "${BUILDS[@]}"; do
        IFS='|' read -r label bin <<< "$pair"
        echo "== callgrind $label"
        "$PEERS/instructions.sh" "$bin" "$LOADGEN" | grep '^echoed'
    done
fi
