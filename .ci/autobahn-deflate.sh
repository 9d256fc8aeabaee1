#!/usr/bin/env bash
# Autobahn|Testsuite permessage-deflate cases (12.* and 13.*) against echo and custom_loop
# with `--deflate`.
#
#   .ci/autobahn-deflate.sh [--full] [--mode default|takeover|none] [SERVER...]
#
# SERVER: tokio, async-std, smol (the echo example on that runtime) or custom_loop (the
# core driven by a plain mio loop). Default: tokio.
#
# Without --full it runs the CI subset: cases .1 and .11 of every 12.x and 13.x group
# (24 of the 216: every payload kind of 12.x, every negotiation variant of 13.x, small and
# larger messages, unfragmented and auto-fragmented), 2-4 minutes. --full runs all 216, which takes 20-40 minutes per
# server on 2 cores, almost all of it in wstest's own CPU (see the harness README); run it
# by hand before a release:
#
#   .ci/autobahn-deflate.sh --full tokio async-std smol custom_loop
#   .ci/autobahn-deflate.sh --full --mode takeover tokio
#
# Exits 1 if any server has failed or missing cases, or did not start.
set -uo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
harness="$root/../shared/tools/autobahn/run.sh"
# shellcheck source=lib/listening.sh
. .ci/lib/listening.sh

cases=""
mode=default
servers=()
while [ $# -gt 0 ]; do
    case "$1" in
        --full) cases=deflate ;;
        --mode) mode=$2; shift ;;
        *) servers+=("$1") ;;
    esac
    shift
done
[ ${#servers[@]} -gt 0 ] || servers=(tokio)
if [ -z "$cases" ]; then
    list=()
    for g in 1 2 3 4 5; do list+=("12.$g.1" "12.$g.11"); done
    for g in 1 2 3 4 5 6 7; do list+=("13.$g.1" "13.$g.11"); done
    cases=$(IFS=,; echo "${list[*]}")
fi

cargo build --release --quiet -p wirelane-examples --bin echo --bin custom_loop || exit 1
target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])') || exit 1

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
for server in "${servers[@]}"; do
    log="$work/$server.log"
    if [ "$server" = custom_loop ]; then
        "$target_dir/release/custom_loop" --addr 127.0.0.1:0 --deflate "$mode" >"$log" 2>&1 &
    else
        "$target_dir/release/echo" --addr 127.0.0.1:0 --runtime "$server" --deflate "$mode" \
            >"$log" 2>&1 &
    fi
    pid=$!
    port=$(listening_port "$pid" "$log")
    if [ -z "$port" ]; then
        echo "autobahn-deflate[$server]: did not start:" >&2
        cat "$log" >&2
        summaries+=("$server: server did not start")
        status=1
        kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
        continue
    fi
    echo "== $server --deflate $mode (port $port)"
    out="$work/autobahn-$server.txt"
    t0=$(date +%s)
    "$harness" "$port" "$cases" | tee "$out"
    rc=${PIPESTATUS[0]}
    line=$(grep -m1 '^autobahn:' "$out" || echo "autobahn: no summary (harness exit $rc)")
    [ "$rc" -eq 0 ] || status=1
    if ! kill -0 "$pid" 2>/dev/null; then
        line="$line; the server died during the run"
        status=1
    fi
    kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
    summaries+=("$server ($mode): $line ($(($(date +%s) - t0)) s)")
done

echo "== summary"
printf '%s\n' "${summaries[@]}"
exit $status
