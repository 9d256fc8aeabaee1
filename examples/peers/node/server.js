// Peer: Node `ws` echo server in one process (one event loop), as ws's README writes one.
//
//   node server.js [--addr HOST:PORT]
//
// GET / answers "Hello, World!" from Node's own http server; a WebSocket on any path echoes
// every message (text as text, binary as binary, up to 64 MiB).
'use strict';

const http = require('http');
const { WebSocketServer } = require('ws');

let addr = '127.0.0.1:9001';
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i += 2) {
  if (args[i] === '--addr' && args[i + 1]) {
    addr = args[i + 1];
  } else {
    console.error('usage: node server.js [--addr HOST:PORT]');
    process.exit(2);
  }
}
const colon = addr.lastIndexOf(':');
const host = addr.slice(0, colon);
const port = Number(addr.slice(colon + 1));

const hello = Buffer.from('Hello, World!');
const server = http.createServer((req, res) => {
  if (req.url !== '/') {
    res.writeHead(404, { 'content-length': 0 });
    res.end();
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': hello.length });
  res.end(hello);
});

const wss = new WebSocketServer({ server, maxPayload: 64 << 20, perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('error', () => ws.terminate());
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});

server.listen(port, host, () => {
  const a = server.address();
  console.log(`listening on ${a.address}:${a.port}`);
});

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
