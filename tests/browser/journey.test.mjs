// Browser test of the console as one person uses it, end to end, through the pages only: create a
// project from /, find it by search, open it, compose it, save and build it, see the build in
// /builds and follow its log, find its tag in /registry and delete it. A real market-server,
// a real registry and a real buildah build.
//   MARKET_SERVER_BIN     the market-server binary (required)
//   MARKET_CHROMIUM       the browser (default /usr/bin/chromium)
//   MARKET_TEST_REGISTRY  host:port of a plain-HTTP registry holding base/busybox:latest
//                         (required: without it the test is skipped)
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';

import {checkedPage, launchBrowser, makeDatabase, openRegistryRow, startServer} from './support.mjs';

const REGISTRY = process.env.MARKET_TEST_REGISTRY || '';
const NAME = 'journey-web';

let database;
let server;
let browser;

before(async () => {
  if (!REGISTRY) return;
  database = makeDatabase('market-journey-');
  server = await startServer('journey', database, ['--registry', `http://${REGISTRY}`, '--registry-insecure']);
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
  if (database) database.remove();
});

describe('the console, end to end', {skip: !REGISTRY && 'MARKET_TEST_REGISTRY is not set'}, () => {
  test('create, find, open, compose, build, follow, find the tag, delete it', {timeout: 300000}, async (t) => {
    const context = await browser.newContext({viewport: {width: 1280, height: 900}, locale: 'en-US'});
    t.after(() => context.close());
    const page = await checkedPage(context, t);

    // Create from the projects view.
    await page.goto(`${server.baseUrl}/`);
    await page.locator('body[data-state="ready"]').waitFor();
    await page.getByTestId('operator').fill('journey-tester');
    await page.getByTestId('new-project').click();
    await page.getByTestId('new-name').fill(NAME);
    await page.getByTestId('new-create').click();
    await page.locator(`tr[data-project="${NAME}"]`).waitFor();

    // Find it by a piece of its name, then open it.
    await page.getByTestId('project-search').fill('ney-w');
    await page.waitForURL(/ney-w/);
    await page.getByTestId(`open-${NAME}`).click();
    await page.locator('body[data-state="ready"]').waitFor();
    assert.equal(await page.getByTestId('project-name').textContent(), NAME);
    assert.equal(await page.getByTestId('operator').inputValue(), 'journey-tester');

    // Compose: a base image and a step that prints a line only when it runs.
    await page.getByLabel('Add a plugin').selectOption('base_image_choose_from_harbor');
    await page.getByTestId('add-plugin-button').click();
    await page.getByTestId('plugin-card').last().locator('input').first().fill(`${REGISTRY}/base/busybox:latest`);
    await page.getByLabel('Add a plugin').selectOption('run');
    await page.getByTestId('add-plugin-button').click();
    await page.getByTestId('plugin-card').last().getByTestId('input-value').first().fill('echo journey-$((6*7))');
    await page.getByTestId('save-button').click();
    await page.locator('[data-testid="save-status"].ok').waitFor();

    // Build with a tag, cold (the registry may hold this project's cached steps from an
    // earlier run, and a reused step prints nothing); then the builds view, through the page's
    // own navigation.
    await page.getByTestId('build-tag').fill('j1');
    await page.getByTestId('build-no-cache').check();
    await page.getByTestId('build-button').click();
    await page.getByTestId('build-status').filter({hasText: /queued/}).waitFor();
    await page.getByRole('link', {name: /^Builds/}).click();
    await page.locator('body[data-state="ready"]').waitFor();
    const row = page.locator(`tr[data-build]`, {hasText: NAME}).first();
    await row.waitFor({timeout: 60000});
    const id = await row.getAttribute('data-build');
    await page.getByTestId(`log-${id}`).click();
    await page.locator('[data-testid="builds-log"]', {hasText: 'journey-42'}).waitFor({timeout: 180000});
    await page.locator('[data-testid="builds-log"]', {hasText: '--no-cache'}).waitFor();
    await page.locator('[data-testid="builds-log"][data-state="done"]').waitFor({timeout: 180000});
    const done = page.locator(`[data-testid="finished-builds"] tr[data-build="${id}"][data-state="succeeded"]`);
    await done.waitFor({timeout: 60000});
    const digest = (await done.locator('.digest code').textContent()).trim();
    assert.match(digest, /^sha256:[0-9a-f]{64}$/);

    // The registry view: the tag the build pushed, with the same digest; then delete it.
    await page.getByTestId('nav-registry').click();
    await openRegistryRow(page, 'default_cluster');
    await openRegistryRow(page, `default_cluster/${NAME}`);
    const tag = page.locator('[data-testid="registry-body"] tr[data-tag="j1"]');
    await tag.waitFor();
    assert.equal((await tag.locator('code.digest').textContent()).trim(), digest);
    await page.getByTestId('delete-tag-j1').click();
    await page.getByTestId('tag-delete').click();
    await page.locator('[data-testid="registry-status"]', {hasText: `Deleted default_cluster/${NAME}:j1`}).waitFor();
    await tag.waitFor({state: 'detached'});
    const gone = await fetch(`http://${REGISTRY}/v2/default_cluster/${NAME}/manifests/j1`,
                             {headers: {Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json'}});
    assert.equal(gone.status, 404);
  });
});
