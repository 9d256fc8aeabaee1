#!/usr/bin/env bash
# TLS load benchmark: wirelane's echo over TLS (each runtime) against tokio-tungstenite +
# tokio-rustls (examples/peers/src/bin/tungstenite_tls.rs), same crypto provider (ring).
#
#   examples/peers/tls_compare.sh [--reps N] [--duration SECS] [--idle N] [--no-build]
#                                 [--only A,C,H,D] [--servers tokio,smol,async-std,peer]
#
# --only runs the named scenarios alone (`--only handshake` is `--only H`), --servers the
# named servers alone; the handshake scenario by itself on a quiet machine:
#   examples/peers/tls_compare.sh --only handshake --reps 5
#
# As compare.sh: each server pinned to one core ($SERVER_CPU), loadgen --tls to the other
# ($CLIENT_CPU), servers alternating within each repetition, server CPU from /proc/PID/stat.
# Scenarios: A 64 conns x 32 B window 16 | C 16 conns x 64 KiB window 1 | H handshakes (new
# TLS 1.3 connection + upgrade + one echo + close, one client thread) | D N idle wss
# connections (server RSS growth per connection, after the handshakes and after one echo).
# The certificate (P-256, openssl) is made for the run. Raw results:
# examples/peers/tls-results.jsonl; the summary table is printed (median of the reps).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PEERS=$ROOT/examples/peers
# shellcheck source=examples/peers/lib.sh
. "$PEERS/lib.sh"
MAIN_TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
PEERS_TARGET=${PEERS_TARGET_DIR:-$PEERS/target}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
REPS=3; DURATION=4; IDLE=10000; BUILD=1; ONLY=A,C,H,D; WHICH=tokio,async-std,smol,peer
USAGE="usage: $0 [--reps N] [--duration SECS] [--idle N] [--no-build] [--only A,C,H,D] [--servers tokio,smol,async-std,peer]"
while [ $# -gt 0 ]; do
    case $1 in
        --reps) REPS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --idle) IDLE=$2; shift ;;
        --no-build) BUILD=0 ;;
        --only) ONLY=${2//handshake/H}; shift ;;
        --servers) WHICH=$2; shift ;;
        *) echo "$USAGE" >&2; exit 2 ;;
    esac
    shift
done
wanted() { [[ ",$ONLY," == *",$1,"* ]]; }
if [ $BUILD = 1 ]; then
    (cd "$ROOT" && cargo build --release -q -p wirelane-examples --bin echo --bin loadgen)
    (cd "$PEERS" && CARGO_TARGET_DIR=$PEERS_TARGET cargo build --release -q --bin tungstenite_tls)
fi
LOADGEN=$MAIN_TARGET/release/loadgen
ECHO=${WIRELANE_ECHO:-$MAIN_TARGET/release/echo}
CLK_TCK=$(getconf CLK_TCK)
LOG=$(mktemp -d)
# A partial run (--only, --servers) does not replace the full run's raw results.
if [ "$ONLY,$WHICH" = "A,C,H,D,tokio,async-std,smol,peer" ]; then
    OUT=$PEERS/tls-results.jsonl
else
    OUT=$LOG/results.jsonl
fi
trap 'rm -rf "$LOG"' EXIT
test_cert "$LOG"
TLSARGS="--tls-cert $LOG/cert.pem --tls-key $LOG/key.pem"
ALL_SERVERS=(
    "tokio|wirelane-tokio|$ECHO --runtime tokio --threads 1 $TLSARGS"
    "async-std|wirelane-async-std|$ECHO --runtime async-std --threads 1 $TLSARGS"
    "smol|wirelane-smol|$ECHO --runtime smol --threads 1 $TLSARGS"
    "peer|tokio-tungstenite+tokio-rustls|$PEERS_TARGET/release/tungstenite_tls"
)
SERVERS=()
for entry in "${ALL_SERVERS[@]}"; do
    [[ ",$WHICH," == *",${entry%%|*},"* ]] && SERVERS+=("${entry#*|}")
done
: > "$OUT"
PORT=19300
SERVER_PID=
start_server() {
    PORT=$((PORT + 1)); ADDR=127.0.0.1:$PORT
    ulimit -n "$(ulimit -Hn)"
    taskset -c "$SERVER_CPU" "$@" --addr "$ADDR" > "$LOG/server.out" 2>&1 &
    SERVER_PID=$!
    wait_listening "$ADDR" "$LOG/server.out" "$SERVER_PID"
}
stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
measure() { # name scenario rep loadgen-args...
    local name=$1 sc=$2 rep=$3; shift 3
    local t0 t1 res cpu
    t0=$(cpu_ticks "$SERVER_PID")
    res=$(taskset -c "$CLIENT_CPU" "$LOADGEN" --addr "$ADDR" --tls --tls-ca "$TLS_CERT" \
        --duration "$DURATION" --json "$@" 2>"$LOG/lg.err") || echo "   ! errors: $(head -c 300 "$LOG/lg.err")" >&2
    t1=$(cpu_ticks "$SERVER_PID")
    cpu=$(awk "BEGIN{print ($t1-$t0)/$CLK_TCK}")
    echo "{\"server\":\"$name\",\"scenario\":\"$sc\",\"rep\":$rep,\"server_cpu_s\":$cpu,\"load1\":$(cut -d' ' -f1 /proc/loadavg),\"result\":${res:-null}}" >> "$OUT"
    echo "   $sc: ${res:-none} cpu=$cpu"
}
echo "== load $(cut -d' ' -f1-3 /proc/loadavg)"
for rep in $(seq "$REPS"); do
    for entry in "${SERVERS[@]}"; do
        IFS='|' read -r name cmd <<< "$entry"
        echo "== rep $rep: $name"
        # shellcheck disable=SC2086
        start_server $cmd || { echo "   ! $name did not start: $(cat "$LOG/server.out")"; continue; }
        if wanted A; then measure "$name" A "$rep" --conns 64 --window 16 --size 32; fi
        if wanted C; then measure "$name" C "$rep" --conns 16 --window 1 --size 65536; fi
        if wanted H; then measure "$name" H "$rep" --handshakes --threads 1; fi
        stop_server
    done
done
for entry in "${SERVERS[@]}"; do
    wanted D || break
    IFS='|' read -r name cmd <<< "$entry"
    # shellcheck disable=SC2086
    start_server $cmd || continue
    res=$(taskset -c "$CLIENT_CPU" "$LOADGEN" --addr "$ADDR" --tls --tls-ca "$TLS_CERT" --idle "$IDLE" \
        --server-pid "$SERVER_PID" --hold 1 --json 2>"$LOG/lg.err") || true
    echo "{\"server\":\"$name\",\"scenario\":\"D\",\"rep\":1,\"server_cpu_s\":0,\"load1\":$(cut -d' ' -f1 /proc/loadavg),\"result\":${res:-null}}" >> "$OUT"
    echo "== $name D$IDLE: ${res:-none}"
    stop_server
done
echo "== load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
peer = "tokio-tungstenite+tokio-rustls"
def med(server, sc, f):
    v = [f(r) for r in rows if r["server"] == server and r["scenario"] == sc and r["result"] and r["server_cpu_s"] > 0]
    return statistics.median(v) if v else None
per = {
    "A": lambda r: r["result"]["messages"] / r["server_cpu_s"],
    "C": lambda r: r["result"]["messages"] * r["result"]["size"] / 1e6 / r["server_cpu_s"],
    "H": lambda r: r["result"]["cycles"] / r["server_cpu_s"],
}
servers = sorted({r["server"] for r in rows}, key=lambda s: (s == peer, s))
print("| server | A msgs per server-CPU-s | vs peer | C MB per server-CPU-s | vs peer | H handshakes per server-CPU-s | vs peer | D idle B/conn | after echo B/conn | vs peer |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
pd = [r for r in rows if r["server"] == peer and r["scenario"] == "D" and r["result"]]
pd = pd[0]["result"] if pd else None
for s in servers:
    cells = []
    for sc in "ACH":
        v, p = med(s, sc, per[sc]), med(peer, sc, per[sc])
        cells += [f"{v:,.0f}" if v else "-", f"{v/p:.2f}x" if v and p else "-"]
    d = [r for r in rows if r["server"] == s and r["scenario"] == "D" and r["result"]]
    d = d[0]["result"] if d else None
    if d:
        cells += [f"{d['bytes_per_conn']:,.0f}", f"{d['bytes_per_conn_after_msg']:,.0f}",
                  f"{d['bytes_per_conn_after_msg']/pd['bytes_per_conn_after_msg']:.2f}x" if pd else "-"]
    else:
        cells += ["-", "-", "-"]
    print(f"| {s} | " + " | ".join(cells) + " |")
PY
