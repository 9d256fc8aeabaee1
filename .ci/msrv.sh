#!/usr/bin/env bash
# Keeps the published crates' `rust-version` honest with the one toolchain CI has (there is no
# second, older toolchain to build with):
# - our own code: clippy's `incompatible_msrv` lint (run here explicitly, denied) flags any std
#   API stabilized after the workspace's `rust-version`; the edition (2021) bounds the syntax;
# - the dependencies: every crate that a published crate (wirelane-core and the adapters, all
#   features) pulls in must declare a `rust-version` no newer than ours, or none (crates
#   without one are older than the field, 1.56).
# What this cannot see: a language feature stabilized after the MSRV in edition 2021 that
# clippy does not know about. The MSRV is also documented in each crate's README.
set -euo pipefail
cd "$(dirname "$0")/.."
msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml | head -1)
echo "rust-version: $msrv"
cargo clippy -p wirelane-core -p wirelane-tokio -p wirelane-async-std -p wirelane-smol \
    --all-features -- -D clippy::incompatible_msrv
published='["wirelane-core","wirelane-tokio","wirelane-async-std","wirelane-smol"]'
cargo metadata --format-version 1 --all-features | python3 -c '
import json, sys
msrv = tuple(int(x) for x in sys.argv[1].split("."))
published = set(json.loads(sys.argv[2]))
meta = json.load(sys.stdin)
pkgs = {p["id"]: p for p in meta["packages"]}
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
# Normal (non-dev) dependencies reachable from the published crates.
todo = [i for i, p in pkgs.items() if p["name"] in published]
seen = set()
while todo:
    i = todo.pop()
    if i in seen:
        continue
    seen.add(i)
    for d in nodes[i]["deps"]:
        if any(k["kind"] in (None, "build") for k in d["dep_kinds"]):
            todo.append(d["pkg"])
bad = []
for i in sorted(seen, key=lambda i: pkgs[i]["name"]):
    p = pkgs[i]
    rv = p.get("rust_version")
    if rv and tuple(int(x) for x in rv.split(".")[:2]) > msrv[:2]:
        bad.append("%s %s needs Rust %s" % (p["name"], p["version"], rv))
print(f"{len(seen)} crates checked against Rust {sys.argv[1]}")
if bad:
    print("newer than our rust-version:\n  " + "\n  ".join(bad))
    sys.exit(1)
' "$msrv" "$published"
