"""Peer: Python `websockets` (asyncio) echo server in one process, as its docs write one.

    python server.py [--addr HOST:PORT]

A WebSocket on any path echoes every message (text as text, binary as binary, up to
64 MiB). websockets is not an HTTP server: a plain `GET /` is answered "Hello, World!"
through its `process_request` hook, after which it closes the connection.
"""

import asyncio
import signal
import sys
from http import HTTPStatus

from websockets.asyncio.server import serve


async def echo(ws):
    async for msg in ws:
        await ws.send(msg)


def hello(connection, request):
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return connection.respond(HTTPStatus.OK, "Hello, World!")
    return None


async def main(host, port):
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(echo, host, port, process_request=hello, max_size=64 << 20,
                     compression=None) as server:
        h, p = server.sockets[0].getsockname()[:2]
        print(f"listening on {h}:{p}", flush=True)
        await stop


if __name__ == "__main__":
    addr = "127.0.0.1:9001"
    argv = sys.argv[1:]
    if len(argv) == 2 and argv[0] == "--addr":
        addr = argv[1]
    elif argv:
        sys.exit("usage: server.py [--addr HOST:PORT]")
    host, _, port = addr.rpartition(":")
    asyncio.run(main(host, int(port)))
