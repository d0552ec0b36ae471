// Browser test of base-image rebuilds in the console: the section of /webhooks (the opt-in turned
// on and off and kept across reloads, the bases of the latest successful build, the rebuilds a
// base change made) and what /builds says of a rebuild ("rebuilt because base X changed"), on
// real buildah builds: a project built FROM another's image, rebuilt when that image changes.
//   MARKET_SERVER_BIN     the market-server binary (required)
//   MARKET_CHROMIUM       the browser (default /usr/bin/chromium)
//   MARKET_TEST_REGISTRY  host:port of a plain-HTTP registry holding base/busybox:latest (the
//                         rebuild's test is skipped without it)
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';

import {assertAccessible, guardedPage, launchBrowser, makeDatabase, sleep, startServer} from './support.mjs';

const REGISTRY = process.env.MARKET_TEST_REGISTRY || '';
const OPERATOR = 'rebuild-tester';
// The rebuild's images go to a Cluster of their own, so that runs do not see each other's.
const CLUSTER = `brui${process.pid}`;

let browser;
let server;
let database;

async function call(method, apiPath, params) {
  const response = await fetch(`${server.baseUrl}${apiPath}`, method === 'GET' ? {} : {
    method, body: JSON.stringify(params), headers: {'Content-Type': 'application/json'}});
  return {status: response.status, body: await response.json()};
}

async function save(project, base, command, add) {
  const saved = await call('POST', '/api/project/save', {project, operator: OPERATOR, addOrUpdate: add ? 'add' : 'update',
    $$plugin: [{$$plugin: 'base_image_choose_from_harbor', handleInput: base}, {$$plugin: 'run', value: [command]}]});
  assert.equal(saved.body.code, 10000, saved.body.errMsg);
}

async function builds(project) {
  const listed = await call('GET', `/api/builds?page_size=50&project=${project}`);
  assert.equal(listed.body.code, 10000, listed.body.errMsg);
  return listed.body.content.builds;
}

// Waits until `pick` finds an ended build of `project`; that build.
async function waitBuild(project, pick, what) {
  const deadline = Date.now() + 240000;
  while (Date.now() < deadline) {
    const found = (await builds(project)).find(pick);
    if (found && found.state !== 'queued' && found.state !== 'running') return found;
    await sleep(500);
  }
  assert.fail(`${what} of ${project} did not end`);
}

async function buildNow(project) {
  const started = await call('POST', '/api/project/build', {projectName: project, operator: OPERATOR, tag: 'latest'});
  assert.equal(started.body.code, 10000, started.body.errMsg);
  const id = Number(started.body.content.idStr);
  const built = await waitBuild(project, (b) => b.id === id, `build ${id}`);
  assert.equal(built.state, 'succeeded', `build ${id} of ${project}: ${built.reason}`);
  return built;
}

before(async () => {
  browser = await launchBrowser();
  database = makeDatabase('market-base-rebuild-');
  server = await startServer('base-rebuild', database, ['--registry', REGISTRY ? `http://${REGISTRY}` : 'http://127.0.0.1:9',
    '--registry-insecure', '--build-isolation', 'chroot', '--default-cluster', CLUSTER]);
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
  if (database) database.remove();
});

async function openSection(t, project) {
  const context = await browser.newContext({viewport: {width: 1280, height: 900}, locale: 'en-US', bypassCSP: true});
  t.after(() => context.close());
  const page = await guardedPage(context, t);
  await page.goto(`${server.baseUrl}/webhooks?project=${project}`);
  await page.getByTestId('operator').fill(OPERATOR);
  const section = page.getByTestId('base-rebuild-section');
  await section.waitFor();
  return {page, section};
}

describe('the base-image rebuilds section of the Webhooks view', () => {
  test('the opt-in is turned on and off, kept across reloads, and shown before any build', {timeout: 120000}, async (t) => {
    assert.equal((await call('POST', '/api/project/new', {projectName: 'quiet', operator: OPERATOR})).body.code, 10000);
    const {page, section} = await openSection(t, 'quiet');
    await section.getByTestId('base-rebuild-no-bases').waitFor();
    const toggle = section.getByTestId('base-rebuild-enabled');
    assert.equal(await toggle.isChecked(), false);
    await toggle.check();
    await section.getByTestId('base-rebuild-notice').filter({hasText: 'are on'}).waitFor();
    assert.equal((await call('GET', '/api/project/baseRebuild?projectName=quiet')).body.content.rebuildOnBaseChange, true);
    await assertAccessible(page, 'the base-image rebuilds section');

    await page.reload();
    await page.getByTestId('operator').fill(OPERATOR);
    await page.getByTestId('base-rebuild-enabled').and(page.locator(':checked')).waitFor();
    await page.getByTestId('base-rebuild-enabled').uncheck();
    await page.getByTestId('base-rebuild-notice').filter({hasText: 'are off'}).waitFor();
    const stored = (await call('GET', '/api/project/baseRebuild?projectName=quiet')).body.content;
    assert.equal(stored.rebuildOnBaseChange, false);
    assert.equal(stored.operator, OPERATOR);
  });
});

describe('a rebuild because a base changed', {skip: !REGISTRY && 'MARKET_TEST_REGISTRY is not set'}, () => {
  test('the dependent is rebuilt once, and the console says why', {timeout: 600000}, async (t) => {
    const busybox = `${REGISTRY}/base/busybox:latest`;
    const baseImage = `${REGISTRY}/${CLUSTER}/lower:latest`;
    await save('lower', busybox, 'echo first > /lower.txt', true);
    await save('upper', baseImage, 'cat /lower.txt', true);
    const lower1 = await buildNow('lower');
    const {page, section} = await openSection(t, 'upper');
    await section.getByTestId('base-rebuild-enabled').check();
    await section.getByTestId('base-rebuild-notice').filter({hasText: 'are on'}).waitFor();
    const upper1 = await buildNow('upper');
    assert.equal(upper1.baseImages[0].digest, lower1.digest);

    await save('lower', busybox, 'echo second > /lower.txt', false);
    const lower2 = await buildNow('lower');
    assert.notEqual(lower2.digest, lower1.digest);
    const rebuilt = await waitBuild('upper', (b) => b.trigger && b.trigger.kind === 'base-image', 'the base-image build');
    assert.equal(rebuilt.state, 'succeeded', rebuilt.reason);

    // The builds view names the base and the digests it went from and to.
    await page.goto(`${server.baseUrl}/builds?project=upper`);
    const short = (digest) => digest.replace(/^sha256:/, '').slice(0, 12);
    const line = page.locator(`tr[data-build="${rebuilt.id}"]`).getByTestId('build-trigger');
    await line.waitFor();
    assert.equal(await line.textContent(),
                 `rebuilt because base ${baseImage} changed (${short(lower1.digest)} → ${short(lower2.digest)})`);
    const plain = page.locator(`tr[data-build="${upper1.id}"]`);
    await plain.waitFor();
    assert.equal(await plain.getByTestId('build-trigger').count(), 0);

    // The section lists the new base digest and the rebuild with a link to its build.
    await page.goto(`${server.baseUrl}/webhooks?project=upper`);
    const again = page.getByTestId('base-rebuild-section');
    await again.getByTestId('base-rebuild-bases').filter({hasText: short(lower2.digest)}).waitFor();
    const item = again.getByTestId('base-rebuild-item');
    assert.equal(await item.count(), 1);
    assert.match(await item.textContent(), new RegExp(`${short(lower1.digest)} → ${short(lower2.digest)}`));
    await item.getByRole('link', {name: `build ${rebuilt.id}`}).waitFor();
    await assertAccessible(page, 'the section after a rebuild');
    // Exactly one rebuild for the one change.
    assert.equal((await builds('upper')).filter((b) => b.trigger && b.trigger.kind === 'base-image').length, 1);
  });
});
