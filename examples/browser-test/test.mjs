// End-to-end test of the demo pages in headless Debian Chromium, driven by playwright-core.
//
//   node test.mjs BASE_URL OUT_DIR [DOCS_SCREENSHOT]
//
// Two pages join the chat room and each must see the other's message; the chart must draw
// at least 50 points from both streams (the page's `window.demo` counters, and non-blank
// canvas pixels); the /data stream must reconnect after it ends. Screenshots go to OUT_DIR
// (and the first page's also to DOCS_SCREENSHOT when given). Exits non-zero on failure.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, mkdirSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, outDir, docsShot] = process.argv.slice(2);
if (!base || !outDir) {
  console.error('usage: node test.mjs BASE_URL OUT_DIR [DOCS_SCREENSHOT]');
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });

const userDataDir = mkdtempSync(join(tmpdir(), 'wirelane-chromium-'));
const step = (msg) => console.log(`[browser] ${msg}`);
let context;
let failed = false;

try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    chromiumSandbox: false,
    viewport: { width: 1280, height: 900 },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // https: trust the demo's self-signed certificate by its key, and nothing else.
      ...(process.env.BROWSER_SPKI
        ? [`--ignore-certificate-errors-spki-list=${process.env.BROWSER_SPKI}`]
        : []),
    ],
  });
  const consoleErrors = [];
  const open = async (name) => {
    const page = await context.newPage();
    page.on('pageerror', (e) => consoleErrors.push(`${name}: ${e.message}`));
    await page.goto(`${base}/?name=${name}`);
    await page.waitForFunction(
      () => document.getElementById('chat-state').textContent === 'connected', null,
      { timeout: 10000 });
    step(`${name}: chat connected`);
    return page;
  };
  const alice = await open('alice');
  const bob = await open('bob');
  await alice.waitForFunction(() => document.getElementById('members').textContent === '2',
    null, { timeout: 5000 });
  step('both pages in the room (members = 2)');

  const say = async (page, text) => {
    await page.fill('#messageInput', text);
    await page.press('#messageInput', 'Enter');
  };
  const sees = (page, from, text) => page.waitForFunction(([from, text]) =>
    [...document.querySelectorAll('#messages .msg')].some((el) =>
      el.querySelector('.from')?.textContent === from + ':' && el.textContent.endsWith(text)),
  [from, text], { timeout: 5000 });

  await say(alice, 'hello from alice');
  await say(bob, 'hi alice, bob here');
  await sees(bob, 'alice', 'hello from alice');
  step('bob sees alice\'s message');
  await sees(alice, 'bob', 'hi alice, bob here');
  step('alice sees bob\'s message');
  await sees(alice, 'alice', 'hello from alice');
  await sees(bob, 'bob', 'hi alice, bob here');
  step('each sees its own message relayed by the server');

  await alice.waitForFunction(
    () => window.demo.chartPoints >= 50 && window.demo.wsPoints >= 10 && window.demo.ssePoints >= 10,
    null, { timeout: 30000 });
  const stats = await alice.evaluate(() => ({ ...window.demo }));
  step(`chart drew ${stats.chartPoints} points (WebSocket ${stats.wsPoints}, SSE ${stats.ssePoints})`);
  const inked = await alice.evaluate(() => {
    const c = document.getElementById('dataChart');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let blue = 0, orange = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] < 200) continue;
      if (d[i + 2] > 180 && d[i] < 90) blue++;
      if (d[i] > 200 && d[i + 1] < 140 && d[i + 2] < 60) orange++;
    }
    return { blue, orange };
  });
  step(`canvas pixels: ${inked.blue} blue (WebSocket), ${inked.orange} orange (SSE)`);
  if (inked.blue < 200 || inked.orange < 200) throw new Error('the chart canvas is (nearly) blank');
  for (const id of ['data-state', 'sse-state']) {
    const s = await alice.textContent('#' + id);
    if (!s.startsWith('connected')) throw new Error(`#${id} shows "${s}", not connected`);
  }

  // permessage-deflate: Chromium offers it, the demo accepts it; a large compressible
  // message and its echo cross compressed both ways.
  const deflate = await alice.evaluate((wsBase) => new Promise((resolve, reject) => {
    const ws = new WebSocket(wsBase + '/chat');
    const text = JSON.stringify(Array.from({ length: 400 }, (_, i) =>
      ({ symbol: 'BTC-USD', price: 40000 + i, side: i % 2 ? 'buy' : 'sell' })));
    let welcomed = false;
    ws.onerror = () => reject(new Error('/chat failed'));
    ws.onmessage = (e) => {
      if (!welcomed) { welcomed = true; ws.send(text); return; }
      ws.close();
      resolve({ extensions: ws.extensions, echoed: e.data === 'Echo: ' + text, size: text.length });
    };
  }), `${new URL(base).protocol === 'https:' ? 'wss' : 'ws'}://${new URL(base).host}`);
  if (!deflate.extensions.startsWith('permessage-deflate')) {
    throw new Error(`ws.extensions is "${deflate.extensions}", not permessage-deflate`);
  }
  if (!deflate.echoed) throw new Error('the compressed echo differs');
  step(`permessage-deflate negotiated (ws.extensions = "${deflate.extensions}"), ${deflate.size} B echoed`);

  // The route console: one of the article's handlers, from the browser.
  await alice.selectOption('#route', '/multiplexed');
  await alice.click('#connect');
  await alice.waitForFunction(() => document.getElementById('console-log').textContent.includes('"welcome"'),
    null, { timeout: 5000 });
  await alice.click('#console-form button[type=submit]');
  await alice.waitForFunction(() => document.getElementById('console-log').textContent
    .includes('{"type": "command_result", "result": "Server is running"}'), null, { timeout: 5000 });
  step('console: /multiplexed answered the status command');

  // /data ends after 100 points (10 s): the page must show it and reconnect.
  await alice.waitForFunction(() => window.demo.dataConnects >= 2, null, { timeout: 20000 });
  step('the /data stream ended and the page reconnected');
  await say(bob, 'the chart keeps going');
  await sees(alice, 'bob', 'the chart keeps going');
  await alice.screenshot({ path: join(outDir, 'demo-alice.png'), fullPage: true });
  await bob.screenshot({ path: join(outDir, 'demo-bob.png'), fullPage: true });
  step(`screenshots: ${join(outDir, 'demo-alice.png')}, ${join(outDir, 'demo-bob.png')}`);
  if (docsShot) {
    copyFileSync(join(outDir, 'demo-alice.png'), docsShot);
    step(`copied to ${docsShot}`);
  }

  // Closing one page: the other sees the leave.
  await bob.close();
  await alice.waitForFunction(() => document.getElementById('members').textContent === '1',
    null, { timeout: 5000 });
  step('bob left; alice sees 1 member');
  await alice.screenshot({ path: join(outDir, 'demo-after.png'), fullPage: true });

  if (consoleErrors.length) throw new Error('page errors: ' + consoleErrors.join('; '));
  step('PASS');
} catch (e) {
  failed = true;
  console.error(`[browser] FAIL: ${e && e.stack ? e.stack : e}`);
  try {
    for (const [i, p] of (context ? context.pages() : []).entries()) {
      await p.screenshot({ path: join(outDir, `failure-${i}.png`), fullPage: true });
    }
  } catch { /* best effort */ }
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
