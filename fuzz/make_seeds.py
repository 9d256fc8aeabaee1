#!/usr/bin/env python3
"""Writes the hand-made seed corpus of every fuzz target under fuzz/corpus/<target>/.

Seeds are small valid (and a few classic invalid) inputs: requests, frames, handshakes.
Each file is named seed-<what>; files found by fuzzing (named by their hash) are kept
beside them after `cargo fuzz cmin`. Re-running this script only rewrites the seeds.

Input layouts (see fuzz/src/lib.rs):
  http_conn     8-byte RNG seed, then the client's bytes
  ws_frame      raw frames / text
  ws_conn       1 flag byte (config, read size), then masked client frames
  ws_handshake  one request head
  upgrade_conn  1 flag byte, then HTTP requests, an upgrade request and masked frames
  ws_deflate    1 flag byte (as ws_conn), 1 deflate-parameter byte, then masked client
                frames, compressed ones with RSV1 (zlib here plays the client)
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = b"\x37\xfa\x21\x3d"


def frame(opcode, payload=b"", fin=True, mask=KEY, rsv=0):
    """A client frame: masked with `mask` (None for an unmasked one)."""
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    m = 0x80 if mask is not None else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n < 65536:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if mask is None:
        return head + payload
    return head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


def close(code=None, reason=b""):
    return frame(8, b"" if code is None else struct.pack(">H", code) + reason)


def req(lines, body=b""):
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


UPGRADE = req([
    "GET /ws HTTP/1.1",
    "Host: 127.0.0.1",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
])
UPGRADE_ROOT = UPGRADE.replace(b"GET /ws ", b"GET / ")
UPGRADE_PROTO = req([
    "GET /chat HTTP/1.1",
    "Host: server.example.com",
    "Upgrade: websocket",
    "Connection: keep-alive, Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Origin: http://example.com",
    "Sec-WebSocket-Protocol: chat, superchat",
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
    "Sec-WebSocket-Version: 13",
])
UPGRADE_V8 = UPGRADE.replace(b"Version: 13", b"Version: 8")
UPGRADE_NOKEY = req(["GET / HTTP/1.1", "Host: a", "Upgrade: websocket", "Connection: upgrade",
                     "Sec-WebSocket-Version: 13"])
UPGRADE_POST = UPGRADE.replace(b"GET /ws ", b"POST /ws ")
UPGRADE_H2C = req(["GET / HTTP/1.1", "Host: a", "Upgrade: h2c", "Connection: Upgrade, HTTP2-Settings"])

GET = req(["GET / HTTP/1.1", "Host: 127.0.0.1"])
GET_404 = req(["GET /missing?x=1 HTTP/1.1", "Host: a", "User-Agent: seed"])
HEAD = req(["HEAD / HTTP/1.1", "Host: a"])
GET10 = req(["GET / HTTP/1.0"])
GET10_KA = req(["GET / HTTP/1.0", "Connection: keep-alive"])
CLOSE = req(["GET / HTTP/1.1", "Host: a", "Connection: close"])
POST_LEN = req(["POST /echo HTTP/1.1", "Host: a", "Content-Length: 11"], b"hello world")
POST_CHUNKED = req(["POST /up HTTP/1.1", "Host: a", "Transfer-Encoding: chunked"],
                   b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
POST_CONTINUE = req(["PUT /f HTTP/1.1", "Host: a", "Expect: 100-continue", "Content-Length: 4"], b"data")
BAD_BOTH = req(["POST / HTTP/1.1", "Host: a", "Content-Length: 3", "Transfer-Encoding: chunked"], b"abc")
BAD_CL = req(["POST / HTTP/1.1", "Content-Length: 1, 2"], b"ab")
BAD_FOLD = b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n"
BAD_CR = b"GET / HTTP/1.1\rHost: a\r\n\r\n"
BAD_VERSION = req(["GET / HTTP/2.0"])
BAD_CHUNK = req(["POST / HTTP/1.1", "Transfer-Encoding: chunked"], b"zz\r\n")
OPTIONS = req(["OPTIONS * HTTP/1.1", "Host: a"])
CONNECT = req(["CONNECT example.com:443 HTTP/1.1", "Host: example.com:443"])

# Client frame streams.
TEXT = frame(1, b"Hello")
BINARY = frame(2, bytes(range(32)))
EMPTY_TEXT = frame(1)
UTF8 = frame(1, "κόσμε ✓".encode())
FRAGMENTED = frame(1, b"Hel", fin=False) + frame(9, b"p") + frame(0, b"lo", fin=False) + frame(0, b"!")
MEDIUM = frame(2, bytes(i % 251 for i in range(300)))
PING = frame(9, b"are you there")
PONG = frame(10, b"unsolicited")
CLOSE_1000 = close(1000, b"bye")
CLOSE_EMPTY = close()
BAD_UTF8 = frame(1, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited")
UNMASKED = frame(1, b"hi", mask=None)
RSV = frame(1, b"hi", rsv=4)
RESERVED_OP = frame(3, b"")
BIG_PING = frame(9, b"x" * 126)
FRAG_PING = frame(9, b"x", fin=False)
BAD_CLOSE = close(999)
CONT_FIRST = frame(0, b"x")
LONG_LEN = frame(2, bytes(70000))
NONMIN = bytes([0x82, 0x80 | 126, 0, 5]) + KEY + bytes(5)

WS_STREAMS = {
    "text": TEXT + CLOSE_1000,
    "binary": BINARY + CLOSE_1000,
    "empty": EMPTY_TEXT + CLOSE_EMPTY,
    "utf8": UTF8 + CLOSE_1000,
    "fragmented": FRAGMENTED + CLOSE_1000,
    "medium": MEDIUM + TEXT + CLOSE_1000,
    "ping-pong": PING + PONG + TEXT + CLOSE_1000,
    "bad-utf8": BAD_UTF8,
    "unmasked": UNMASKED,
    "rsv": RSV,
    "reserved-opcode": RESERVED_OP,
    "big-ping": BIG_PING,
    "fragmented-ping": FRAG_PING,
    "bad-close-code": BAD_CLOSE,
    "continuation-first": CONT_FIRST + CLOSE_1000,
    "nonminimal-length": NONMIN,
    "no-close": TEXT + BINARY,
}

HTTP_STREAMS = {
    "get": GET,
    "get-404": GET_404,
    "head": HEAD,
    "http10": GET10,
    "http10-keepalive": GET10_KA + GET10,
    "close": CLOSE,
    "post-length": POST_LEN,
    "post-chunked": POST_CHUNKED,
    "expect-continue": POST_CONTINUE,
    "pipelined": GET + POST_LEN + GET_404 + HEAD + CLOSE,
    "upgrade": UPGRADE + TEXT,
    "upgrade-h2c": UPGRADE_H2C + GET,
    "both-length-and-chunked": BAD_BOTH,
    "bad-content-length": BAD_CL,
    "obs-fold": BAD_FOLD,
    "bare-cr": BAD_CR,
    "bad-version": BAD_VERSION,
    "bad-chunk-size": BAD_CHUNK,
    "options": OPTIONS,
    "connect": CONNECT,
    "partial-head": GET[:20],
}

HANDSHAKES = {
    "rfc-example": UPGRADE_PROTO,
    "ws": UPGRADE,
    "version-8": UPGRADE_V8,
    "no-key": UPGRADE_NOKEY,
    "post": UPGRADE_POST,
    "h2c": UPGRADE_H2C,
    "http10": UPGRADE.replace(b"HTTP/1.1", b"HTTP/1.0"),
    "two-keys": UPGRADE.replace(b"Sec-WebSocket-Version", b"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version"),
    "with-body": UPGRADE.replace(b"Host:", b"Content-Length: 2\r\nHost:") + b"ab",
    "plain-get": GET,
}


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def main():
    # http_conn: 8 seed bytes choose the splits and the answers.
    for i, (name, data) in enumerate(HTTP_STREAMS.items()):
        write("http_conn", name, struct.pack("<Q", 0x9E3779B97F4A7C15 * (i + 1) % 2**64) + data)
    # ws_frame: frame streams and some text.
    for name, data in WS_STREAMS.items():
        write("ws_frame", name, data)
    write("ws_frame", "long-length", LONG_LEN[:40])
    write("ws_frame", "utf8-text", "κόσμε ✓ 𝄞 hello".encode())
    write("ws_frame", "bad-utf8-text", b"\xed\xa0\x80\xf4\x90\x80\x80")
    # ws_conn: flags 0 (whole), 0x10 (4-byte reads), 1 (streaming), 2 (small limits),
    # 4 (we close first), 8 (fragmented output).
    for name, data in WS_STREAMS.items():
        write("ws_conn", name, b"\x00" + data)
    for flags, name, data in [
        (0x10, "text-split", TEXT + FRAGMENTED + CLOSE_1000),
        (0x01, "streaming", FRAGMENTED + MEDIUM + CLOSE_1000),
        (0x02, "small-limits", MEDIUM),
        (0x32, "small-fragments", frame(2, b"a", fin=False) * 4 + frame(0, b"b")),
        (0x14, "we-close", TEXT + TEXT + CLOSE_1000),
        (0x08, "fragmented-output", frame(1, b"a longer message") + CLOSE_1000),
        (0x00, "long-frame-cut", LONG_LEN[:64]),
    ]:
        write("ws_conn", name, bytes([flags]) + data)
    # ws_handshake: request heads.
    for name, data in HANDSHAKES.items():
        write("ws_handshake", name, data)
    # upgrade_conn: HTTP first, then upgrade, then frames (leftover in the same read).
    for flags, name, data in [
        (0x00, "upgrade-echo", UPGRADE + TEXT + BINARY + CLOSE_1000),
        (0x00, "upgrade-root", UPGRADE_ROOT + FRAGMENTED + PING + CLOSE_1000),
        (0x10, "get-then-upgrade", GET + GET_404 + UPGRADE + UTF8 + CLOSE_1000),
        (0x30, "post-then-upgrade", POST_LEN + POST_CHUNKED + UPGRADE + TEXT + CLOSE_EMPTY),
        (0xF0, "big-reads", GET + UPGRADE_PROTO + MEDIUM + CLOSE_1000),
        (0x00, "refused-then-upgrade", UPGRADE_V8 + UPGRADE_NOKEY + UPGRADE + TEXT + CLOSE_1000),
        (0x00, "h2c-declined", UPGRADE_H2C + GET),
        (0x01, "upgrade-streaming", UPGRADE + FRAGMENTED + MEDIUM + CLOSE_1000),
        (0x04, "upgrade-we-close", UPGRADE + TEXT + TEXT + CLOSE_1000),
        (0x02, "upgrade-bad-frames", UPGRADE + BAD_UTF8),
        (0x00, "upgrade-no-close", UPGRADE + TEXT),
        (0x00, "upgrade-eof", UPGRADE),
        (0x00, "upgrade-unmasked", UPGRADE + UNMASKED),
    ]:
        write("upgrade_conn", name, bytes([flags]) + data)
    # ws_deflate: the parameter byte is bit 0 server_no_context_takeover, bit 1
    # client_no_context_takeover, bits 2-4 client window - 8, bits 5-7 server window - 8.
    for flags, params, name, data in deflate_seeds():
        write("ws_deflate", name, bytes([flags, params]) + data)


def deflate_seeds():
    """Compressed client streams for several parameter bytes."""
    import zlib

    def client(params):
        bits = max(9, 8 + ((params >> 2) & 7))
        takeover = not params & 2
        state = {"c": None}

        def compress(data):
            if state["c"] is None or not takeover:
                state["c"] = zlib.compressobj(6, zlib.DEFLATED, -bits)
            out = state["c"].compress(data) + state["c"].flush(zlib.Z_SYNC_FLUSH)
            assert out.endswith(b"\x00\x00\xff\xff")
            return out[:-4]
        return compress

    seeds = []
    for params in [0x00, 0xFF, 0x3C, 0xE3, 0x9D]:
        z = client(params)
        chat = [("message %d: hello hello hello" % i).encode() for i in range(4)]
        stream = b"".join(frame(1, z(m), rsv=4) for m in chat)
        seeds.append((0x00, params, "chat-%02x" % params, stream + CLOSE_1000))
        big = z(bytes(i % 7 for i in range(3000)))
        frag = frame(2, big[:5], fin=False, rsv=4) + PING + frame(0, big[5:], fin=True)
        seeds.append((0x10, params, "fragmented-%02x" % params, frag + TEXT + CLOSE_1000))
    z = client(0x00)
    seeds += [
        (0x02, 0x00, "bomb-small-limits", frame(2, z(bytes(100000)), rsv=4)),
        (0x00, 0xFF, "corrupt", frame(2, b"\xff\xff\xff", rsv=4)),
        (0x00, 0x00, "rsv1-continuation", frame(1, b"a", fin=False) + frame(0, b"b", rsv=4)),
        (0x00, 0x00, "rsv1-ping", frame(9, b"", rsv=4)),
        (0x01, 0x00, "streaming", frame(1, z(b"streamed " * 50), rsv=4) + CLOSE_1000),
        (0x08, 0xFF, "fragmented-output", frame(1, z(b"echo me back " * 20), rsv=4) + CLOSE_1000),
        (0x00, 0x00, "rfc-hello", frame(1, bytes([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]), rsv=4)
         + frame(1, bytes([0xf2, 0x00, 0x11, 0x00, 0x00]), rsv=4) + CLOSE_1000),
    ]
    return seeds


if __name__ == "__main__":
    main()
