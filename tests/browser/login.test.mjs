// Browser test of the configuration page's sign-in: a real market-server with --auth on (users
// made with `market-server user add` and `token create`), driven through Debian's chromium.
//   MARKET_SERVER_BIN  the market-server binary (required)
//   MARKET_CHROMIUM    the browser (default /usr/bin/chromium)
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {spawn, spawnSync} from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

import {chromium} from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = path.join(HERE, 'artifacts');
const SERVER_BIN = process.env.MARKET_SERVER_BIN;
const CHROMIUM = process.env.MARKET_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let tempDir;
let database;
let server;
let serverLog;
let baseUrl;
let browser;
let token;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function freePort() {
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

// `market-server ARGS --database ...` with `input` on standard input; its stdout.
function command(args, input = '') {
  const result = spawnSync(SERVER_BIN, [...args, '--database', database], {input, encoding: 'utf8'});
  assert.equal(result.status, 0, `market-server ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

async function waitForServer(child) {
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      const response = await fetch(`${baseUrl}/healthz`);
      if (response.ok) return;
    } catch (_) { /* not listening yet */ }
    await sleep(100);
  }
  throw new Error(`market-server did not come up (exit ${child.exitCode}); log:\n` +
                  fs.readFileSync(serverLog, 'utf8').slice(-4000));
}

const basic = (user, password) => 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');

before(async () => {
  assert.ok(SERVER_BIN, 'set MARKET_SERVER_BIN to the market-server binary');
  assert.ok(fs.existsSync(CHROMIUM), `no chromium at ${CHROMIUM}`);
  fs.mkdirSync(ARTIFACTS, {recursive: true});
  tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'market-login-'));
  database = `sqlite:${path.join(tempDir, 'market.db')}`;
  command(['user', 'add', 'dora', '--role', 'developer'], 'dora-password-1\n');
  token = command(['token', 'create', '--user', 'dora', '--name', 'browser']).trim();
  assert.match(token, /^mkt_/);

  serverLog = path.join(ARTIFACTS, 'market-server-login.log');
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  const logFd = fs.openSync(serverLog, 'w');
  server = spawn(SERVER_BIN, ['--listen', `127.0.0.1:${port}`, '--database', database, '--auth', 'on',
    '--workspace', path.join(tempDir, 'workspace')], {stdio: ['ignore', logFd, logFd]});
  fs.closeSync(logFd);
  await waitForServer(server);
  const created = await fetch(`${baseUrl}/api/project/new`, {
    method: 'POST', body: JSON.stringify({projectName: 'secured'}),
    headers: {'Content-Type': 'application/json', Authorization: basic('dora', 'dora-password-1')}});
  assert.equal((await created.json()).code, 10000);
  browser = await chromium.launch({executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS});
});

after(async () => {
  if (browser) await browser.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  if (tempDir) fs.rmSync(tempDir, {recursive: true, force: true});
});

async function openSecuredPage(t) {
  const context = await browser.newContext({viewport: {width: 1200, height: 900}, locale: 'en-US'});
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  const errors = [];
  page.on('pageerror', (error) => errors.push(error));
  // A native HTTP auth dialog would hang the page: the server must never ask for one here.
  let nativeChallenge = false;
  page.on('response', (response) => {
    const challenge = response.headers()['www-authenticate'] || '';
    if (challenge.startsWith('Basic')) nativeChallenge = true;
  });
  t.after(async () => {
    await context.close();
    assert.deepEqual(errors.map(String), [], 'uncaught errors in the page');
    assert.equal(nativeChallenge, false, 'a response asked the browser for Basic credentials');
  });
  const response = await page.goto(`${baseUrl}/view/config/independent?projectName=secured`);
  assert.equal(response.status(), 200);
  await page.getByTestId('login-form').waitFor();
  return page;
}

describe('sign-in', () => {
  test('asks for a password, refuses a wrong one, then loads the project as that user',
       {timeout: 120000}, async (t) => {
    const page = await openSecuredPage(t);
    await page.getByTestId('login-user').fill('dora');
    await page.getByTestId('login-password').fill('not-her-password');
    await page.getByTestId('login-button').click();
    await page.locator('[data-testid="login-status"].error').waitFor();
    assert.equal(await page.locator('body').getAttribute('data-state'), 'loading');

    await page.getByTestId('login-password').fill('dora-password-1');
    await page.getByTestId('login-button').click();
    await page.locator('body[data-state="ready"]').waitFor();
    assert.equal(await page.getByTestId('login-form').isHidden(), true);
    assert.equal(await page.getByTestId('operator').inputValue(), 'dora');
    assert.equal(await page.locator('#fact-creator').textContent(), 'dora');
    await page.screenshot({path: path.join(ARTIFACTS, 'login-password.png')});
  });

  test('an API token works as well', {timeout: 120000}, async (t) => {
    const page = await openSecuredPage(t);
    await page.getByTestId('login-token').fill(token);
    await page.getByTestId('login-button').click();
    await page.locator('body[data-state="ready"]').waitFor();
    assert.equal(await page.getByTestId('operator').inputValue(), 'dora');
  });
});
