// A Node `ws` echo server with permessage-deflate on (the peer for the deflate load
// benchmark, examples/peers/deflate.sh): every message is echoed with its kind.
//
//   node echo-server.mjs HOST:PORT       (port 0: any free one)
//
// Prints `listening on HOST:PORT` once bound. perMessageDeflate: true is ws's own default
// setting for it (threshold 1 KiB, server context takeover, zlib level default).
import { WebSocketServer } from 'ws';

const [host, port] = (process.argv[2] || '127.0.0.1:9001').split(':');
const wss = new WebSocketServer({ host, port: Number(port), perMessageDeflate: true });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on('listening', () => console.log(`listening on ${host}:${wss.address().port}`));
process.on('SIGTERM', () => process.exit(0));
