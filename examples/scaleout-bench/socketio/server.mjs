// The Socket.IO peer of examples/src/bin/fanout.rs (issue 15), written the way the
// Socket.IO and @socket.io/redis-adapter docs show: the `redis` package's clients (one to
// publish, its duplicate to subscribe), `createAdapter(pubClient, subClient)`, a room per
// topic, and `io.to(room).emit` to reach the room's members on every server.
//
//   node server.mjs PORT REDIS_URL
//
// A socket joins the room `bench` when it connects, unless its handshake says `role=pub`
// (the publisher, which like the wirelane side's /pub is not a member); every `pub` event
// is emitted to the room as a `msg` event. Prints `listening on PORT` once ready; stops on
// SIGTERM/SIGINT (closing its sockets and Redis clients).
//
// Tuned as Socket.IO's "Performance tuning" guide says for the default WebSocket server
// (ws): its native add-ons bufferutil and utf-8-validate are installed (package.json,
// optionalDependencies; ws picks them up by itself). The clients connect straight over
// WebSocket (no long-polling first), and the server accepts only that transport; there
// are no acknowledgements, and permessage-deflate stays off (Socket.IO's default). A
// broadcast is encoded and framed once for all the room's sockets by Socket.IO itself.
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';

const [port, redisUrl] = process.argv.slice(2);
if (!port || !redisUrl) {
  console.error('usage: node server.mjs PORT REDIS_URL');
  process.exit(2);
}

const ROOM = 'bench';
const pubClient = createClient({ url: redisUrl });
const subClient = pubClient.duplicate();
// Without a listener an 'error' (Redis gone) would be an uncaught exception.
for (const client of [pubClient, subClient]) {
  client.on('error', (e) => console.error(`redis: ${e.message}`));
}
await Promise.all([pubClient.connect(), subClient.connect()]);

const httpServer = createServer();
const io = new Server(httpServer, {
  adapter: createAdapter(pubClient, subClient),
  transports: ['websocket'],
});

io.on('connection', (socket) => {
  if (socket.handshake.query.role !== 'pub') socket.join(ROOM);
  socket.on('pub', (msg) => io.to(ROOM).emit('msg', msg));
});

httpServer.listen(Number(port), '127.0.0.1', () => console.log(`listening on ${port}`));

let stopping = false;
const stop = () => {
  if (stopping) process.exit(130);
  stopping = true;
  io.close(() => Promise.all([pubClient.quit(), subClient.quit()]).finally(() => process.exit(0)));
  // Bounded: a client that does not let go does not keep the benchmark waiting.
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
