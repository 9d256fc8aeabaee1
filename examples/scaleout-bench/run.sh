#!/usr/bin/env bash
# Cross-process fan-out: wirelane on its Redis backplane beside Socket.IO with
# @socket.io/redis-adapter, on one redis-server (issue 15).
#
#   examples/scaleout-bench/run.sh            # full run when the machine is quiet, else short
#   MODE=full|short SUBS=1000 RATE=100 DURATION=10 SIZE=100 examples/scaleout-bench/run.sh
#
# For each side: a throwaway redis-server (shared by both sides, loopback, no persistence),
# two server processes on it, and `fanout load` (examples/src/bin/fanout.rs): SUBS
# subscribers split over the two servers, one publisher on the first sending RATE small
# JSON messages a second for DURATION seconds. It reports deliveries per CPU-second of the
# two servers and redis-server together (/proc/PID/stat) and the publish-to-delivery
# latency. The machine's load (`uptime`) is printed beside every number: on a busy machine
# the figures are noisy, so unless MODE=full a load above LOAD_MAX (1.5) makes it a short
# run (DURATION=3), labelled as such. Output and logs: target/scaleout-bench/.
#
# Where `perf` can count system calls (root, or a low perf_event_paranoid), each server is
# also watched by `perf stat` during its load run, and the system calls and context
# switches per delivery are printed beside the CPU figures: they do not depend on how busy
# the machine is. Counting every system call costs a little CPU on both sides alike (about
# one system call per delivery each); PERF_STAT=0 turns it off.
#
# PERF_RECORD=1 also samples each server with `perf record -g` (at 499 Hz, to cost little:
# use those runs for the split, not for the ratio) and prints the CPU per delivery spent
# in the kernel's send system calls (writev, send, sendmsg), and from that the highest ratio
# any server making one send per delivery could reach against this Socket.IO run.
# Everything it starts is stopped by the EXIT trap; every step is bounded by a timeout.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
out="$repo/target/scaleout-bench"
mkdir -p "$out"
subs=${SUBS:-1000}
rate=${RATE:-100}
size=${SIZE:-100}
load_max=${LOAD_MAX:-1.5}
load1() { cut -d' ' -f1 /proc/loadavg; }
mode=${MODE:-}
if [ -z "$mode" ]; then
    if awk -v l="$(load1)" -v m="$load_max" 'BEGIN { exit !(l < m) }'; then mode=full; else mode=short; fi
fi
case $mode in
    full) duration=${DURATION:-10} ;;
    short) duration=${DURATION:-3} ;;
    *) echo "MODE must be full or short" >&2; exit 2 ;;
esac
echo "mode $mode: $subs subscribers over 2 processes, $rate msg/s for $duration s, $size-byte JSON; load $(load1) (uptime: $(uptime))"

for tool in redis-server node npm python3; do
    command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 1; }
done
timeout 600 cargo build --release -q -p wirelane-examples --bin fanout
fanout="${CARGO_TARGET_DIR:-$repo/target}/release/fanout"
(cd examples/scaleout-bench/socketio && timeout 180 npm ci --no-audit --no-fund --loglevel=error)

perf_stat=false
if [ "${PERF_STAT:-1}" != 0 ] && command -v perf >/dev/null &&
    perf stat -e raw_syscalls:sys_enter -o /dev/null true 2>/dev/null; then
    perf_stat=true
fi

# shellcheck source=../../.ci/lib/demo.sh
. .ci/lib/demo.sh
servers=()
redis_pid=
stop_servers() {
    local pid
    for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${servers[@]}"; do wait "$pid" 2>/dev/null || true; done
    servers=()
}
trap 'stop_servers; if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi' EXIT

# `wait_listening PID PORT LOG`: until PORT accepts connections (10 s at most).
wait_listening() {
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
        kill -0 "$1" 2>/dev/null || { cat "$3"; echo "server exited" >&2; exit 1; }
        sleep 0.1
    done
    echo "no server listening on $2" >&2
    exit 1
}

spawn_redis "$out/redis.log"
redis_url="redis://127.0.0.1:$redis_port"

# `side NAME PROTO START_CMD...`: two servers started by START_CMD PORT, then the load.
side() {
    local name=$1 proto=$2 i port pid ports=()
    shift 2
    for i in a b; do
        port=$(free_port)
        "$@" "$port" >"$out/$name-$i.log" 2>&1 &
        pid=$!
        servers+=("$pid")
        wait_listening "$pid" "$port" "$out/$name-$i.log"
        ports+=("127.0.0.1:$port")
    done
    echo
    echo "== $name (load before: $(load1))"
    # One `perf stat` per server, over the whole load run (the 1,000 handshakes and the
    # probes are in it too: well under 1% of the deliveries).
    local watchers=() j
    rm -f "$out/$name"-[ab].perf "$out/$name"-[ab].data
    if [ "${PERF_RECORD:-0}" = 1 ]; then
        for j in 0 1; do
            perf record -q -g -F 499 -p "${servers[$j]}" \
                -o "$out/$name-$([ "$j" = 0 ] && echo a || echo b).data" 2>/dev/null &
            watchers+=("$!")
        done
    fi
    if $perf_stat; then
        for j in 0 1; do
            perf stat -x, -e task-clock,context-switches,raw_syscalls:sys_enter \
                -p "${servers[$j]}" -o "$out/$name-$([ "$j" = 0 ] && echo a || echo b).perf" &
            watchers+=("$!")
        done
    fi
    timeout 240 "$fanout" load --proto "$proto" --servers "$(IFS=,; echo "${ports[*]}")" \
        --subs "$subs" --rate "$rate" --duration "$duration" --size "$size" \
        --cpu-pids "${servers[0]},${servers[1]},$redis_pid" | tee "$out/$name.txt" ||
        echo "($name: the load tool reported a failure, see above)"
    for j in "${watchers[@]}"; do kill -INT "$j" 2>/dev/null || true; done
    for j in "${watchers[@]}"; do wait "$j" 2>/dev/null || true; done
    echo "load after: $(load1)" | tee -a "$out/$name.txt"
    stop_servers
}
# `exec`, so that $! (a subshell's pid otherwise) is the server's own, whose CPU is read.
wirelane_serve() { exec "$fanout" serve --addr "127.0.0.1:$1" --redis "$redis_url"; }
socketio_serve() { exec node examples/scaleout-bench/socketio/server.mjs "$1" "$redis_url"; }
side wirelane wirelane wirelane_serve
side socketio socketio socketio_serve

echo
python3 - "$out/wirelane.txt" "$out/socketio.txt" "$mode" "$out" <<'PY'
import json, os, sys
def result(path):
    lines = open(path).read().splitlines()
    r = next((json.loads(l[7:]) for l in lines if l.startswith("RESULT ")), None)
    load = next((l.split(": ")[1] for l in lines if l.startswith("load after")), "?")
    return r, load
w, wl = result(sys.argv[1])
s, sl = result(sys.argv[2])
if not w or not s:
    sys.exit("a side produced no result")
print(f"{sys.argv[3]} run, {w['subs']} subscribers, {w['rate']} msg/s")
print(f"{'':28}{'wirelane':>14}{'Socket.IO':>14}{'ratio':>10}")
def row(label, key, fmt, better_high):
    a, b = w[key], s[key]
    ratio = (a / b if better_high else b / a) if a and b else float('nan')
    print(f"{label:28}{fmt.format(a):>14}{fmt.format(b):>14}{ratio:>9.1f}x")
row("deliveries per CPU-second", "deliveries_per_cpu_s", "{:.0f}", True)
row("CPU seconds (2 servers+Redis)", "cpu_total_s", "{:.2f}", False)
row("latency p50 (ms)", "p50_ms", "{:.2f}", False)
row("latency p99 (ms)", "p99_ms", "{:.2f}", False)
print(f"{'delivered / missing':28}{str(w['delivered'])+' / '+str(w['missing']):>14}{str(s['delivered'])+' / '+str(s['missing']):>14}")
print(f"{'load after the run':28}{wl:>14}{sl:>14}")
print("(ratio: how many times better wirelane is; for CPU and latency, Socket.IO's / wirelane's)")

def perf(side, server):
    # `perf stat -x,` lines: value,unit,event,...
    path = os.path.join(sys.argv[4], f"{side}-{server}.perf")
    if not os.path.exists(path):
        return None
    values = {}
    for line in open(path):
        f = line.strip().split(",")
        if len(f) > 2 and f[2]:
            try:
                values[f[2]] = float(f[0])
            except ValueError:
                pass
    return values
rows = []
for server, index in (("a", 0), ("b", 1)):
    for side, r in (("wirelane", w), ("socketio", s)):
        p = perf(side, server)
        # Subscribers go round-robin over the servers: a gets the odd one out.
        members = r["subs"] // 2 + (index < r["subs"] % 2)
        deliveries = r["delivered"] * members / r["subs"]
        if p and deliveries:
            rows.append((side, server, p, deliveries))
if rows:
    print()
    print("per delivery, each server (perf stat over its load run; server a has the publisher):")
    print(f"{'':20}{'CPU us':>10}{'syscalls':>10}{'ctx switches':>14}")
    for side, server, p, n in rows:
        cpu = p.get("task-clock", float("nan")) * 1000 / n
        sc = p.get("raw_syscalls:sys_enter", float("nan")) / n
        cs = p.get("context-switches", float("nan")) / n
        print(f"{side + ' ' + server:20}{cpu:>10.2f}{sc:>10.3f}{cs:>14.4f}")

import re, subprocess
def send_split(side, server):
    # (CPU ns sampled, share of it under the kernel's send system calls), from perf record.
    path = os.path.join(sys.argv[4], f"{side}-{server}.data")
    if not os.path.exists(path):
        return None
    def report(*args):
        return subprocess.run(["perf", "report", "-i", path, "--sort", "sym", "-g", "none",
                               "--stdio", *args], capture_output=True, text=True).stdout
    total = re.search(r"Event count \(approx\.\): (\d+)", report("--no-children"))
    share = 0.0
    for line in report("--children").splitlines():
        f = line.split()
        if len(f) >= 4 and f[-1] in ("do_writev", "__sys_sendto", "__sys_sendmsg"):
            share += float(f[0].rstrip("%")) / 100
    return (int(total.group(1)), share) if total else None
split = {}
for side, r in (("wirelane", w), ("socketio", s)):
    parts = [send_split(side, x) for x in ("a", "b")]
    if all(parts):
        ns = sum(p[0] for p in parts)
        send = sum(p[0] * p[1] for p in parts)
        split[side] = (ns / r["delivered"] / 1000, send / r["delivered"] / 1000)
if len(split) == 2:
    print()
    print("CPU per delivery, both servers, from perf record (499 Hz samples):")
    for side, (total, send) in split.items():
        print(f"  {side:10} {total:6.2f} us, of which {send:5.2f} us in the send system calls ({send / total:.0%})")
    print(f"  ceiling: Socket.IO's total / wirelane's send alone = {split['socketio'][0] / split['wirelane'][1]:.1f}x")
PY
