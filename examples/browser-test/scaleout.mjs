// The chat room across two demo processes on one Redis, in headless Debian Chromium
// (issue 15), driven by playwright-core. Run by .ci/browser_scaleout.sh.
//
//   node scaleout.mjs BASE_URL_A BASE_URL_B OUT_DIR
//
// One page on each demo: both must show "2 online" (the count is summed across processes
// through Redis), each must see the other's message (relayed through Redis) and its own,
// and when one page leaves the other must show 1 online. Screenshots go to OUT_DIR.
// Exits non-zero on failure.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [baseA, baseB, outDir] = process.argv.slice(2);
if (!baseA || !baseB || !outDir) {
  console.error('usage: node scaleout.mjs BASE_URL_A BASE_URL_B OUT_DIR');
  process.exit(2);
}
if (baseA === baseB) {
  console.error('the two pages must be served by two different demo processes');
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });

const userDataDir = mkdtempSync(join(tmpdir(), 'wirelane-chromium-'));
const step = (msg) => console.log(`[scale-out] ${msg}`);
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
    ],
  });
  const pageErrors = [];
  const open = async (base, name) => {
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));
    await page.goto(`${base}/?name=${name}`);
    await page.waitForFunction(
      () => document.getElementById('chat-state').textContent === 'connected', null,
      { timeout: 10000 });
    step(`${name}: chat connected to ${base}`);
    return page;
  };
  // The "N online" line of the page (`<span id="members">N</span> online`).
  const online = (page, n) => page.waitForFunction(
    (n) => document.getElementById('members').textContent === String(n), n,
    { timeout: 5000 });

  const alice = await open(baseA, 'alice');
  const bob = await open(baseB, 'bob');
  // Bob's welcome counts alice on the other process; alice learns of bob from his join,
  // which only Redis can have carried to her.
  await online(bob, 2);
  step('bob (demo B) shows 2 online');
  await online(alice, 2);
  step('alice (demo A) shows 2 online');
  for (const page of [alice, bob]) {
    const line = (await page.textContent('.meta')).replace(/\s+/g, ' ');
    if (!line.includes('2 online')) throw new Error(`the page reads "${line}", not "2 online"`);
  }

  const say = async (page, text) => {
    await page.fill('#messageInput', text);
    await page.press('#messageInput', 'Enter');
  };
  const sees = (page, from, text) => page.waitForFunction(([from, text]) =>
    [...document.querySelectorAll('#messages .msg')].some((el) =>
      el.querySelector('.from')?.textContent === from + ':' && el.textContent.endsWith(text)),
  [from, text], { timeout: 5000 });

  await say(alice, 'hello from process A');
  await say(bob, 'hi alice, bob on process B');
  await sees(bob, 'alice', 'hello from process A');
  step('bob sees alice\'s message (A -> Redis -> B)');
  await sees(alice, 'bob', 'hi alice, bob on process B');
  step('alice sees bob\'s message (B -> Redis -> A)');
  await sees(alice, 'alice', 'hello from process A');
  await sees(bob, 'bob', 'hi alice, bob on process B');
  step('each sees its own message too');
  // Exactly once: a process must not deliver its own publication twice (once locally,
  // once back from Redis).
  const counts = async (page) => page.evaluate(() =>
    [...document.querySelectorAll('#messages .msg .from')].map((el) => el.textContent));
  for (const [name, page] of [['alice', alice], ['bob', bob]]) {
    const froms = await counts(page);
    const a = froms.filter((f) => f === 'alice:').length;
    const b = froms.filter((f) => f === 'bob:').length;
    if (a !== 1 || b !== 1) {
      throw new Error(`${name}'s page shows ${a} message(s) from alice and ${b} from bob, not 1 and 1`);
    }
  }
  step('no message shown twice');
  await alice.screenshot({ path: join(outDir, 'scaleout-alice.png'), fullPage: true });
  await bob.screenshot({ path: join(outDir, 'scaleout-bob.png'), fullPage: true });
  step(`screenshots: ${join(outDir, 'scaleout-alice.png')}, ${join(outDir, 'scaleout-bob.png')}`);

  // Leaving on one process lowers the count on the other.
  await bob.close();
  await online(alice, 1);
  step('bob left demo B; alice on demo A shows 1 online');

  if (pageErrors.length) throw new Error('page errors: ' + pageErrors.join('; '));
  step('PASS');
} catch (e) {
  failed = true;
  console.error(`[scale-out] FAIL: ${e && e.stack ? e.stack : e}`);
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
