// The wirelane demo against the Node `ws` client.
//
//   node interop.mjs HOST:PORT
//
// Checks the article's /ws, /chat and /data: text, binary, fragmented messages, ping/pong,
// close codes (normal, echoed, 1007, 1009). Prints one line per check; exits 1 on failure.
import WebSocket from 'ws';

const addr = process.argv[2] || '127.0.0.1:60000';
// INTEROP_CA set: the demo speaks TLS (the CA file reaches Node via NODE_EXTRA_CA_CERTS).
const base = `${process.env.INTEROP_CA ? 'wss' : 'ws'}://${addr}`;
const TIMEOUT = 5000;

const ok = (msg) => console.log(`[node ws] ok: ${msg}`);
function expect(cond, msg) {
  if (!cond) throw new Error(msg);
}

// A client with a queue of received events: messages (with their kind), pongs, the close.
function open(path) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base + path, { perMessageDeflate: true });
    const events = [];
    let waiter = null;
    const push = (e) => {
      events.push(e);
      if (waiter) { const w = waiter; waiter = null; w(); }
    };
    ws.on('message', (data, isBinary) => push({ type: 'message', data, isBinary }));
    ws.on('pong', (data) => push({ type: 'pong', data }));
    ws.on('close', (code, reason) => push({ type: 'close', code, reason: reason.toString() }));
    ws.on('unexpected-response', (req, res) => {
      req.destroy();
      reject(new Error(`HTTP ${res.statusCode}`));
    });
    ws.on('error', reject);
    ws.on('open', () => resolve({
      ws,
      async next(timeout = TIMEOUT) {
        if (!events.length) {
          await new Promise((res, rej) => {
            const t = setTimeout(() => rej(new Error(`${path}: nothing received in ${timeout} ms`)), timeout);
            waiter = () => { clearTimeout(t); res(); };
          });
        }
        return events.shift();
      },
      async text() {
        const e = await this.next();
        expect(e.type === 'message' && !e.isBinary, `${path}: want a text message, got ${JSON.stringify(e)}`);
        return e.data.toString('utf8');
      },
      async closed(code) {
        const e = await this.next();
        expect(e.type === 'close' && e.code === code, `${path}: want close ${code}, got ${JSON.stringify(e)}`);
      },
    }));
  });
}

async function checkWs() {
  let c = await open('/ws');
  c.ws.send('héllo from node ✓');
  const key = await c.text();
  expect(Buffer.from(key, 'base64').length === 16, `key ${key}`);
  expect(await c.text() === 'héllo from node ✓', 'text echo');
  await c.closed(1000);
  ok('/ws: key, text echo as text, close 1000');

  c = await open('/ws');
  const bin = Buffer.from([0, 1, 2, 0xfe, 0xff]);
  c.ws.send(bin);
  await c.text();
  let e = await c.next();
  expect(e.type === 'message' && e.isBinary && Buffer.compare(e.data, bin) === 0, `binary echo ${JSON.stringify(e)}`);
  await c.closed(1000);
  ok('/ws: binary echoed as binary');

  // A message in three fragments is reassembled into one.
  c = await open('/ws');
  c.ws.send('frag-1 ', { fin: false });
  c.ws.send('frag-2 ', { fin: false });
  c.ws.send('frag-3', { fin: true });
  await c.text();
  expect(await c.text() === 'frag-1 frag-2 frag-3', 'fragments reassembled');
  await c.closed(1000);
  ok('/ws: fragmented text message reassembled');

  c = await open('/ws');
  c.ws.ping(Buffer.from('node ping'));
  e = await c.next();
  expect(e.type === 'pong' && e.data.toString() === 'node ping', `pong ${JSON.stringify(e)}`);
  c.ws.close(1000);
  await c.closed(1000);
  ok('/ws: ping answered with the same payload; client close 1000 echoed');
}

async function checkChat() {
  let c = await open('/chat');
  const welcome = await c.text();
  const local = `${c.ws._socket.localAddress}:${c.ws._socket.localPort}`;
  expect(welcome === `Welcome to chat, client: ${local}`, `welcome ${welcome}`);
  for (let i = 0; i < 20; i++) {
    c.ws.send(`n${i}`);
    expect(await c.text() === `Echo: n${i}`, `echo ${i}`);
  }
  c.ws.send(Buffer.from([0x61, 0xff]));
  expect(await c.text() === 'Echo: a\ufffd', 'binary echoed lossily as text');
  c.ws.close(4002, 'bye from node');
  await c.closed(4002);
  ok('/chat: welcome with our address, 20 echoes, bytes as lossy text, close 4002 echoed');

  c = await open('/chat');
  await c.text();
  c.ws.send(Buffer.from([0x62, 0x61, 0x64, 0xc3, 0x28]), { binary: false });
  await c.closed(1007);
  ok('/chat: invalid UTF-8 text closed with 1007');

  c = await open('/chat');
  await c.text();
  // Over the 1 MiB limit in 64 KiB fragments (see interop.py on why not one 2 MiB frame).
  for (let k = 0; k < 20; k++) c.ws.send(Buffer.alloc(64 << 10, 0x78), { fin: k === 19 });
  await c.closed(1009);
  ok('/chat: 1.25 MiB message in 20 fragments closed with 1009');

  try {
    await open('/no-such-route');
    throw new Error('upgrade on an unknown route succeeded');
  } catch (err) {
    expect(err.message === 'HTTP 404', `unknown route: ${err.message}`);
  }
  ok('/no-such-route: HTTP 404');
}

// permessage-deflate (perMessageDeflate: true, the ws client's default): a large
// compressible message, whole and in fragments; the socket byte counts show it crossed
// compressed both ways.
async function checkDeflate() {
  const c = await open('/chat');
  expect(c.ws.extensions.startsWith('permessage-deflate'), `deflate negotiated, got "${c.ws.extensions}"`);
  await c.text();
  const text = JSON.stringify(Array.from({ length: 500 }, (_, i) => ({ symbol: 'BTC-USD', price: 40000 + i })));
  const sock = c.ws._socket;
  const [read0, written0] = [sock.bytesRead, sock.bytesWritten];
  c.ws.send(text);
  expect(await c.text() === 'Echo: ' + text, 'compressed echo');
  c.ws.send(text.slice(0, 5000), { fin: false });
  c.ws.send(text.slice(5000, 10000), { fin: false });
  c.ws.send(text.slice(10000), { fin: true });
  expect(await c.text() === 'Echo: ' + text, 'compressed fragmented echo');
  const [read, written] = [sock.bytesRead - read0, sock.bytesWritten - written0];
  expect(read < text.length / 2 && written < text.length / 2,
    `compressed both ways: ${written} B sent, ${read} B received for 2 x ${text.length} B`);
  c.ws.close(1000);
  await c.closed(1000);
  ok(`/chat: permessage-deflate (${c.ws.extensions}), ${text.length} B echoed whole and in 3 fragments; wire ${written} B out, ${read} B in`);
}

async function checkData() {
  const c = await open('/data');
  expect(await c.text() === 'Connected to real-time data stream', 'greeting');
  const start = Date.now();
  let pong = false;
  for (let i = 0; i < 100;) {
    const e = await c.next();
    if (e.type === 'pong') { pong = e.data.toString() === 'mid'; continue; }
    expect(e.type === 'message' && !e.isBinary, `point ${i}: ${JSON.stringify(e)}`);
    const p = JSON.parse(e.data.toString());
    expect(p.sequence === i && p.value >= 0 && p.value < 100 && Number.isInteger(p.timestamp),
      `point ${i}: ${JSON.stringify(p)}`);
    if (i === 30) c.ws.ping('mid');
    i++;
  }
  await c.closed(1000);
  expect(pong, 'pong to the mid-stream ping');
  const secs = (Date.now() - start) / 1000;
  expect(secs > 8 && secs < 15, `100 points in ${secs} s`);
  ok(`/data: greeting, 100 JSON points in order in ${secs.toFixed(1)} s, ping answered mid-stream, close 1000`);
}

try {
  await checkWs();
  await checkChat();
  await checkDeflate();
  await checkData();
  console.log('[node ws] PASS');
  process.exit(0);
} catch (err) {
  console.error(`[node ws] FAIL: ${err.message}`);
  process.exit(1);
}
