#!/usr/bin/env python3
"""Turns compare.sh's results.jsonl into BENCHMARKS.md and a hand-drawn SVG bar chart."""

import argparse
import json
import platform
import re
import statistics
import subprocess
from collections import defaultdict

WIRELANE = ["wirelane-tokio", "wirelane-async-std", "wirelane-smol", "wirelane-custom-loop"]
PEERS = ["tokio-tungstenite", "fastwebsockets", "axum", "hyper"]
NAIVE = [p + "-naive" for p in PEERS]
OTHERS = ["node-ws", "python-websockets"]
ORDER = WIRELANE + PEERS + OTHERS + NAIVE + ["floor"]


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def lock_versions(path, names):
    text = open(path).read()
    out = {}
    for m in re.finditer(r'name = "([^"]+)"\nversion = "([^"]+)"', text):
        if m.group(1) in names:
            out.setdefault(m.group(1), []).append(m.group(2))
    return {k: ", ".join(v) for k, v in out.items()}


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=0):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def ratio(a, b):
    if a is None or not b:
        return "–"
    return f"{a / b:.2f}×"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--push-svg")
    # To render an earlier run's results again: the date and commit it ran at.
    ap.add_argument("--date")
    ap.add_argument("--commit")
    for a in ["results", "out", "svg", "reps", "duration", "elapsed", "load-start", "load-end",
              "server-cpu", "client-cpu", "peers-lock", "main-lock", "cmdline"]:
        ap.add_argument("--" + a, required=True)
    args = ap.parse_args()

    rows = [json.loads(line) for line in open(args.results) if line.strip()]
    by = defaultdict(list)  # (server, scenario) -> rows
    for r in rows:
        by[(r["server"], r["scenario"])].append(r)
    servers = [s for s in ORDER if any(k[0] == s for k in by)]

    def stat(server, sc, f):
        return med([f(r) for r in by.get((server, sc), [])])

    def eff(server, sc, count_key):
        # Work per server-CPU-second, median over repetitions.
        def one(r):
            cpu = r["server_cpu_s"]
            n = r["result"].get(count_key)
            return n / cpu if cpu and n else None
        return stat(server, sc, one)

    def errors(server, sc):
        return sum(max(r["result"].get("errors", 0), 0) if r["result"].get("errors", 0) >= 0 else 1
                   for r in by.get((server, sc), []))

    def spread(server, sc, f, digits=0):
        vals = [v for v in (f(r) for r in by.get((server, sc), [])) if v is not None]
        if len(vals) < 2:
            return ""
        return f" ({min(vals):,.{digits}f}–{max(vals):,.{digits}f})"

    def eff_spread(server, sc, count_key):
        def one(r):
            cpu = r["server_cpu_s"]
            n = r["result"].get(count_key)
            return n / cpu if cpu and n else None
        return spread(server, sc, one)

    def client_cpu_share(server, sc):
        def one(r):
            c = r["result"].get("client_cpu_s")
            d = r["result"].get("duration")
            return c / d if c is not None and d else None
        return stat(server, sc, one)

    L = []
    L.append("# Benchmarks\n")
    loads = [r["load1"] for r in rows if "load1" in r]
    if "--quick" in args.cmdline or (loads and max(loads) > 2.0):
        what = []
        if "--quick" in args.cmdline:
            what.append(f"a **quick run** ({args.reps} repetition of {args.duration} s per "
                        "measurement, 2,000 connections in T, 1,000 only in D): a smoke test of the "
                        "harness, not a measurement")
        if loads and max(loads) > 2.0:
            what.append(f"made while other work shared this 2-core machine (1-minute load "
                        f"{min(loads):.1f} to {max(loads):.1f}): rates and latencies are unreliable, "
                        "ratios of work per server-CPU-second less so")
        L.append("> **Note:** these figures come from " + "; ".join(what) + ". Rerun "
                 "`examples/peers/compare.sh` on a quiet machine for figures to quote.\n")
    L.append("wirelane's `echo` example against peer servers (Rust, plus Node `ws` and Python "
             "`websockets`, each one process with one event loop), measured side by side in one run "
             "by [`examples/peers/compare.sh`](examples/peers/compare.sh) (generated file; do not "
             "edit by hand). Every server runs single-threaded (one tokio current-thread runtime, or "
             "one epoll loop for the floor) pinned to one core; the load generator "
             "([`examples/src/bin/loadgen.rs`](examples/src/bin/loadgen.rs), or `wrk` for HTTP) is "
             "pinned to the other. The main figure is **work per server-CPU-second** "
             "(server utime+stime from `/proc/PID/stat`), the median of alternating repetitions: "
             "on a shared, noisy machine ratios are more trustworthy than absolute rates.\n")
    L.append("Peers are written at their best, the way their maintainers recommend for throughput, "
             "and the headline ratios use these: tokio-tungstenite and axum `split` the socket and "
             "`forward` the data messages into the sink (replies are fed into the write buffer and "
             "flushed when no more input is ready, as tokio-tungstenite's own `echo-server` example "
             "does); fastwebsockets writes frames into a buffer flushed when no more input is ready "
             "(its docs' advice for buffered streams: it has no batching switch of its own); hyper "
             "runs with `pipeline_flush`. The rows marked **-naive** are the same peers written the "
             "way their docs' first example writes them (`send`, which flushes, per message; one "
             "write per frame; hyper's defaults), kept for users who write code that way. The load "
             "generator keeps W frames in flight and writes each connection's refills in one "
             "write.\n")
    L.append("The **floor** is a raw epoll loop that only reads, parses frame headers, unmasks and "
             "writes back (and answers `GET /` with a canned response): no validation, limits, "
             "UTF-8 checks, timers or Date header. It shows what the kernel alone costs here.\n")
    L.append(f"![chart](examples/peers/chart.svg)\n")

    # A
    L.append("## A: 64 connections × 32 B, window 16\n")
    L.append("Work per server-CPU-second is the median of the repetitions, with (min–max) beside it.\n")
    L.append("| server | msgs/s | server CPU s | msgs per server-CPU-s | vs tokio-tungstenite | vs floor | loadgen CPU share | errors |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    base_t = eff("tokio-tungstenite", "A", "messages")
    base_f = eff("floor", "A", "messages")
    for s in servers:
        if (s, "A") not in by:
            continue
        e = eff(s, "A", "messages")
        L.append(f"| {s} | {fmt(stat(s, 'A', lambda r: r['result'].get('msgs_per_s')))} | "
                 f"{fmt(stat(s, 'A', lambda r: r['server_cpu_s']), 2)} | {fmt(e)}{eff_spread(s, 'A', 'messages')} | {ratio(e, base_t)} | "
                 f"{ratio(e, base_f)} | {fmt((client_cpu_share(s, 'A') or 0) * 100)}% | {errors(s, 'A')} |")
    L.append("")

    # B
    L.append("## B: latency at a fixed load (half of A's rate), 64 connections × 32 B\n")
    L.append("An open loop: `loadgen --rate R` sends R messages a second in all, round-robin over 64 "
             "connections, on a fixed schedule whatever the replies do, with R half the rate this "
             "server reached in A in the same repetition. A message's latency runs from the time it "
             "was due (not the time it left), so falling behind shows in the tail. Medians over the "
             "repetitions, (min–max) beside p99.\n")
    L.append("| server | offered msgs/s | delivered msgs/s | p50 µs | p99 µs | p99.9 µs | send lag max µs | errors |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for s in servers:
        if (s, "B") not in by:
            continue
        g = lambda k: stat(s, "B", lambda r: r["result"].get(k))
        L.append(f"| {s} | {fmt(g('rate'))} | {fmt(g('msgs_per_s'))} | {fmt(g('p50_us'), 1)} | "
                 f"{fmt(g('p99_us'), 1)}{spread(s, 'B', lambda r: r['result'].get('p99_us'), 1)} | "
                 f"{fmt(g('p999_us'), 1)} | {fmt(g('max_send_lag_us'))} | {errors(s, 'B')} |")
    L.append("")
    tail_rows = [s for s in servers if (s, "T") in by]
    if tail_rows:
        conns = by[(tail_rows[0], "T")][0]["result"].get("conns", 0)
        L.append(f"## T: tail latency, {conns:,} connections of which 1% send\n")
        L.append(f"`loadgen --conns {conns} --active {conns // 100} --rate R`: every connection is "
                 "open, 1% of them carry an open-loop load of 10,000 msgs/s (or half of the server's "
                 "A rate, when that is less). One run per server (the first repetition).\n")
        L.append("| server | offered msgs/s | delivered msgs/s | p50 µs | p99 µs | p99.9 µs | errors |")
        L.append("|---|---:|---:|---:|---:|---:|---:|")
        for s in tail_rows:
            g = lambda k: stat(s, "T", lambda r: r["result"].get(k))
            L.append(f"| {s} | {fmt(g('rate'))} | {fmt(g('msgs_per_s'))} | {fmt(g('p50_us'), 1)} | "
                     f"{fmt(g('p99_us'), 1)} | {fmt(g('p999_us'), 1)} | {errors(s, 'T')} |")
        L.append("")

    # C
    L.append("## C: 16 connections × 64 KiB, window 1\n")
    L.append("| server | msgs/s | MB/s | MB per server-CPU-s | vs fastwebsockets | vs floor | errors |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")

    def mb_eff(s):
        def one(r):
            cpu = r["server_cpu_s"]
            n = r["result"].get("messages")
            return n * r["result"]["size"] / 1e6 / cpu if cpu and n else None
        return stat(s, "C", one)
    base_fw, base_fc = mb_eff("fastwebsockets"), mb_eff("floor")
    for s in servers:
        if (s, "C") not in by:
            continue
        e = mb_eff(s)
        c_one = lambda r: (r["result"].get("messages") or 0) * r["result"].get("size", 0) / 1e6 / r["server_cpu_s"] if r["server_cpu_s"] else None
        L.append(f"| {s} | {fmt(stat(s, 'C', lambda r: r['result'].get('msgs_per_s')))} | "
                 f"{fmt(stat(s, 'C', lambda r: r['result'].get('mb_per_s')), 1)} | {fmt(e, 1)}{spread(s, 'C', c_one, 1)} | "
                 f"{ratio(e, base_fw)} | {ratio(e, base_fc)} | {errors(s, 'C')} |")
    L.append("")

    # D
    idle_counts = sorted({int(k[1][1:]) for k in by if k[1].startswith("D")})
    if idle_counts:
        L.append("## D: idle connections (server RSS growth per connection)\n")
        L.append("Server VmRSS before connecting, after all handshakes (+1 s), and again after one "
                 "16-byte echo on every connection (+1 s): the second figure shows what a connection "
                 "keeps once it has carried traffic and gone idle. One fresh server per count. "
                 "wirelane-custom-loop is the protocol core driven by a plain mio loop, no async "
                 "runtime; where each byte of an idle connection goes (heap allocation sites, "
                 "tokio against custom_loop) is in [memory.md](examples/peers/memory.md), made by "
                 "`examples/peers/heaptrack.sh`.\n")
        head = "| server | " + " | ".join(
            f"{n:,} idle: B/conn | {n:,} after one echo: B/conn" for n in idle_counts) + " |"
        L.append(head)
        L.append("|---|" + "---:|---:|" * len(idle_counts))
        for s in servers:
            cells = []
            for n in idle_counts:
                rs = by.get((s, f"D{n}"), [])
                if not rs:
                    cells += ["–", "–"]
                    continue
                res = rs[0]["result"]
                bad = "" if res.get("errors", 0) == 0 else f" ({res.get('errors')} errors)"
                cells += [fmt(res.get("bytes_per_conn")) + bad, fmt(res.get("bytes_per_conn_after_msg"))]
            if any(c != "–" for c in cells):
                L.append(f"| {s} | " + " | ".join(cells) + " |")
        L.append("")

    # E
    L.append("## E: HTTP `GET /` with `wrk -t1 -c64`\n")
    L.append("| server | req/s | server CPU s | req per server-CPU-s | vs hyper | vs floor | p50 | p99 | errors |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    base_h, base_fe = eff("hyper", "E", "requests"), eff("floor", "E", "requests")
    for s in servers:
        if (s, "E") not in by:
            continue
        e = eff(s, "E", "requests")
        first = by[(s, "E")][len(by[(s, "E")]) // 2]["result"]
        L.append(f"| {s} | {fmt(stat(s, 'E', lambda r: r['result'].get('req_per_s')))} | "
                 f"{fmt(stat(s, 'E', lambda r: r['server_cpu_s']), 2)} | {fmt(e)}{eff_spread(s, 'E', 'requests')} | {ratio(e, base_h)} | "
                 f"{ratio(e, base_fe)} | {first.get('p50', '')} | {first.get('p99', '')} | {errors(s, 'E')} |")
    L.append("")

    # P: the article's table
    push_rows = push_section(L, by, stat, args)

    # Targets
    L.append("## Targets (issues 8 and 16)\n")
    L.append("| target | " + " | ".join(w for w in WIRELANE if w in servers) + " |")
    L.append("|---|" + "---|" * len([w for w in WIRELANE if w in servers]))
    peer_p99s = [stat(p, "B", lambda r: r["result"].get("p99_us")) for p in PEERS if (p, "B") in by]
    best_peer_p99 = min(peer_p99s) if peer_p99s else None

    def check(ok, text):
        return ("met: " if ok else "**missed**: ") + text if ok is not None else "–"

    targets = []
    for w in [w for w in WIRELANE if w in servers]:
        a = eff(w, "A", "messages")
        b = stat(w, "B", lambda r: r["result"].get("p99_us"))
        c = mb_eff(w)
        e = eff(w, "E", "requests")
        d = by.get((w, "D10000"), [])
        dv = d[0]["result"].get("bytes_per_conn") if d else None
        targets.append([
            check(a / base_f >= 0.8 if a and base_f else None, ratio(a, base_f) + " floor"),
            check(b <= best_peer_p99 if b and best_peer_p99 else None,
                  f"{fmt(b, 1)} µs vs {fmt(best_peer_p99, 1)} µs"),
            check(c / base_fw >= 1.0 if c and base_fw else None, ratio(c, base_fw) + " fastwebsockets"),
            check(dv <= 2048 if dv is not None else None, f"{fmt(dv)} B/conn"),
            check(dv <= 1024 if dv is not None else None, f"{fmt(dv)} B/conn"),
            check(e / base_h >= 1.0 if e and base_h else None, ratio(e, base_h) + " hyper"),
            check(e / base_fe >= 0.8 if e and base_fe else None, ratio(e, base_fe) + " floor"),
        ])
    names = ["A ≥ 0.8× floor", "B p99 ≤ best tuned peer's", "C ≥ 1.0× fastwebsockets",
             "D ≤ 2 KiB/conn at 10,000", "D ≤ 1 KiB/conn at 10,000 (goal, issue 16)",
             "E ≥ 1.0× hyper", "E ≥ 0.8× floor"]
    for i, n in enumerate(names):
        L.append(f"| {n} | " + " | ".join(t[i] for t in targets) + " |")
    L.append("")

    # Closing note: the headline ratios against the tuned peers.
    L.append("## Closing note: wirelane-tokio against each peer at its best\n")
    L.append("Work per server-CPU-second of wirelane-tokio divided by the peer's, from the tables "
             "above (above 1× means wirelane does more work per CPU-second):\n")
    L.append("| peer | A: 32 B echo | C: 64 KiB echo | E: HTTP GET / |")
    L.append("|---|---:|---:|---:|")
    w_a, w_c, w_e = eff("wirelane-tokio", "A", "messages"), mb_eff("wirelane-tokio"), eff("wirelane-tokio", "E", "requests")
    for p in PEERS + OTHERS + ["floor"]:
        if p not in servers:
            continue
        L.append(f"| {p} | {ratio(w_a, eff(p, 'A', 'messages'))} | {ratio(w_c, mb_eff(p))} | "
                 f"{ratio(w_e, eff(p, 'E', 'requests'))} |")
    L.append("")
    def idle(server):
        d = by.get((server, "D10000"), []) or by.get((server, "D1000"), [])
        return d[0]["result"].get("bytes_per_conn") if d else None

    L.append("What stands in the way of the goals missed above: an idle WebSocket costs "
             f"{fmt(idle('wirelane-tokio'))} B on tokio against the 1 KiB goal, while the protocol "
             f"core alone (`custom_loop`: no runtime, no framework) keeps {fmt(idle('wirelane-custom-loop'))} B; "
             "by allocation site ([memory.md](examples/peers/memory.md)) tokio's task cell and I/O "
             "registration take 512 B, the handler's task and the connection's shared state about "
             "300 B each, and the request head the handler can still read about 240 B. `GET /` costs "
             "about 7,900 user-space instructions (`examples/peers/instructions.sh`, 2026-12-02) against "
             "tuned hyper's 7,000 counted the same way in the same window: one allocation per request "
             "(the handler's future) where hyper has none, the head scan before httparse (CRLF line "
             "ends and limits checked as bytes arrive), and the request head's moves through the "
             "driver. Latency figures (B, T, P) are only as good "
             "as the machine was quiet: see the load below.\n")

    # Machine and versions
    cpu = sh("lscpu | sed -n 's/^Model name: *//p'") or platform.processor()
    pv = lock_versions(args.peers_lock, {"tokio", "tokio-tungstenite", "tungstenite", "fastwebsockets",
                                         "axum", "hyper", "hyper-util"})
    pv["node"] = sh("node --version") or "–"
    pv["ws (npm)"] = sh("node -p \"require('./examples/peers/node/node_modules/ws/package.json').version\"") or "–"
    pv["python"] = sh("examples/peers/target/pyvenv/bin/python -V").replace("Python ", "") or "–"
    pv["websockets (PyPI)"] = sh("examples/peers/target/pyvenv/bin/python -c 'import websockets; print(websockets.__version__)'") or "–"
    mv = lock_versions(args.main_lock, {"tokio", "async-std", "smol", "async-io"})
    L.append("## Machine, versions, commands\n")
    L.append(f"- Date: {args.date or sh('date -u +%Y-%m-%dT%H:%MZ')}")
    L.append(f"- CPU: {cpu}, {sh('nproc')} cores visible; server pinned to CPU {args.server_cpu}, "
             f"load generator to CPU {args.client_cpu}")
    L.append(f"- Kernel: {sh('uname -sr')}; {sh('rustc -V')}; {sh('wrk -v 2>&1 | head -1') or 'wrk'}")
    loads = [r["load1"] for r in rows if "load1" in r]
    lr = f"; 1-minute load during measurements {min(loads):.2f} to {max(loads):.2f}" if loads else ""
    L.append(f"- Load average at start / end of the run: {args.load_start} / {args.load_end}{lr} "
             "(2 cores: anything well above 2 means other work shared the machine, so compare "
             "ratios of work per server-CPU-second, not rates)")
    # Uncommitted changes, other than the files this run itself writes.
    dirty = not args.commit and sh("git status --porcelain --untracked-files=no -- . "
                                   "':!BENCHMARKS.md' ':!examples/peers/results.jsonl' "
                                   "':!examples/peers/*.svg'")
    commit = args.commit or sh('git rev-parse --short HEAD')
    L.append(f"- wirelane commit: {commit}{' (dirty tree)' if dirty else ''}; "
             f"main workspace: " + ", ".join(f"{k} {v}" for k, v in sorted(mv.items())))
    L.append("- Peers: " + ", ".join(f"{k} {v}" for k, v in sorted(pv.items())))
    L.append(f"- {args.reps} repetition(s) of {args.duration} s per measurement, servers alternating "
             f"within each repetition; the whole run took {args.elapsed} s")
    L.append("")
    L.append("Rerun (takes about 25 minutes; `--quick` takes about 4):\n")
    L.append("```sh\n" + args.cmdline + "\n```\n")
    L.append("What it runs, per server (`taskset -c 0 SERVER --addr 127.0.0.1:PORT`):\n")
    L.append("```sh\n"
             "taskset -c 1 loadgen --conns 64 --window 16 --size 32 --duration D --json     # A\n"
             "taskset -c 1 loadgen --conns 64 --rate A/2 --size 32 --duration D --json     # B\n"
             "taskset -c 1 loadgen --conns 16 --window 1 --size 65536 --duration D --json   # C\n"
             "taskset -c 1 loadgen --idle N --server-pid PID --hold 1 --json                # D\n"
             "taskset -c 1 wrk -t1 -c64 -dDs --latency http://127.0.0.1:PORT/               # E\n"
             "taskset -c 1 loadgen --conns 10000 --active 100 --rate R --size 32 --duration D --json  # T\n"
             "taskset -c 0 echo --runtime tokio --push-rate 10|500 --addr ...              # P, with:\n"
             "taskset -c 1 loadgen --push ws|sse|long-poll|short-poll --clients 1000 --duration D --warmup 2 --server-pid PID --json\n"
             "```\n")
    L.append("Servers: `echo --runtime tokio|async-std|smol --threads 1` (examples/src/bin/echo.rs); "
             "peers in `examples/peers/src/bin/` (a separate cargo workspace). Raw data: "
             "`examples/peers/results.jsonl`.\n")
    open(args.out, "w").write("\n".join(L))

    # Chart: work per server-CPU-second relative to the floor, per scenario.
    panels = [("A: 64×32 B msgs/CPU-s", {s: eff(s, "A", "messages") for s in servers}),
              ("C: 16×64 KiB MB/CPU-s", {s: mb_eff(s) for s in servers}),
              ("E: HTTP req/CPU-s", {s: eff(s, "E", "requests") for s in servers})]
    # The chart shows the tuned peers only (the naive rows are in the tables).
    write_svg(args.svg, panels, [s for s in servers if s not in NAIVE])
    if args.push_svg and push_rows:
        write_push_svg(args.push_svg, push_rows)


MODES = [("ws", "WebSocket"), ("sse", "Server-Sent Events"), ("long-poll", "HTTP long polling"),
         ("short-poll", "HTTP short polling (1 s)")]
# The article's "Performance Characteristics" (1,000 concurrent connections).
CLAIMS = {"ws": ("95 MB", "< 1 ms", "500,000+"),
          "sse": ("120 MB", "< 2 ms", "100,000+"),
          "long-poll": ("300–500 MB", "500–2,000 ms", "2,000–10,000"),
          "short-poll": ("300–500 MB", "500–2,000 ms", "2,000–10,000")}


def push_section(L, by, stat, args):
    """The article's comparison table, measured: returns the rows for the chart."""
    if not any(k[1].startswith("P-") for k in by):
        return []
    L.append("## P: the article's comparison table, measured\n")
    L.append("The WebSocket article's \"Performance Characteristics\" claims these figures at 1,000 "
             "concurrent connections; here they are measured on wirelane-tokio (`echo --push-rate N`, "
             "one core): 1,000 clients (`loadgen --push MODE --clients 1000`, the other core) receive "
             "one server-pushed stream over a WebSocket (`/push/ws`, a `Hub` topic), Server-Sent "
             "Events (`/push/sse`), HTTP long polling and HTTP short polling every second "
             "(`/push/poll`, keep-alive). Each message is stamped with the wall-clock time it was "
             "published and the client takes its receive time minus that stamp (same machine, one "
             "clock). Two runs per way: at **10 msgs/s** (10,000 deliveries/s: latency, memory, bytes) "
             "and at **500 msgs/s** (500,000 deliveries/s offered, the article's WebSocket figure: "
             "messages delivered per server-CPU-second). Memory is the server's whole VmRSS with "
             "every client connected; bytes are both directions on the sockets per delivered message "
             "(HTTP heads, chunk and frame headers included; TCP/IP headers not). Medians of the "
             "repetitions, (min–max) beside them.\n")
    L.append("| way | server RSS, 1,000 clients | article | latency p50 | p99 | article | "
             "delivered/s at 500/s offered | msgs per server-CPU-s | article (msgs/s) | bytes on the wire per msg | missed | errors |")
    L.append("|---|---:|---|---:|---:|---|---:|---:|---|---:|---:|---:|")
    out = []
    for mode, label in MODES:
        lo, hi = by.get(("wirelane-tokio", f"P-{mode}-10"), []), by.get(("wirelane-tokio", f"P-{mode}-500"), [])
        if not lo and not hi:
            continue

        def m(rs, f):
            vals = [f(r["result"]) for r in rs]
            vals = [v for v in vals if v is not None]
            return (statistics.median(vals), min(vals), max(vals)) if vals else None

        def cell(v, scale=1.0, digits=0, unit=""):
            if v is None:
                return "–"
            md, a, b = (x * scale for x in v)
            if len(lo) > 1 or len(hi) > 1:
                return f"{md:,.{digits}f}{unit} ({a:,.{digits}f}–{b:,.{digits}f})"
            return f"{md:,.{digits}f}{unit}"

        def lat(v):
            if v is None:
                return "–"
            ms = v[0] / 1000
            return cell(v, 1 / 1000, 2 if ms < 10 else 0, " ms")

        rss = m(lo, lambda r: r.get("rss_kib"))
        p50, p99 = m(lo, lambda r: r.get("p50_us")), m(lo, lambda r: r.get("p99_us"))
        rate = m(hi, lambda r: r.get("msgs_per_s"))
        per_cpu = m(hi, lambda r: r.get("msgs_per_server_cpu_s"))
        wire = m(lo, lambda r: r.get("bytes_per_msg"))
        missed = sum(r["result"].get("missed", 0) or 0 for r in lo + hi)
        errs = sum(max(r["result"].get("errors", 0), 0) if r["result"].get("errors", 0) >= 0 else 1
                   for r in lo + hi)
        c = CLAIMS[mode]
        L.append(f"| {label} | {cell(rss, 1 / 1024, 1, ' MB')} | {c[0]} | {lat(p50)} | {lat(p99)} | {c[1]} | "
                 f"{cell(rate)} | {cell(per_cpu)} | {c[2]} | {cell(wire, 1, 1)} | {missed} | {errs} |")
        out.append((label, rss[0] / 1024 if rss else None, p50[0] / 1000 if p50 else None,
                    p99[0] / 1000 if p99 else None, per_cpu[0] if per_cpu else None))
    L.append("")
    L.append("![the article's table, measured](examples/peers/push.svg)\n")
    claim_mb = {"ws": 95, "sse": 120, "long-poll": 300, "short-poll": 300}
    notes = []
    for (mode, label), row in zip([m for m in MODES if any(r[0] == m[1] for r in out)], out):
        _, mb, p50, p99, per_cpu = row
        bits = []
        if mb:
            bits.append(f"{mb:,.1f} MB in all against the article's {claim_mb[mode]}+ MB "
                        f"({claim_mb[mode] / mb:,.0f}× less)")
        if p50 is not None:
            bits.append(f"p50 {p50:,.2f} ms")
        if per_cpu:
            bits.append(f"{per_cpu:,.0f} messages per server-CPU-second")
        notes.append(f"- {label}: " + "; ".join(bits) + ".")
    L.extend(notes)
    L.append("")
    L.append("A poll returns every message since the previous one, so at 500 msgs/s each short poll "
             "carries about 500 messages: polling costs latency (half the interval on average for "
             "short polling), not throughput. Latencies are measured on this machine under the load "
             "given below: compare the ways with each other.\n")
    return out


def write_push_svg(path, rows):
    """The article's table as a chart: each measured figure (orange) beside the article's
    claim (grey), on log scales (the two differ by orders of magnitude)."""
    import math
    claims = {  # the article's figure per way: RSS MB, latency ms, msgs/s (lower bounds)
        "WebSocket": (95, 1, 500_000), "Server-Sent Events": (120, 2, 100_000),
        "HTTP long polling": (300, 500, 2_000), "HTTP short polling (1 s)": (300, 500, 2_000)}
    label_w, plot_w, bar_h, gap, pad = 170, 300, 12, 2, 10
    out, y = [], pad
    panels = [("server RSS with 1,000 clients, MB (log scale)", 1, 0, "{:,.1f} MB"),
              ("delivery latency p50 at 10 msgs/s, ms (log scale)", 2, 1, "{:,.2f} ms"),
              ("messages per server-CPU-second; article: msgs/s (log scale)", 4, 2, "{:,.0f}")]
    out.append(f'<rect x="{label_w}" y="{y}" width="10" height="10" fill="#d9480f"/>'
               f'<text x="{label_w + 14}" y="{y + 9}">measured on wirelane-tokio</text>'
               f'<rect x="{label_w + 180}" y="{y}" width="10" height="10" fill="#adb5bd"/>'
               f'<text x="{label_w + 194}" y="{y + 9}">the article\'s claim</text>')
    y += 22
    for title, idx, cidx, f in panels:
        vals = [(r[0], r[idx], claims.get(r[0], (None,) * 3)[cidx]) for r in rows if r[idx]]
        if not vals:
            continue
        out.append(f'<text x="{pad}" y="{y + 12}" font-weight="bold">{title}</text>')
        y += 20
        every = [v for _, m, c in vals for v in (m, c) if v]
        lo, hi = min(every) / 3, max(every) * 1.05
        span = math.log10(hi / lo)
        for name, m, c in vals:
            out.append(f'<text x="{pad}" y="{y + 18}">{name}</text>')
            for v, color in ((m, "#d9480f"), (c, "#adb5bd")):
                if v:
                    w = plot_w * math.log10(v / lo) / span
                    out.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{color}"/>')
                    out.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 10}">{f.format(v)}</text>')
                y += bar_h + gap
            y += 6
        y += 12
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + plot_w + 110}" height="{y}" '
           f'font-family="sans-serif" font-size="11"><rect width="100%" height="100%" fill="white"/>'
           + "".join(out) + "</svg>\n")
    open(path, "w").write(svg)


def write_svg(path, panels, servers):
    bar_h, gap, label_w, plot_w, pad = 16, 4, 150, 330, 10
    colors = {s: ("#d9480f" if s.startswith("wirelane") else "#868e96" if s == "floor" else "#1c7ed6")
              for s in servers}
    out = []
    y = pad
    panel_w = label_w + plot_w + 90
    for title, vals in panels:
        vals = {s: v for s, v in vals.items() if v}
        if not vals:
            continue
        top = max(vals.values())
        floor = vals.get("floor")
        out.append(f'<text x="{pad}" y="{y + 12}" font-weight="bold">{title}'
                   f'{" (ratio vs floor)" if floor else ""}</text>')
        y += 20
        for s in servers:
            if s not in vals:
                continue
            w = plot_w * vals[s] / top
            out.append(f'<text x="{pad}" y="{y + 12}">{s}</text>')
            out.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colors[s]}"/>')
            lab = f"{vals[s]:,.0f}" + (f"  {vals[s] / floor:.2f}×" if floor else "")
            out.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 12}">{lab}</text>')
            y += bar_h + gap
        y += 14
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{panel_w + 60}" height="{y}" '
           f'font-family="sans-serif" font-size="11">'
           f'<rect width="100%" height="100%" fill="white"/>' + "".join(out) + "</svg>\n")
    open(path, "w").write(svg)


if __name__ == "__main__":
    main()
