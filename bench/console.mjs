#!/usr/bin/env node
// The console's projects view: how long from navigation until its first page of projects shows,
// at N projects (a million by default) beside a baseline of 1,000 projects measured in the same
// run, each in SQLite loaded as bench/run loads it. Every round opens / in a fresh browser
// context (nothing cached) and reads the view's own mark of when the first page was in the
// page, in milliseconds from the start of the navigation.
//   node bench/console.mjs [--projects N] [--rounds R]
// Needs a built server (build/server/market-server, or MARKET_SERVER_BIN), sqlite3, Debian's
// chromium and tests/browser's npm packages (npm ci --prefix tests/browser).
import {spawn, spawnSync} from 'node:child_process';
import fs from 'node:fs';
import {createRequire} from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const {chromium} = createRequire(path.join(ROOT, 'tests/browser/package.json'))('playwright-core');
const SERVER_BIN = process.env.MARKET_SERVER_BIN || path.join(ROOT, 'build/server/market-server');
const CHROMIUM = process.env.MARKET_CHROMIUM || '/usr/bin/chromium';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const projects = option('--projects', 1000000);
const rounds = option('--rounds', 7);
const BASELINE = 1000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values) => values.slice().sort((a, b) => a - b)[Math.floor(values.length / 2)];

function freePort() {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.listen(0, '127.0.0.1', () => {
      const {port} = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function startServer(database, work) {
  const port = await freePort();
  const child = spawn(SERVER_BIN, ['--listen', `127.0.0.1:${port}`, '--database', `sqlite:${database}`,
    '--log-level', 'warn', '--workspace', path.join(work, 'workspace')], {stdio: 'ignore'});
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 400; ++i) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return {base, child};
    } catch (_) { /* not yet */ }
    await sleep(50);
  }
  throw new Error('market-server did not start');
}

async function stop(child) {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

// A database of `count` projects: the server applies its migrations, then sqlite3 loads the rows
// with the statement bench/run uses.
async function loadDatabase(count, work) {
  const database = path.join(work, `console-${count}.db`);
  const {child} = await startServer(database, work);
  await stop(child);
  const sql = `PRAGMA journal_mode=WAL; BEGIN;
WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < ${count} - 1)
INSERT INTO projects (name, creator, create_time, last_modify_time, last_modify_operator, cluster, define_type, pipeline)
SELECT printf('bench-%07d', i), 'bench', 1790000000000, 1790000000000, 'bench', 'default_cluster', 'tool', '[]' FROM seq;
COMMIT; ANALYZE;`;
  const loaded = spawnSync('sqlite3', [database], {input: sql, encoding: 'utf8'});
  if (loaded.status !== 0) throw new Error('sqlite3: ' + loaded.stderr);
  return database;
}

// Milliseconds from navigation start until the first project row is in the page, per round.
async function measure(browser, base) {
  const times = [];
  for (let i = 0; i < rounds; ++i) {
    const context = await browser.newContext({viewport: {width: 1280, height: 900}});
    const page = await context.newPage();
    await page.goto(`${base}/`);
    await page.locator('tr[data-project]').first().waitFor();
    // The view marks the moment its first page is in the DOM (projects_view.js).
    times.push(await page.evaluate(() => performance.getEntriesByName('projects-first-page')[0].startTime));
    await context.close();
  }
  return times;
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'market-console-bench-'));
const browser = await chromium.launch({executablePath: CHROMIUM, headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run']});
try {
  const load = (os.loadavg().map((x) => x.toFixed(2))).join(' ');
  console.log(`bench/console: ${projects} projects vs ${BASELINE}, ${rounds} rounds; load ${load}`);
  const results = {};
  for (const count of [BASELINE, projects]) {
    const database = await loadDatabase(count, work);
    const {base, child} = await startServer(database, work);
    try {
      await measure(browser, base);  // warm the server's caches and the browser once
      results[count] = await measure(browser, base);
    } finally {
      await stop(child);
    }
  }
  const small = median(results[BASELINE]);
  const large = median(results[projects]);
  console.log('| projects | first row after navigation, median ms | min..max ms | vs baseline |');
  console.log('|---:|---:|---:|---:|');
  for (const count of [BASELINE, projects]) {
    const times = results[count];
    console.log(`| ${count.toLocaleString('en-US')} | ${median(times).toFixed(0)} | ` +
                `${Math.min(...times).toFixed(0)}..${Math.max(...times).toFixed(0)} | ` +
                `${(median(times) / small).toFixed(2)} |`);
  }
  console.log(`\nfirst page at ${projects.toLocaleString('en-US')} projects: ${large.toFixed(0)} ms ` +
              `(target 300 ms: ${large <= 300 ? 'met' : 'missed'}); load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
} finally {
  await browser.close();
  fs.rmSync(work, {recursive: true, force: true});
}
