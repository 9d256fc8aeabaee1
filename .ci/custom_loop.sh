#!/usr/bin/env bash
# Autobahn|Testsuite (cases 1-10) against examples/src/bin/custom_loop.rs, the server that
# drives the protocol core from a plain readiness loop with no async runtime.
#
# Builds it (release), starts it on a free loopback port (it binds 127.0.0.1:0 and we read
# the port from its `listening on` line), runs the shared harness against it, always kills
# it. Exits non-zero if the server did not start, the harness failed, or any case failed or
# is missing.
set -uo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
harness="$root/../shared/tools/autobahn/run.sh"
# shellcheck source=lib/listening.sh
. .ci/lib/listening.sh

cargo build --release --quiet -p wirelane-examples --bin custom_loop || exit 1
target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])') || exit 1

log=$(mktemp)
"$target_dir/release/custom_loop" --addr 127.0.0.1:0 >"$log" 2>&1 &
pid=$!
cleanup() {
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(listening_port "$pid" "$log")
if [ -z "$port" ]; then
    echo "custom_loop: server did not start:" >&2
    cat "$log" >&2
    exit 1
fi

echo "== custom_loop (port $port)"
"$harness" "$port"
rc=$?
if ! kill -0 "$pid" 2>/dev/null; then
    echo "custom_loop: the server died during the run:" >&2
    cat "$log" >&2
    rc=1
fi
exit $rc
