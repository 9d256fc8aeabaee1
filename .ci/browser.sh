#!/usr/bin/env bash
# End-to-end test of the demo's web pages in headless Chromium (issue 6).
#
# Installs Debian's chromium and playwright-core (npm, examples/browser-test/; no browser
# download), builds and starts the demo on a free loopback port, and runs
# examples/browser-test/test.mjs: two pages chat, the chart draws >= 50 points, the /data
# stream reconnects. Screenshots: target/browser/. Always stops the server. Run from
# anywhere; respects CARGO_TARGET_DIR. Env: DEMO_RUNTIME (default tokio), DOCS_SCREENSHOT
# (also copy the main screenshot there, e.g. docs/demo.png), DEMO_TLS=1 (the demo over
# https:// and wss://, with the certificate it makes at start, --tls-self-signed; Chromium
# pins it by the SPKI hash the demo prints).
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

# shellcheck source=lib/demo.sh
. .ci/lib/demo.sh
scheme=http
if [ "${DEMO_TLS:-0}" = 1 ]; then
    scheme=https
    start_demo "$runtime" "$out/server.log" --tls-self-signed
    BROWSER_SPKI=$(sed -n 's/^tls: SPKI SHA-256 (base64) //p' "$out/server.log")
    [ -n "$BROWSER_SPKI" ] || { echo "the demo printed no SPKI hash" >&2; exit 1; }
    export BROWSER_SPKI
else
    start_demo "$runtime" "$out/server.log"
fi

docs=()
if [ -n "${DOCS_SCREENSHOT:-}" ]; then docs=("$(realpath -m "$DOCS_SCREENSHOT")"); fi
timeout 180 node examples/browser-test/test.mjs "$scheme://127.0.0.1:$port" "$out" "${docs[@]}"
echo "browser test passed (runtime $runtime, $scheme); screenshots in $out"
