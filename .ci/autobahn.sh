#!/usr/bin/env bash
# Autobahn|Testsuite (cases 1-10) against the echo example on every runtime.
#
#   .ci/autobahn.sh [--tls] [RUNTIME...]     default: tokio async-std smol
#
# With --tls, echo serves wss:// with a certificate it makes at start
# (--tls-self-signed) and the harness connects with AUTOBAHN_SCHEME=wss (its client does
# not verify certificates).
#
# Builds echo (release); for each runtime starts it on a free loopback port (it binds
# 127.0.0.1:0 and we read the port from its `listening on` line), runs the shared harness
# against it, then stops it with SIGTERM (graceful shutdown must finish within 10 s) and
# always kills it. Prints the harness summary line per runtime. Exits 1 if any runtime has
# failed or missing cases, a harness error, or a server that did not start or stop.
set -uo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
harness="$root/../shared/tools/autobahn/run.sh"
# shellcheck source=lib/listening.sh
. .ci/lib/listening.sh
tls_flags=()
if [ "${1:-}" = "--tls" ]; then
    shift
    tls_flags=(--tls-self-signed)
    export AUTOBAHN_SCHEME=wss
fi
runtimes=("$@")
[ ${#runtimes[@]} -gt 0 ] || runtimes=(tokio async-std smol)

cargo build --release --quiet -p wirelane-examples --bin echo || exit 1
target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])') || exit 1
echo_bin="$target_dir/release/echo"

work=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

status=0
summaries=()
for rt in "${runtimes[@]}"; do
    log="$work/echo-$rt.log"
    "$echo_bin" --addr 127.0.0.1:0 --runtime "$rt" "${tls_flags[@]}" >"$log" 2>&1 &
    pid=$!
    port=$(listening_port "$pid" "$log")
    if [ -z "$port" ]; then
        echo "autobahn[$rt]: echo did not start:" >&2
        cat "$log" >&2
        summaries+=("$rt: server did not start")
        status=1
        kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
        continue
    fi
    echo "== $rt (port $port${tls_flags:+, wss})"
    out="$work/autobahn-$rt.txt"
    "$harness" "$port" | tee "$out"
    rc=${PIPESTATUS[0]}
    line=$(grep -m1 '^autobahn:' "$out" || echo "autobahn: no summary (harness exit $rc)")
    [ "$rc" -eq 0 ] || status=1
    # Graceful shutdown on SIGTERM, within 10 s.
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        line="$line; did not shut down on SIGTERM"
        status=1
    else
        wait "$pid"
        src=$?
        if [ "$src" -ne 0 ]; then line="$line; exit $src after SIGTERM"; status=1; fi
    fi
    kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
    summaries+=("$rt: $line")
done

echo "== summary"
printf '%s\n' "${summaries[@]}"
exit $status
