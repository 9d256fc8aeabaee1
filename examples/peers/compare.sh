#!/usr/bin/env bash
# Side-by-side load benchmark: wirelane's echo (each runtime) against peer servers.
#
#   examples/peers/compare.sh [--quick] [--reps N] [--duration SECS] [--no-build]
#
# Builds everything in release, then runs each server in turn pinned to one core
# (taskset -c $SERVER_CPU) with the load generator pinned to the other ($CLIENT_CPU),
# alternating servers within each repetition. Server CPU time per scenario comes from
# /proc/PID/stat (utime + stime). Writes examples/peers/results.jsonl (raw), then
# BENCHMARKS.md at the repository root and examples/peers/chart.svg (report.py).
#
# Scenarios: A 64 conns x 32 B, window 16 | B latency at half A's rate (64 conns, paced) |
# C 16 conns x 64 KiB, window 1 | D 1,000 and 10,000 idle connections (server RSS) |
# E HTTP GET / with wrk -t1 -c64 | P the article's comparison: 1,000 clients receiving a
# server-pushed stream over a WebSocket, SSE, long polling and short polling (1 s), at
# 10 msgs/s (latency, memory, bytes) and 500 msgs/s (500,000 deliveries/s offered:
# messages per server-CPU-second), wirelane-tokio only (echo --push-rate) |
# T tail latency: 10,000 connections (2,000 with --quick), 1% of them sending, paced, once
# per server.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PEERS=$ROOT/examples/peers
# shellcheck source=examples/peers/lib.sh
. "$PEERS/lib.sh"
MAIN_TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
PEERS_TARGET=${PEERS_TARGET_DIR:-$PEERS/target}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
REPS=3
DURATION=4
IDLE_COUNTS="1000 10000"
TAIL_CONNS=10000
BUILD=1
QUICK=0
while [ $# -gt 0 ]; do
    case $1 in
        --quick) QUICK=1; REPS=1; DURATION=1; IDLE_COUNTS="1000"; TAIL_CONNS=2000 ;;
        --reps) REPS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --no-build) BUILD=0 ;;
        *) echo "usage: $0 [--quick] [--reps N] [--duration SECS] [--no-build]" >&2; exit 2 ;;
    esac
    shift
done

command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }
command -v taskset >/dev/null || { echo "taskset not found (util-linux)" >&2; exit 1; }

if [ $BUILD = 1 ]; then
    echo "== building (release)"
    (cd "$ROOT" && CARGO_TARGET_DIR=$MAIN_TARGET cargo build --release -q \
        -p wirelane-examples --bin echo --bin loadgen --bin custom_loop)
    (cd "$PEERS" && CARGO_TARGET_DIR=$PEERS_TARGET cargo build --release -q)
fi

# The peers users pick instead of a Rust server: Node `ws` and Python `websockets`, at the
# versions pinned in node/package.json and python/requirements.txt (installed when missing;
# without node or python3 their rows are skipped). websockets is not an HTTP server (it
# answers a plain GET and closes the connection), so it has no row in E.
VENV=$PEERS_TARGET/pyvenv
if command -v npm >/dev/null && [ ! -d "$PEERS/node/node_modules/ws" ]; then
    echo "== installing node ws"
    (cd "$PEERS/node" && npm ci --no-audit --no-fund -q) || echo "   ! npm ci failed: node-ws skipped"
fi
if command -v python3 >/dev/null && ! "$VENV/bin/python" -c "import websockets" 2>/dev/null; then
    echo "== installing python websockets"
    { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q -r "$PEERS/python/requirements.txt"; } \
        || echo "   ! pip install failed: python-websockets skipped"
fi

ECHO=$MAIN_TARGET/release/echo
LOADGEN=$MAIN_TARGET/release/loadgen
P=$PEERS_TARGET/release
CLK_TCK=$(getconf CLK_TCK)
OUT=$PEERS/results.jsonl
LOG=$PEERS_TARGET/compare-logs
mkdir -p "$LOG"
: > "$OUT"

# name | kinds (ws: A-C, http: E, idle: D) | command (without --addr)
# Peers run twice where it matters: tuned (--tuned: the throughput idiom their maintainers
# recommend; the headline ratios use these) and naive (the way their docs' first example
# writes it).
SERVERS=(
    "wirelane-tokio|ws,http,idle|$ECHO --runtime tokio --threads 1"
    "wirelane-async-std|ws,http,idle|$ECHO --runtime async-std --threads 1"
    "wirelane-smol|ws,http,idle|$ECHO --runtime smol --threads 1"
    "wirelane-custom-loop|ws,http,idle|$MAIN_TARGET/release/custom_loop"
    "tokio-tungstenite|ws,idle|$P/tungstenite --tuned"
    "tokio-tungstenite-naive|ws|$P/tungstenite"
    "fastwebsockets|ws,http,idle|$P/fastws --tuned"
    "fastwebsockets-naive|ws|$P/fastws"
    "axum|ws,http,idle|$P/axum --tuned"
    "axum-naive|ws|$P/axum"
    "hyper|http|$P/hyper --tuned"
    "hyper-naive|http|$P/hyper"
    "node-ws|ws,http,idle|node $PEERS/node/server.js"
    "python-websockets|ws,idle|$VENV/bin/python $PEERS/python/server.py"
    "floor|ws,http,idle|$P/floor"
)

PORT=19100
SERVER_PID=
start_server() { # cmd... ; sets SERVER_PID, returns 1 if it does not come up
    PORT=$((PORT + 1))
    ADDR=127.0.0.1:$PORT
    # The idle scenario needs ~10,000 descriptors in the server too.
    ulimit -n "$(ulimit -Hn)"
    rm -f "$LOG/server.out"
    taskset -c "$SERVER_CPU" "$@" --addr "$ADDR" > "$LOG/server.out" 2>&1 &
    SERVER_PID=$!
    wait_listening "$ADDR" "$LOG/server.out" "$SERVER_PID" && return 0
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    return 1
}

stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

record() { # server scenario rep cpu_s json (the 1-minute load average is kept as a noise hint)
    echo "{\"server\":\"$1\",\"scenario\":\"$2\",\"rep\":$3,\"server_cpu_s\":$4,\"load1\":$(cut -d' ' -f1 /proc/loadavg),\"result\":$5}" >> "$OUT"
}

measure_ws() { # name scenario rep loadgen-args...
    local name=$1 sc=$2 rep=$3; shift 3
    local t0 t1 res
    t0=$(cpu_ticks "$SERVER_PID")
    res=$(timeout $((DURATION * 3 + 60)) taskset -c "$CLIENT_CPU" "$LOADGEN" --addr "$ADDR" \
        --duration "$DURATION" --json "$@" 2>"$LOG/lg.err") \
        || echo "   ! loadgen reported errors: $(head -c 300 "$LOG/lg.err")" >&2
    t1=$(cpu_ticks "$SERVER_PID")
    [ -n "$res" ] || res='{"errors":-1}'
    record "$name" "$sc" "$rep" "$(awk "BEGIN{print ($t1-$t0)/$CLK_TCK}")" "$res"
    echo "   $sc: $res cpu=$(awk "BEGIN{print ($t1-$t0)/$CLK_TCK}")"
    LAST_RES=$res
}

measure_http() { # name rep
    local name=$1 rep=$2 t0 t1 out reqs rps
    t0=$(cpu_ticks "$SERVER_PID")
    out=$(timeout $((DURATION * 3 + 30)) taskset -c "$CLIENT_CPU" wrk -t1 -c64 -d"${DURATION}s" --latency "http://$ADDR/" 2>&1 || true)
    t1=$(cpu_ticks "$SERVER_PID")
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {n++} END {print n + 0}')
    local res="{\"requests\":${reqs:-0},\"req_per_s\":${rps:-0},\"p50\":\"$p50\",\"p99\":\"$p99\",\"errors\":$errs}"
    record "$name" E "$rep" "$(awk "BEGIN{print ($t1-$t0)/$CLK_TCK}")" "$res"
    echo "   E: $res cpu=$(awk "BEGIN{print ($t1-$t0)/$CLK_TCK}")"
}

echo "== machine: $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg); server on cpu $SERVER_CPU, load on cpu $CLIENT_CPU"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date +%s)
AVAILABLE=()
for entry in "${SERVERS[@]}"; do
    IFS='|' read -r name kinds cmd <<< "$entry"
    # shellcheck disable=SC2086
    if start_server $cmd; then
        AVAILABLE+=("$entry")
        stop_server
    else
        echo "== skipping $name (did not start: $(head -c 200 "$LOG/server.out"))"
    fi
done

for rep in $(seq "$REPS"); do
    for entry in "${AVAILABLE[@]}"; do
        IFS='|' read -r name kinds cmd <<< "$entry"
        echo "== rep $rep: $name"
        # shellcheck disable=SC2086
        start_server $cmd || { echo "   ! $name did not start"; continue; }
        if [[ $kinds == *ws* ]]; then
            measure_ws "$name" A "$rep" --conns 64 --window 16 --size 32
            # B: latency at a fixed load, half the rate A just measured on this server;
            # T: the tail with 10,000 connections of which 1% send (10,000 msgs/s, or
            # half of A's rate when that is less).
            max_rate=$(echo "$LAST_RES" | sed -n 's/.*"msgs_per_s":\([0-9.]*\).*/\1/p')
            half=$(awk "BEGIN{r=${max_rate:-0}/2; print (r < 100 ? 100 : int(r))}")
            tail_rate=$(( half < 10000 ? half : 10000 ))
            measure_ws "$name" B "$rep" --conns 64 --size 32 --rate "$half"
            measure_ws "$name" C "$rep" --conns 16 --window 1 --size 65536
            # T opens 10,000 connections: once per server (the first repetition) is enough.
            if [ "$rep" = 1 ]; then
                measure_ws "$name" T "$rep" --conns "$TAIL_CONNS" --active $((TAIL_CONNS / 100)) \
                    --size 32 --rate "$tail_rate"
            fi
        fi
        if [[ $kinds == *http* ]]; then
            measure_http "$name" "$rep"
        fi
        stop_server
    done
done

# D: memory is close to deterministic, so one fresh server per count is enough.
for entry in "${AVAILABLE[@]}"; do
    IFS='|' read -r name kinds cmd <<< "$entry"
    [[ $kinds == *idle* ]] || continue
    for n in $IDLE_COUNTS; do
        # shellcheck disable=SC2086
        start_server $cmd || continue
        res=$(timeout 300 taskset -c "$CLIENT_CPU" "$LOADGEN" --addr "$ADDR" --idle "$n" \
            --server-pid "$SERVER_PID" --hold 1 --json 2>"$LOG/lg.err") || true
        [ -n "$res" ] || res='{"errors":-1}'
        record "$name" "D$n" 1 0 "$res"
        echo "== $name D$n: $res"
        stop_server
    done
done

# P: the article's table. One fresh server per mode and rate.
PUSH_DURATION=$(( DURATION < 3 ? 3 : DURATION ))
for rep in $(seq "$REPS"); do
    for mode in ws sse long-poll short-poll; do
        for rate in 10 500; do
            start_server "$ECHO" --runtime tokio --threads 1 --push-rate "$rate" || continue
            res=$(timeout 120 taskset -c "$CLIENT_CPU" "$LOADGEN" --addr "$ADDR" --push "$mode" \
                --clients 1000 --duration "$PUSH_DURATION" --warmup 2 --server-pid "$SERVER_PID" \
                --json 2>"$LOG/lg.err") || echo "   ! loadgen reported errors: $(head -c 300 "$LOG/lg.err")" >&2
            [ -n "$res" ] || res='{"errors":-1}'
            record wirelane-tokio "P-$mode-$rate" "$rep" 0 "$res"
            echo "== rep $rep P $mode at $rate/s: $res"
            stop_server
        done
    done
done

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(( $(date +%s) - START ))
CMDLINE="examples/peers/compare.sh"
if [ $QUICK = 1 ]; then CMDLINE="$CMDLINE --quick"; fi
cd "$ROOT"
python3 "$PEERS/report.py" \
    --results "$OUT" --out "$ROOT/BENCHMARKS.md" --svg "$PEERS/chart.svg" \
    --push-svg "$PEERS/push.svg" \
    --reps "$REPS" --duration "$DURATION" --elapsed "$ELAPSED" \
    --load-start "$LOAD_START" --load-end "$LOAD_END" \
    --server-cpu "$SERVER_CPU" --client-cpu "$CLIENT_CPU" \
    --peers-lock "$PEERS/Cargo.lock" --main-lock "$ROOT/Cargo.lock" --cmdline "$CMDLINE"
echo "== wrote BENCHMARKS.md and examples/peers/chart.svg in ${ELAPSED}s"
