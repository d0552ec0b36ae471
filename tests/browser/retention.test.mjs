// Browser test of the Retention view (/retention): a refused rule set names the field, a rule set
// is created, its dry run lists each tag's decision, and its run deletes what the dry run listed,
// against the real docker-registry (MARKET_TEST_REGISTRY; the test skips itself without one).
//   MARKET_SERVER_BIN     the market-server binary (required)
//   MARKET_TEST_REGISTRY  host:port of a docker-registry with deletes enabled
//   MARKET_CHROMIUM       the browser (default /usr/bin/chromium)
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import {assertAccessible, guardedPage, launchBrowser, makeDatabase, startServer} from './support.mjs';

const REGISTRY = process.env.MARKET_TEST_REGISTRY;
const OPERATOR = 'retention-tester';
const DAY = 24 * 3600 * 1000;

let browser;
let server;
let database;

const digest = (text) => 'sha256:' + crypto.createHash('sha256').update(text).digest('hex');

async function pushBlob(repository, blob) {
  const started = await fetch(`http://${REGISTRY}/v2/${repository}/blobs/uploads/`, {method: 'POST'});
  assert.equal(started.status, 202);
  const location = new URL(started.headers.get('location'), `http://${REGISTRY}`);
  location.searchParams.set('digest', digest(blob));
  const put = await fetch(location, {method: 'PUT', body: blob,
                                     headers: {'Content-Type': 'application/octet-stream'}});
  assert.equal(put.status, 201, await put.text());
}

// An image whose config says it was created `ageDays` ago, tagged `tag`.
async function pushImage(repository, tag, ageDays) {
  const config = JSON.stringify({created: new Date(Date.now() - ageDays * DAY).toISOString(),
                                 architecture: 'amd64', os: 'linux', rootfs: {type: 'layers', diff_ids: []}});
  const layer = `layer of ${repository}:${tag}`;
  await pushBlob(repository, config);
  await pushBlob(repository, layer);
  const manifest = JSON.stringify({schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {mediaType: 'application/vnd.oci.image.config.v1+json', digest: digest(config), size: config.length},
    layers: [{mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digest(layer), size: layer.length}]});
  const put = await fetch(`http://${REGISTRY}/v2/${repository}/manifests/${tag}`, {method: 'PUT', body: manifest,
    headers: {'Content-Type': 'application/vnd.oci.image.manifest.v1+json'}});
  assert.equal(put.status, 201, await put.text());
}

async function registryTags(repository) {
  const listed = await fetch(`http://${REGISTRY}/v2/${repository}/tags/list`);
  return ((await listed.json()).tags || []).sort();
}

before(async () => {
  if (!REGISTRY) return;
  browser = await launchBrowser();
  database = makeDatabase('market-retention-');
  server = await startServer('retention', database, ['--registry', `http://${REGISTRY}`, '--registry-insecure',
    '--retention-poll', '1', '--retention-max-deletes-per-minute', '0']);
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
  if (database) database.remove();
});

describe('the Retention view', () => {
  test('refuse a bad rule set, create one, dry run, read the decisions, run', {timeout: 180000}, async (t) => {
    if (!REGISTRY) return t.skip('MARKET_TEST_REGISTRY is not set');
    const cluster = `rtweb${crypto.randomInt(1e9)}`;
    await pushImage(`${cluster}/app`, 'old', 400);
    await pushImage(`${cluster}/app`, 'new', 1);
    const context = await browser.newContext({viewport: {width: 1280, height: 900}, locale: 'en-US', bypassCSP: true});
    t.after(() => context.close());
    const page = await guardedPage(context, t);
    await page.goto(`${server.baseUrl}/retention`);
    await page.getByTestId('operator').fill(OPERATOR);

    await page.getByTestId('retention-cluster').fill(cluster);
    await page.getByTestId('retention-name').fill('month');
    await page.getByTestId('retention-rules').fill('[{"keepDays": 30, "include": "("}]');
    await page.getByTestId('retention-create').click();
    await page.locator('[data-testid="retention-status"].error').waitFor();
    assert.match(await page.getByTestId('retention-status').textContent(), /rules\[0\]\.include/);
    assert.equal(await page.locator('[data-testid="retention-sets"] tr').count(), 0);

    await page.getByTestId('retention-rules').fill('[{"keepDays": 30}]');
    await page.getByTestId('retention-create').click();
    const row = page.locator('[data-testid="retention-sets"] tr');
    await row.waitFor();
    const id = await row.getAttribute('data-set');

    await page.getByTestId(`retention-dryrun-${id}`).click();
    const dry = page.locator('[data-testid="retention-runs"] tr[data-state="succeeded"]');
    await dry.waitFor({timeout: 60000});
    const runId = await dry.getAttribute('data-run');
    await page.getByTestId(`retention-open-${runId}`).click();
    await page.locator('[data-testid="retention-items"] tr[data-tag="old"][data-action="delete"]').waitFor();
    await page.locator('[data-testid="retention-items"] tr[data-tag="new"][data-action="keep"]').waitFor();
    assert.deepEqual(await registryTags(`${cluster}/app`), ['new', 'old']);  // a dry run deletes nothing
    await assertAccessible(page, 'the Retention view with a dry run');

    await page.getByTestId(`retention-run-${id}`).click();
    await page.locator('[data-testid="retention-runs"] tr[data-state="succeeded"]').nth(1).waitFor({timeout: 60000});
    assert.deepEqual(await registryTags(`${cluster}/app`), ['new']);
  });
});
