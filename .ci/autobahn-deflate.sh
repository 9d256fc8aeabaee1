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
# larger messages, unfragmented and auto-fragmented), 2-4 minutes. --full runs all 216.
# Almost all of a run's time is wstest's own CPU (single-threaded CPython 2.7, see the
# harness README): measured here, about 12 CPU-minutes of wstest for the 216 cases against
# echo on tokio. So the cases are split between two wstest processes against the same
# server, 12.* and 13.* (one per core): about 7 minutes on 2 otherwise idle cores. CI runs
# the full set on tokio; the other servers by hand:
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
full=0
mode=default
servers=()
while [ $# -gt 0 ]; do
    case "$1" in
        --full) full=1 ;;
        --mode) mode=$2; shift ;;
        *) servers+=("$1") ;;
    esac
    shift
done
[ ${#servers[@]} -gt 0 ] || servers=(tokio)
groups=()
if [ $full = 1 ]; then
    groups=("12.*" "13.*")
else
    list=()
    for g in 1 2 3 4 5; do list+=("12.$g.1" "12.$g.11"); done
    for g in 1 2 3 4 5 6 7; do list+=("13.$g.1" "13.$g.11"); done
    groups=("$(IFS=,; echo "${list[*]}")")
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

# Install the harness once, before wstest processes run side by side.
"$(dirname "$harness")/setup.sh" >/dev/null || { echo "autobahn-deflate: harness setup failed" >&2; exit 2; }

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
    t0=$(date +%s)
    # One wstest per group, in parallel; each writes its own report.
    hpids=()
    for i in "${!groups[@]}"; do
        AUTOBAHN_OUT="$work/report-$server-$i" AUTOBAHN_AGENT="$server" \
            "$harness" "$port" "${groups[$i]}" >"$work/autobahn-$server-$i.txt" 2>&1 &
        hpids+=($!)
    done
    rc=0
    for i in "${!groups[@]}"; do
        wait "${hpids[$i]}" || rc=1
        echo "-- cases ${groups[$i]}"
        cat "$work/autobahn-$server-$i.txt"
    done
    # The groups' summary lines, summed bucket by bucket.
    line=$(cat "$work"/autobahn-"$server"-*.txt | grep '^autobahn: [0-9]' |
        awk -F', ' '{ for (i = 1; i <= NF; i++) { f = $i; sub(/^autobahn: /, "", f);
                          n = f + 0; sub(/^[0-9]+ /, "", f); if (!(f in sum)) order[++k] = f; sum[f] += n } }
                   END { printf "autobahn:"; for (j = 1; j <= k; j++) printf "%s %d %s", (j > 1 ? "," : ""), sum[order[j]], order[j]; print "" }')
    [ "$(cat "$work"/autobahn-"$server"-*.txt | grep -c '^autobahn: [0-9]')" -eq "${#groups[@]}" ] ||
        { line="$line; a group had no summary"; rc=1; }
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
