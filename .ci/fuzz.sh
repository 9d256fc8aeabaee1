#!/usr/bin/env bash
# Bounded smoke pass of every cargo-fuzz target (fuzz/fuzz_targets/*.rs).
#
#   .ci/fuzz.sh [SECONDS_PER_TARGET]       default 20
#
# Runs `cargo fuzz run <target>` for SECONDS each on the stable toolchain
# (RUSTC_BOOTSTRAP=1 lets cargo-fuzz use the nightly flags it needs), installing cargo-fuzz
# if it is missing. The committed corpus (fuzz/corpus/<target>/) is copied to a scratch
# dir first, so the run neither grows nor dirties it. A crash fails the script; libFuzzer's
# reproducer is kept under fuzz/artifacts/<target>/.
#
# If cargo-fuzz cannot be installed or cannot build (no network, no sanitizer support),
# falls back to replaying the corpus through the same target bodies as a normal test
# (core/tests/fuzz_replay.rs), so the check still runs on a plain stable toolchain.
set -uo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
secs=${1:-20}
export RUSTC_BOOTSTRAP=1

replay() {
    echo "fuzz: falling back to the corpus replay ($1)"
    cargo test -p wirelane-core --test fuzz_replay
    exit $?
}

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz || replay "cargo-fuzz does not install"
fi
(cd fuzz && cargo fuzz build) || replay "cargo fuzz build failed"

targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^wirelane-fuzz$')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for t in $targets; do
    mkdir -p "$work/$t"
    cp fuzz/corpus/"$t"/* "$work/$t"/ 2>/dev/null
    log="$work/$t.log"
    (cd fuzz && cargo fuzz run "$t" "$work/$t" -- -max_total_time="$secs" -print_final_stats=1) >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ "$rc" -eq 0 ]; then
        echo "fuzz: $t ok (${runs:-?} executions in ${secs}s)"
    else
        echo "fuzz: $t FAILED (exit $rc)"
        grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -20
        status=1
    fi
done
exit $status
