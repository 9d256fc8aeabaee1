#!/usr/bin/env bash
# End-to-end test of the demo's web pages in headless Chromium (issue 6).
#
# Installs Debian's chromium and playwright-core (npm, examples/browser-test/; no browser
# download), builds and starts the demo on a free loopback port, and runs
# examples/browser-test/test.mjs: two pages chat, the chart draws >= 50 points, the /data
# stream reconnects. Screenshots: target/browser/. Always stops the server. Run from
# anywhere; respects CARGO_TARGET_DIR. Env: DEMO_RUNTIME (default tokio), DOCS_SCREENSHOT
# (also copy the main screenshot there, e.g. docs/demo.png).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
runtime=${DEMO_RUNTIME:-tokio}
out="$repo/target/browser"
mkdir -p "$out"

if ! command -v chromium >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    timeout 240 apt-get update -qq
    timeout 240 apt-get install -y -qq chromium >/dev/null
fi
(cd examples/browser-test && timeout 120 npm ci --no-audit --no-fund --loglevel=error)

timeout 280 cargo build --release -p wirelane-examples --bin demo
bin="${CARGO_TARGET_DIR:-$repo/target}/release/demo"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" --addr "127.0.0.1:$port" --runtime "$runtime" >"$out/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    kill -0 "$server" 2>/dev/null || { cat "$out/server.log"; echo "demo exited" >&2; exit 1; }
    sleep 0.1
done

docs=()
if [ -n "${DOCS_SCREENSHOT:-}" ]; then docs=("$(realpath -m "$DOCS_SCREENSHOT")"); fi
timeout 180 node examples/browser-test/test.mjs "http://127.0.0.1:$port" "$out" "${docs[@]}"
echo "browser test passed (runtime $runtime); screenshots in $out"
