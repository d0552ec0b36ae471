// Browser test of the immutable tags in the console: the Registry view's section of rules (create
// with a refused field named, edit, disable, delete confirmed), and, with a real registry, a
// repository's tags where the protected one is marked and offers no delete, and a forced delete of
// a tag sharing its image is refused with the rule named.
//   MARKET_SERVER_BIN     the market-server binary (required)
//   MARKET_CHROMIUM       the browser (default /usr/bin/chromium)
//   MARKET_TEST_REGISTRY  host:port of a plain-HTTP registry holding base/busybox:latest (the
//                         tags' test is skipped without it)
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';

import {assertAccessible, guardedPage, launchBrowser, makeDatabase, startServer} from './support.mjs';

const REGISTRY = process.env.MARKET_TEST_REGISTRY || '';
const OPERATOR = 'immutability-tester';
const MANIFEST_TYPES = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';

let browser;
let server;
let database;

async function call(method, apiPath, params) {
  const response = await fetch(`${server.baseUrl}${apiPath}`, method === 'GET' ? {} : {
    method, body: JSON.stringify(params), headers: {'Content-Type': 'application/json'}});
  return {status: response.status, body: await response.json()};
}

// Tags `repository:tag` in the registry with base/busybox:latest's image, as a push would: its
// blobs mounted from base/busybox, then its manifest put under the new name.
async function copyBaseImage(repository, tag) {
  const source = await fetch(`http://${REGISTRY}/v2/base/busybox/manifests/latest`, {headers: {Accept: MANIFEST_TYPES}});
  assert.equal(source.status, 200, 'base/busybox:latest must be in MARKET_TEST_REGISTRY');
  const type = source.headers.get('content-type');
  const text = await source.text();
  const manifest = JSON.parse(text);
  for (const blob of [manifest.config, ...manifest.layers]) {
    const mounted = await fetch(`http://${REGISTRY}/v2/${repository}/blobs/uploads/?mount=${blob.digest}&from=base/busybox`,
                                {method: 'POST'});
    assert.equal(mounted.status, 201, `mounting ${blob.digest}: HTTP ${mounted.status}`);
  }
  const put = await fetch(`http://${REGISTRY}/v2/${repository}/manifests/${tag}`,
                          {method: 'PUT', body: text, headers: {'Content-Type': type}});
  assert.equal(put.status, 201, `putting ${repository}:${tag}: HTTP ${put.status}`);
}

before(async () => {
  browser = await launchBrowser();
  database = makeDatabase('market-immutability-');
  server = await startServer('immutability', database, ['--registry', REGISTRY ? `http://${REGISTRY}` : 'http://127.0.0.1:9',
    '--registry-insecure', '--build-isolation', 'chroot']);
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
  if (database) database.remove();
});

describe('the immutability rules section of the Registry view', () => {
  test('an admin creates, edits, disables and deletes a rule; a bad field is named', {timeout: 120000}, async (t) => {
    const context = await browser.newContext({viewport: {width: 1280, height: 900}, locale: 'en-US', bypassCSP: true});
    t.after(() => context.close());
    const page = await guardedPage(context, t);
    await page.goto(`${server.baseUrl}/registry`);
    await page.getByTestId('operator').fill(OPERATOR);  // authentication is off: who changes
    const section = page.getByTestId('immutability-section');
    await section.getByTestId('immutability-empty').waitFor();

    // A repository glob with an upper-case letter: refused, the field marked, nothing stored.
    await page.getByTestId('immutability-new').click();
    await page.locator('#immutability-repository').fill('Default/*');
    await page.locator('#immutability-pattern').fill('v[0-9]+');
    await page.getByTestId('immutability-save').click();
    await page.locator('#immutability-form-status', {hasText: 'repository contains special char: D'}).waitFor();
    assert.equal(await page.locator('#immutability-repository').getAttribute('aria-invalid'), 'true');
    assert.deepEqual((await call('GET', '/api/immutability/list')).body.content, []);

    await page.locator('#immutability-repository').fill('default_cluster/*');
    await page.locator('#immutability-description').fill('<b>releases</b> are final');
    await page.getByTestId('immutability-save').click();
    const row = section.locator('tbody tr').first();
    await row.waitFor();
    const id = Number(await row.getAttribute('data-rule'));
    assert.ok(id > 0);
    assert.equal(await row.locator('td').nth(0).locator('code').textContent(), 'default_cluster/*');
    assert.equal(await row.locator('td').nth(1).locator('code').textContent(), 'v[0-9]+');
    // Text from the server is text, never markup.
    assert.equal(await row.locator('td').nth(2).textContent(), '<b>releases</b> are final');
    assert.equal(await row.locator('b').count(), 0);
    await assertAccessible(page, 'the Registry view with a rule');

    await page.getByTestId(`immutability-edit-${id}`).click();
    assert.equal(await page.locator('#immutability-pattern').inputValue(), 'v[0-9]+');
    await page.locator('#immutability-pattern').fill('v.*');
    await page.getByTestId('immutability-save').click();
    await section.locator('tbody tr td code', {hasText: 'v.*'}).waitFor();
    let stored = (await call('GET', '/api/immutability/list')).body.content;
    assert.equal(stored.length, 1);
    assert.equal(stored[0].tagPattern, 'v.*');
    assert.equal(stored[0].enabled, true);

    await page.getByTestId(`immutability-toggle-${id}`).click();
    await section.locator('.badge', {hasText: 'disabled'}).waitFor();
    stored = (await call('GET', '/api/immutability/list')).body.content;
    assert.equal(stored[0].enabled, false);

    await page.getByTestId(`immutability-delete-${id}`).click();
    await page.getByTestId('immutability-delete-confirm').click();
    await section.getByTestId('immutability-empty').waitFor();
    assert.deepEqual((await call('GET', '/api/immutability/list')).body.content, []);
  });
});

describe('protected tags in a repository', {skip: !REGISTRY && 'MARKET_TEST_REGISTRY is not set'}, () => {
  test('the protected tag is marked and offers no delete; a forced delete of its image is refused', {timeout: 120000}, async (t) => {
    const name = `immut${Date.now() % 1000000}`;
    const repository = `default_cluster/${name}`;
    await copyBaseImage(repository, 'v1');
    await copyBaseImage(repository, 'dev');
    const made = await call('POST', '/api/immutability/new', {repository, tagPattern: 'v[0-9]+', operator: OPERATOR});
    assert.equal(made.body.code, 10000, made.body.errMsg);
    t.after(() => call('POST', '/api/immutability/delete', {id: made.body.content.id, operator: OPERATOR}));

    const context = await browser.newContext({viewport: {width: 1280, height: 900}, locale: 'en-US', bypassCSP: true});
    t.after(() => context.close());
    const page = await guardedPage(context, t);
    await page.goto(`${server.baseUrl}/registry?repo=${encodeURIComponent(repository)}`);
    await page.locator('[data-testid="registry-body"] tr[data-tag="v1"]').waitFor();
    await page.getByTestId('immutable-v1').waitFor();
    assert.equal(await page.getByTestId('immutable-dev').count(), 0);
    const protectedDelete = page.getByTestId('delete-tag-v1');
    assert.equal(await protectedDelete.isDisabled(), true);
    assert.match(await protectedDelete.getAttribute('title'), new RegExp(`rule ${made.body.content.id}`));
    assert.equal(await page.getByTestId('delete-tag-dev').isDisabled(), false);
    await assertAccessible(page, 'a repository with a protected tag');

    // dev shares v1's image: even forced, its delete would remove v1 too, so the server refuses
    // and the dialog shows why.
    await page.getByTestId('delete-tag-dev').click();
    await page.getByTestId('tag-shared-warning').waitFor();
    await page.getByTestId('tag-force').check();
    await page.getByTestId('tag-delete').click();
    await page.getByTestId('tag-dialog-status').filter({hasText: `immutability rule ${made.body.content.id}`}).waitFor();
    const kept = await fetch(`http://${REGISTRY}/v2/${repository}/manifests/v1`, {headers: {Accept: MANIFEST_TYPES}});
    assert.equal(kept.status, 200);
  });
});
