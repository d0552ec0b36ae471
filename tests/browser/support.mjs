// What the browser tests share: a real market-server on a free loopback port, Debian's chromium
// through playwright-core, pages that fail a test on any uncaught script error, and axe-core's
// WCAG 2 A/AA check.
//   MARKET_SERVER_BIN  the market-server binary (required)
//   MARKET_CHROMIUM    the browser (default /usr/bin/chromium)
import assert from 'node:assert/strict';
import {spawn, spawnSync} from 'node:child_process';
import fs from 'node:fs';
import {createRequire} from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

import {chromium} from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ARTIFACTS = path.join(HERE, 'artifacts');
export const SERVER_BIN = process.env.MARKET_SERVER_BIN;
export const CHROMIUM = process.env.MARKET_CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const AXE_SOURCE = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const {port} = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

// A temp folder with a SQLite database for one server; `command` runs `market-server ARGS
// --database ...` against it (user add, token create) with `input` on standard input.
export function makeDatabase(prefix) {
  assert.ok(SERVER_BIN, 'set MARKET_SERVER_BIN to the market-server binary');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const url = `sqlite:${path.join(dir, 'market.db')}`;
  return {
    dir,
    url,
    command(args, input = '') {
      const result = spawnSync(SERVER_BIN, [...args, '--database', url], {input, encoding: 'utf8'});
      assert.equal(result.status, 0, `market-server ${args.join(' ')}: ${result.stderr}`);
      return result.stdout;
    },
    remove() { fs.rmSync(dir, {recursive: true, force: true}); },
  };
}

// market-server on `database` with `args` besides the listener, database and workspace; its log
// goes to artifacts/market-server-NAME.log. Resolves once /healthz answers.
export async function startServer(name, database, args = []) {
  fs.mkdirSync(ARTIFACTS, {recursive: true});
  const log = path.join(ARTIFACTS, `market-server-${name}.log`);
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const logFd = fs.openSync(log, 'w');
  const child = spawn(SERVER_BIN, ['--listen', `127.0.0.1:${port}`, '--database', database.url,
    '--workspace', path.join(database.dir, 'workspace'), ...args], {stdio: ['ignore', logFd, logFd]});
  fs.closeSync(logFd);
  const deadline = Date.now() + 30000;
  for (;;) {
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`market-server did not come up (exit ${child.exitCode}); log:\n` +
                      fs.readFileSync(log, 'utf8').slice(-4000));
    }
    try {
      if ((await fetch(`${baseUrl}/healthz`)).ok) break;
    } catch (_) { /* not listening yet */ }
    await sleep(100);
  }
  return {
    baseUrl,
    log,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export function launchBrowser() {
  assert.ok(fs.existsSync(CHROMIUM), `no chromium at ${CHROMIUM}`);
  return chromium.launch({executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS});
}

// A page of `context` that fails the test on any uncaught script error once the test ends.
export async function checkedPage(context, t) {
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  const errors = [];
  page.on('pageerror', (error) => errors.push(error));
  t.after(async () => {
    await page.close();
    assert.deepEqual(errors.map(String), [], 'uncaught errors in the page');
  });
  return page;
}

// A checked page that also fails the test on a script dialog (alert, confirm): the console opens
// none, so one means text from the server ran as markup.
export async function guardedPage(context, t) {
  const page = await checkedPage(context, t);
  const dialogs = [];
  page.on('dialog', async (dialog) => {
    dialogs.push(dialog.message());
    await dialog.dismiss();
  });
  t.after(() => assert.deepEqual(dialogs, [], 'a script dialog opened'));
  return page;
}

// axe-core's WCAG 2 A and AA rules on the page as it is now; fails naming each violation. The
// page's Content-Security-Policy forbids injected scripts: its context needs bypassCSP.
export async function assertAccessible(page, what) {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const result = await globalThis.axe.run(document, {
      runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
    return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ` +
                                        v.nodes.map((n) => n.target.join(' ')).join(', '));
  });
  assert.deepEqual(violations, [], `${what}: WCAG 2 A/AA violations`);
}

// Opens the link of the registry view's row `name`, paging on as a person would while it is
// not on the page shown: the test registry keeps what earlier runs pushed (their projects, and
// their builds' cache repositories), so a name need not be on the first page of twenty.
export async function openRegistryRow(page, name) {
  const rows = page.locator('[data-testid="registry-body"] tr');
  for (let shown = 0; shown < 100; ++shown) {
    await rows.first().waitFor();
    const row = page.locator(`[data-testid="registry-body"] tr[data-name="${name}"] a`);
    if (await row.count() > 0) {
      await row.click();
      return;
    }
    const next = page.getByRole('button', {name: /Next/});
    assert.ok(!(await next.isDisabled()), `the registry view lists no ${name} on any page`);
    const first = await rows.first().getAttribute('data-name');
    await next.click();
    await page.waitForFunction(
      (before) => document.querySelector('[data-testid="registry-body"] tr')?.dataset.name !== before,
      first);
  }
  assert.fail(`the registry view lists no ${name} in 100 pages`);
}
