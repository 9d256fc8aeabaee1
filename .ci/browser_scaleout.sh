#!/usr/bin/env bash
# The demo's chat room across two processes in headless Chromium (issue 15).
#
# Starts a throwaway redis-server and two demos on it (`--redis`), each on its own free
# loopback port and, by default, on different runtimes (tokio and smol), then runs
# examples/browser-test/scaleout.mjs: one page on each demo; each must show "2 online" and
# the other's message, and the count must fall back to 1 when one page leaves.
# Screenshots: target/browser-scaleout/. The EXIT trap stops both demos and Redis whatever
# happens. Installs Debian's chromium and playwright-core when missing, like browser.sh.
# Env: DEMO_RUNTIMES (default "tokio smol": the first for page A's demo, the second for B's).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
read -r runtime_a runtime_b <<<"${DEMO_RUNTIMES:-tokio smol}"
runtime_b=${runtime_b:-$runtime_a}
out="$repo/target/browser-scaleout"
mkdir -p "$out"

if ! command -v chromium >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    timeout 240 apt-get update -qq
    timeout 240 apt-get install -y -qq chromium >/dev/null
fi
if ! command -v redis-server >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    timeout 240 apt-get install -y -qq redis-server >/dev/null ||
        { timeout 240 apt-get update -qq && timeout 240 apt-get install -y -qq redis-server >/dev/null; }
fi
(cd examples/browser-test && timeout 120 npm ci --no-audit --no-fund --loglevel=error)

# shellcheck source=lib/demo.sh
. .ci/lib/demo.sh
demo_pids=()
redis_pid=
stop_all() {
    local pid
    for pid in "${demo_pids[@]}" $redis_pid; do kill "$pid" 2>/dev/null || true; done
    for pid in "${demo_pids[@]}" $redis_pid; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT

spawn_redis "$out/redis.log"
redis_url="redis://127.0.0.1:$redis_port"
spawn_demo "$runtime_a" "$out/server-a.log" --redis "$redis_url"
port_a=$port
spawn_demo "$runtime_b" "$out/server-b.log" --redis "$redis_url"
port_b=$port
echo "redis on $redis_port; demo A ($runtime_a) on $port_a, demo B ($runtime_b) on $port_b"

timeout 120 node examples/browser-test/scaleout.mjs \
    "http://127.0.0.1:$port_a" "http://127.0.0.1:$port_b" "$out"
echo "scale-out browser test passed (runtimes $runtime_a + $runtime_b); screenshots in $out"
