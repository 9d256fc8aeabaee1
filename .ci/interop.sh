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

# shellcheck source=lib/demo.sh
. .ci/lib/demo.sh
tls_flags=()
if [ "${DEMO_TLS:-0}" = 1 ]; then
    make_test_cert "$out"
    tls_flags=(--tls-cert "$out/cert.pem" --tls-key "$out/key.pem")
    export INTEROP_CA="$out/cert.pem" NODE_EXTRA_CA_CERTS="$out/cert.pem"
fi
start_demo "$runtime" "$out/server.log" "${tls_flags[@]}"

# The two clients run side by side (each takes ~12 s, mostly /data's 10 s stream).
timeout 60 "$out/venv/bin/python" examples/interop/interop.py "127.0.0.1:$port" & py=$!
timeout 60 node examples/interop/interop.mjs "127.0.0.1:$port" & js=$!
status=0
wait "$py" || status=1
wait "$js" || status=1
kill -0 "$server" 2>/dev/null || { echo "the demo died during the run" >&2; status=1; }
if [ "$status" -ne 0 ]; then
    echo "interop FAILED (runtime $runtime${tls_flags:+, wss}); server log: $out/server.log" >&2
    exit 1
fi
echo "interop passed (runtime $runtime${tls_flags:+, wss})"
