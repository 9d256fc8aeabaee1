"""The wirelane demo against the Python `websockets` client (asyncio API, websockets >= 14).

    python interop.py HOST:PORT

Checks the article's `/ws`, `/chat` and `/data`, the `/room` broadcast and the `/events` SSE
stream: text, binary, ping/pong, close codes (normal, echoed, 1007, 1009),
and a 404 on an unknown route. Prints one line per check; exits 1 on the first mismatch.
"""

import asyncio
import base64
import json
import sys
import time

import os
import ssl

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

ADDR = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:60000"
# INTEROP_CA=FILE: the demo speaks TLS with a certificate signed by (or being) FILE.
SSL = ssl.create_default_context(cafile=os.environ["INTEROP_CA"]) if os.environ.get("INTEROP_CA") else None
BASE = f"{'wss' if SSL else 'ws'}://{ADDR}"


def connect(uri, **kwargs):
    """websockets' connect, over TLS when the demo speaks it."""
    if SSL:
        kwargs["ssl"] = SSL
    return ws_connect(uri, **kwargs)
TIMEOUT = 5


def ok(msg):
    print(f"[python websockets] ok: {msg}", flush=True)


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


async def recv(ws, timeout=TIMEOUT):
    return await asyncio.wait_for(ws.recv(), timeout)


async def expect_close(ws, code):
    """Waits for the server's close frame and checks its code."""
    try:
        while True:
            extra = await recv(ws)
            raise AssertionError(f"expected close {code}, got message {extra!r}")
    except ConnectionClosed as e:
        got = e.rcvd.code if e.rcvd else None
        expect(got == code, f"close code {got} (reason {e.rcvd and e.rcvd.reason!r}), want {code}")


async def check_ws():
    # Text: the handler sends our Sec-WebSocket-Key, then echoes the first message, then closes 1000.
    async with connect(f"{BASE}/ws") as ws:
        await ws.send("héllo wirelane ✓")
        key = await recv(ws)
        expect(isinstance(key, str), f"key arrives as text, got {type(key)}")
        expect(key == ws.request.headers["Sec-WebSocket-Key"], f"key echoed, got {key!r}")
        expect(len(base64.b64decode(key)) == 16, "key is 16 base64 bytes")
        echo = await recv(ws)
        expect(echo == "héllo wirelane ✓", f"text echo, got {echo!r}")
        await expect_close(ws, 1000)
    ok("/ws: key then text echo as text, then close 1000")

    # Binary: echoed as binary (the kind of the last message received), even when UTF-8.
    for payload in (b"\x00\xff\x10binary", b"plain ascii bytes"):
        async with connect(f"{BASE}/ws") as ws:
            await ws.send(payload)
            await recv(ws)
            echo = await recv(ws)
            expect(isinstance(echo, bytes) and echo == payload, f"binary echo, got {echo!r}")
            await expect_close(ws, 1000)
    ok("/ws: binary echoed as binary")

    # Ping before any message: answered with the same payload while the handler waits.
    async with connect(f"{BASE}/ws") as ws:
        pong = await ws.ping(b"are you there")
        latency = await asyncio.wait_for(pong, TIMEOUT)
        await ws.send("after ping")
        await recv(ws)
        expect(await recv(ws) == "after ping", "echo after ping")
    ok(f"/ws: ping answered with pong ({latency * 1000:.2f} ms)")


async def check_chat():
    async with connect(f"{BASE}/chat") as ws:
        host, port = ws.local_address[:2]
        welcome = await recv(ws)
        expect(welcome == f"Welcome to chat, client: {host}:{port}", f"welcome, got {welcome!r}")
        for i in range(20):
            await ws.send(f"message {i}")
            expect(await recv(ws) == f"Echo: message {i}", f"echo {i}")
        await ws.send(b"\xff\xfebytes")
        got = await recv(ws)
        expect(got == "Echo: \ufffd\ufffdbytes", f"lossy echo of bytes as text, got {got!r}")
        pong = await ws.ping(b"chat ping")
        await asyncio.wait_for(pong, TIMEOUT)
        await ws.close(4001, "bye from python")
        rcvd = ws.protocol.close_rcvd
        expect(rcvd is not None and rcvd.code == 4001, f"close code echoed, got {rcvd}")
    ok("/chat: welcome with our address, 20 echoes, bytes echoed lossily as text, ping, close 4001 echoed")

    # Invalid UTF-8 in a text message: close 1007.
    async with connect(f"{BASE}/chat") as ws:
        await recv(ws)
        await ws.send(b"bad \xc3\x28 text", text=True)
        await expect_close(ws, 1007)
    ok("/chat: invalid UTF-8 text closed with 1007")

    # A message over the demo's 1 MiB limit, in 64 KiB fragments: close 1009. (Sent as one
    # 2 MiB frame, the close frame is sometimes lost to a TCP reset, because the server
    # drains only 256 KiB of the rest before closing; see the issue 6 notes.)
    async with connect(f"{BASE}/chat", max_size=None) as ws:
        await recv(ws)
        await ws.send([b"x" * (64 << 10)] * 20)
        await expect_close(ws, 1009)
    ok("/chat: 1.25 MiB message in 20 fragments closed with 1009")

    # permessage-deflate (websockets offers it by default): a large compressible message,
    # whole and in fragments, echoed compressed both ways.
    async with connect(f"{BASE}/chat") as ws:
        ext = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        expect(ext.startswith("permessage-deflate"), f"deflate negotiated, got {ext!r}")
        expect(ws.protocol.extensions, "websockets uses the extension")
        await recv(ws)
        text = json.dumps([{"symbol": "BTC-USD", "price": 40000 + i, "side": "buy"} for i in range(500)])
        await ws.send(text)
        expect(await recv(ws) == "Echo: " + text, "compressed echo")
        await ws.send([text[:7000], text[7000:14000], text[14000:]])
        expect(await recv(ws) == "Echo: " + text, "compressed fragmented echo")
    ok(f"/chat: permessage-deflate ({ext}), {len(text)} B echoed whole and in 3 fragments")

    # An unknown route: 404, no upgrade.
    try:
        async with connect(f"{BASE}/no-such-route"):
            raise AssertionError("upgrade on an unknown route succeeded")
    except InvalidStatus as e:
        expect(e.response.status_code == 404, f"status {e.response.status_code}")
    ok("/no-such-route: 404")


def check_point(text, i):
    point = json.loads(text)
    expect(set(point) == {"timestamp", "value", "sequence"}, f"keys of {text}")
    expect(point["sequence"] == i, f"sequence {point['sequence']}, want {i}")
    expect(0.0 <= point["value"] < 100.0, f"value {point['value']}")
    expect(abs(point["timestamp"] - time.time()) < 60, f"timestamp {point['timestamp']}")


async def check_data():
    async with connect(f"{BASE}/data") as ws:
        first = await recv(ws)
        expect(first == "Connected to real-time data stream", f"greeting, got {first!r}")
        start = time.monotonic()
        for i in range(100):
            check_point(await recv(ws), i)
            if i == 50:
                pong = await ws.ping(b"mid-stream")
                await asyncio.wait_for(pong, TIMEOUT)
        elapsed = time.monotonic() - start
        expect(8.0 < elapsed < 15.0, f"100 points took {elapsed:.1f} s, want about 10 s")
        await expect_close(ws, 1000)
    ok(f"/data: greeting, 100 JSON points in order in {elapsed:.1f} s, ping mid-stream, close 1000")


async def check_room():
    async with connect(f"{BASE}/room?name=py-a") as a, connect(f"{BASE}/room?name=py-b") as b:
        wa = json.loads(await recv(a))
        wb = json.loads(await recv(b))
        expect(wa["type"] == "welcome" and wb["type"] == "welcome", "welcomes")
        expect(json.loads(await recv(a)) ["type"] == "join", "a sees b join")
        await a.send('from a "quoted" \\ ünïcode')
        await b.send("from b")
        seen_a, seen_b = [], []
        while len(seen_a) < 2:
            m = json.loads(await recv(a))
            if m["type"] == "message":
                seen_a.append((m["from"], m["text"]))
        while len(seen_b) < 2:
            m = json.loads(await recv(b))
            if m["type"] == "message":
                seen_b.append((m["from"], m["text"]))
        want = {("py-a", 'from a "quoted" \\ ünïcode'), ("py-b", "from b")}
        expect(set(seen_a) == want and set(seen_b) == want, f"room: a saw {seen_a}, b saw {seen_b}")
        expect(seen_a == seen_b, "both see the same order")
    ok("/room: each client sees both messages, in the same order")


async def check_events():
    host, port = ADDR.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port), ssl=SSL)
    writer.write(f"GET /events HTTP/1.1\r\nHost: {ADDR}\r\nAccept: text/event-stream\r\n\r\n".encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    expect(b" 200 " in head.split(b"\r\n")[0], f"status line {head[:40]!r}")
    expect(b"content-type: text/event-stream" in head.lower(), "content-type")
    got = []
    while len(got) < 5:
        line = await asyncio.wait_for(reader.readline(), TIMEOUT)
        if line.startswith(b"data: "):
            got.append(line[6:].strip().decode())
    writer.close()
    for i, text in enumerate(got):
        check_point(text, i)
    ok("/events: text/event-stream with the same JSON points as /data")


async def check_advanced():
    """The article's advanced handlers, as the article describes them (their timers are
    tokio's, also on the other runtimes)."""

    async def jrecv(ws):
        return json.loads(await recv(ws))

    async with connect(f"{BASE}/multiplexed") as ws:
        expect((await jrecv(ws))["type"] == "welcome", "multiplexed welcome")
        await ws.send('{"type":"chat","content":"hi"}')
        expect(await jrecv(ws) == {"type": "chat", "content": "hi"}, "multiplexed chat")
        await ws.send('{"type":"command","command":"status"}')
        expect((await jrecv(ws))["result"] == "Server is running", "multiplexed command")
        await ws.send('{"type":"ping"}')
        expect(await jrecv(ws) == {"type": "pong"}, "multiplexed ping")
        await ws.send("nonsense")
        expect((await jrecv(ws))["type"] == "error", "multiplexed unknown")
    async with connect(f"{BASE}/broadcast") as ws:
        me = (await jrecv(ws))["client_id"]
        await ws.send("to all")
        expect(await jrecv(ws) == {"type": "broadcast", "from": me, "message": "to all"}, "broadcast")
    async with connect(f"{BASE}/game") as ws:
        me = (await jrecv(ws))["player_id"]
        await ws.send("jump")
        state = (await jrecv(ws))["state"]
        expect(state == f"Player {me} performed action: jump", f"game state {state!r}")
    async with connect(f"{BASE}/resilient") as ws:
        expect((await jrecv(ws))["type"] == "connected", "resilient connected")
        expect(await jrecv(ws) == {"type": "heartbeat", "count": 0}, "first heartbeat at once")
        await ws.send("hello")
        expect(await jrecv(ws) == {"type": "processed", "original": "hello"}, "resilient processed")
    async with connect(f"{BASE}/trading") as ws:
        expect((await jrecv(ws))["type"] == "subscribed", "trading subscribed")
        symbols = [(await jrecv(ws))["symbol"] for _ in range(12)]
        expect(symbols == ["AAPL", "GOOGL", "MSFT", "AMZN"] * 3, f"symbols {symbols}")
    async with connect(f"{BASE}/collaboration") as ws:
        me = (await jrecv(ws))["user_id"]
        await ws.send("insert 1")
        result = (await jrecv(ws))["result"]
        expect(result == f"Applied operation by {me}: insert 1", f"collaboration {result!r}")
    ok("/multiplexed, /broadcast, /game, /resilient, /trading, /collaboration behave as the article says")


async def main():
    await check_advanced()
    await check_ws()
    await check_chat()
    await asyncio.gather(check_data(), check_room(), check_events())
    print("[python websockets] PASS", flush=True)


try:
    asyncio.run(main())
except Exception as e:  # noqa: BLE001 - report any failure the same way
    print(f"[python websockets] FAIL: {type(e).__name__}: {e}", flush=True)
    sys.exit(1)
