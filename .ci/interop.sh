#!/usr/bin/env bash
# Interop of the demo with WebSocket clients we did not write (issue 6): Python `websockets`
# (pip, in a venv under target/) and Node `ws` (npm, examples/interop/) against the demo's
# /ws, /chat and /data (plus /room and /events): text, binary, fragments, ping, close codes.
# Builds and starts the demo on a free loopback port and always stops it. Run from anywhere;
# respects CARGO_TARGET_DIR. Env: DEMO_RUNTIME (default tokio).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
runtime=${DEMO_RUNTIME:-tokio}
out="$repo/target/interop"
mkdir -p "$out"

if [ ! -x "$out/venv/bin/python" ]; then
    python3 -m venv "$out/venv"
fi
timeout 120 "$out/venv/bin/pip" install -q --disable-pip-version-check -r examples/interop/requirements.txt
(cd examples/interop && timeout 120 npm ci --no-audit --no-fund --loglevel=error)

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

# The two clients run side by side (each takes ~12 s, mostly /data's 10 s stream).
timeout 60 "$out/venv/bin/python" examples/interop/interop.py "127.0.0.1:$port" & py=$!
timeout 60 node examples/interop/interop.mjs "127.0.0.1:$port" & js=$!
status=0
wait "$py" || status=1
wait "$js" || status=1
kill -0 "$server" 2>/dev/null || { echo "the demo died during the run" >&2; status=1; }
if [ "$status" -ne 0 ]; then
    echo "interop FAILED (runtime $runtime); server log: $out/server.log" >&2
    exit 1
fi
echo "interop passed (runtime $runtime)"
