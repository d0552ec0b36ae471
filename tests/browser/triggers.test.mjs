// Browser test of the build triggers in the console: the section of /webhooks (list, create with
// the secret shown once, edit, Start with a ref and commit that links to the build, disable and
// enable, delete confirmed) and what /builds and a project's history say about a build's trigger
// and extra tags, on real builds a trigger started; and what a trigger received.
//   MARKET_SERVER_BIN  the market-server binary (required)
//   MARKET_CHROMIUM    the browser (default /usr/bin/chromium)
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {createHmac} from 'node:crypto';

import {assertAccessible, guardedPage, launchBrowser, makeDatabase, startServer} from './support.mjs';

const OPERATOR = 'trigger-tester';
const SHA = '0123456789abcdef0123456789abcdef01234567';

let browser;
let server;
let database;

async function call(method, apiPath, params) {
  const response = await fetch(`${server.baseUrl}${apiPath}`, method === 'GET' ? {} : {
    method, body: JSON.stringify(params), headers: {'Content-Type': 'application/json'}});
  return {status: response.status, body: await response.json()};
}

// A project whose builds fail at once (nothing listens on port 9) but are real build records;
// its one git source is what a trigger's commit is checked out for.
async function buildableProject(name) {
  assert.equal((await call('POST', '/api/project/new', {projectName: name, operator: OPERATOR})).body.code, 10000);
  const saved = await call('POST', '/api/project/save', {project: name, operator: OPERATOR,
    $$plugin: [{$$plugin: 'base_image_choose_from_harbor', handleInput: '127.0.0.1:9/base/busybox:latest'},
               {$$plugin: 'download_executable_source', source_type: 'git',
                source_url: 'https://git.example.com/app.git', checkoutAs: 'app', containerPath: '/opt/app'}]});
  assert.equal(saved.body.code, 10000, saved.body.errMsg);
}

async function startBuild(name, tag) {
  const built = await call('POST', '/api/project/build', {projectName: name, operator: OPERATOR, tag});
  assert.equal(built.body.code, 10000, built.body.errMsg);
  return Number(built.body.content.idStr);
}

before(async () => {
  browser = await launchBrowser();
  database = makeDatabase('market-triggers-');
  server = await startServer('triggers', database, ['--registry', 'http://127.0.0.1:9', '--registry-insecure',
    '--build-isolation', 'chroot']);
  await buildableProject('app');
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
  if (database) database.remove();
});

describe('a build\'s trigger and extra tags in the build lists', () => {
  test('the builds view and the history say what triggered a build; a build without says nothing',
       {timeout: 120000}, async (t) => {
    const made = await call('POST', '/api/triggers/new', {project: 'app', name: 'lists', operator: OPERATOR});
    assert.equal(made.body.code, 10000, made.body.errMsg);
    const start = await call('POST', '/api/triggers/start', {id: made.body.content.id, ref: 'main', sha: SHA,
                                                              operator: OPERATOR});
    assert.equal(start.body.code, 10000, start.body.errMsg);
    const triggered = start.body.content.id;
    const plain = await startBuild('app', 'v2');
    t.after(() => call('POST', '/api/triggers/delete', {id: made.body.content.id, operator: OPERATOR}));
    const context = await browser.newContext({viewport: {width: 1280, height: 900}, locale: 'en-US', bypassCSP: true});
    t.after(() => context.close());
    const page = await guardedPage(context, t);

    await page.goto(`${server.baseUrl}/builds`);
    const row = page.locator(`tr[data-build="${triggered}"]`);
    await row.waitFor();
    assert.equal(await row.getByTestId('build-trigger').textContent(), 'started by hand: main @ 0123456');
    assert.equal(await row.getByTestId('build-extra-tags').textContent(), 'also tagged · 附加标签 latest');
    const other = page.locator(`tr[data-build="${plain}"]`);
    await other.waitFor();
    assert.equal(await other.getByTestId('build-trigger').count(), 0);
    assert.equal(await other.getByTestId('build-extra-tags').count(), 0);
    assert.equal(await page.locator('img').count(), 0);
    await assertAccessible(page, 'the builds view with a triggered build');

    await page.goto(`${server.baseUrl}/view/config/independent?projectName=app`);
    const history = page.locator(`tr[data-build-id="${triggered}"]`);
    await history.waitFor();
    assert.equal(await history.getByTestId('build-trigger').textContent(), 'started by hand: main @ 0123456');
    assert.match(await history.getByTestId('build-extra-tags').textContent(), /latest/);
    assert.equal(await page.locator(`tr[data-build-id="${plain}"] [data-testid="build-trigger"]`).count(), 0);
    assert.equal(await page.locator('img').count(), 0);
  });
});

describe('the build triggers section of /webhooks', () => {
  let context;

  before(async () => {
    context = await browser.newContext({viewport: {width: 1280, height: 900}, locale: 'en-US', bypassCSP: true});
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], {origin: server.baseUrl});
  });
  after(async () => { if (context) await context.close(); });

  test('create with the secret shown once, edit, start a build, disable, enable, delete',
       {timeout: 180000}, async (t) => {
    const page = await guardedPage(context, t);
    await page.goto(`${server.baseUrl}/webhooks?project=app`);
    await page.getByTestId('operator').fill(OPERATOR);
    await page.getByTestId('triggers-empty').waitFor();

    await page.getByTestId('trigger-new').click();
    await page.getByTestId('trigger-name').fill('github-main');
    await page.getByTestId('trigger-branches').fill('main');  // a regular expression
    await page.getByTestId('trigger-templates').fill('${short_sha}');
    await page.getByTestId('trigger-latest').check();
    await page.getByTestId('trigger-save').click();
    const secret = (await page.getByTestId('trigger-secret-value').textContent()).trim();
    assert.ok(secret.length >= 16, `a generated secret: ${secret}`);
    const list = await call('GET', '/api/triggers/list?project=app');
    const trigger = list.body.content.find((item) => item.name === 'github-main');
    assert.ok(trigger, 'the trigger was created');
    assert.equal(trigger.hasSecret, true);
    const row = page.locator(`tr[data-trigger="${trigger.id}"]`);
    await row.waitFor();
    assert.equal(await page.getByTestId(`trigger-url-${trigger.id}`).textContent(),
                 `${server.baseUrl}/api/trigger/${trigger.id}`);
    assert.match(await row.textContent(), /\$\{short_sha\}/);
    assert.match(await row.textContent(), /and latest/);
    await page.getByTestId('trigger-secret-copy').click();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
    await assertAccessible(page, 'the triggers section with a new secret');
    await page.reload();
    await row.waitFor();
    assert.equal((await page.content()).includes(secret), false, 'the secret is shown only once');

    // A second one of the same name is refused, the field named.
    await page.getByTestId('trigger-new').click();
    await page.getByTestId('trigger-name').fill('github-main');
    await page.getByTestId('trigger-save').click();
    const refused = page.locator('[data-testid="trigger-form-status"].error');
    await refused.waitFor();
    assert.match(await refused.textContent(), /\(100\d\d\)$/);
    await page.getByRole('button', {name: 'Cancel · 取消'}).first().click();

    await page.getByTestId(`trigger-edit-${trigger.id}`).click();
    await page.locator('#trigger-form-heading', {hasText: 'Edit the trigger github-main'}).waitFor();
    assert.equal(await page.getByTestId('trigger-name').inputValue(), 'github-main');
    assert.equal(await page.getByTestId('trigger-secret').inputValue(), '');
    await page.getByTestId('trigger-branches').fill('main|release/.*');
    await page.getByTestId('trigger-save').click();
    await page.locator('[data-testid="triggers-notice"]', {hasText: 'Saved the trigger github-main'}).waitFor();
    await row.getByText('main|release/.*').waitFor();
    const got = await call('GET', `/api/triggers/get?id=${trigger.id}`);
    assert.equal(got.body.content.hasSecret, true, 'the secret was kept');
    assert.equal(got.body.content.branches, 'main|release/.*');

    // Start by hand: the build, linked to the builds view, which says how it was started.
    await page.getByTestId(`trigger-start-${trigger.id}`).click();
    await page.getByTestId('trigger-start-ref').fill('main');
    await page.getByTestId('trigger-start-sha').fill(SHA);
    await page.getByTestId('trigger-start-submit').click();
    const started = page.getByTestId('trigger-started');
    await started.locator('a').first().waitFor();
    const buildId = await started.locator('[data-build]').first().getAttribute('data-build');
    await started.locator('a').first().click();
    await page.waitForURL(/\/builds\?project=app$/);
    const build = page.locator(`tr[data-build="${buildId}"]`);
    await build.waitFor();
    assert.equal(await build.getByTestId('build-trigger').textContent(), 'started by hand: main @ 0123456');
    await page.goBack();

    await page.getByTestId(`trigger-toggle-${trigger.id}`).click();
    await row.getByText('turned off by hand').waitFor();
    await page.getByTestId(`trigger-toggle-${trigger.id}`).click();
    await row.getByTestId('enabled-state').getByText(/^enabled/).waitFor();

    await page.getByTestId(`trigger-delete-${trigger.id}`).click();
    await page.getByTestId('trigger-delete-confirm').click();
    await row.waitFor({state: 'detached'});
    const after = await call('GET', '/api/triggers/list?project=app');
    assert.deepEqual(after.body.content, []);
  });
});

describe('what a trigger received', () => {
  test('signed requests are listed with their outcome and build; forged ones are not', {timeout: 120000},
       async (t) => {
    const made = await call('POST', '/api/triggers/new', {project: 'app', name: 'received', operator: OPERATOR,
                                                          secret: 'received-secret'});
    assert.equal(made.body.code, 10000, made.body.errMsg);
    const trigger = made.body.content;
    t.after(() => call('POST', '/api/triggers/delete', {id: trigger.id, operator: OPERATOR}));
    const hook = `${server.baseUrl}/api/trigger/${trigger.id}`;
    const post = (body, headers) => fetch(hook, {method: 'POST', body,
                                                 headers: {'Content-Type': 'application/json', ...headers}});
    const zen = JSON.stringify({zen: 'Design for failure.', hook_id: 7});
    const sign = (text) => 'sha256=' + createHmac('sha256', 'received-secret').update(text).digest('hex');
    assert.equal((await post(zen, {'X-GitHub-Event': 'ping', 'X-Hub-Signature-256': sign(zen),
                                   'X-GitHub-Delivery': 'gh-ping-1'})).status, 200);
    const push = JSON.stringify({ref: 'refs/heads/main', sha: SHA, deliveryId: 'generic-1'});
    const queued = await post(push, {Authorization: 'Bearer received-secret'});
    assert.equal(queued.status, 200);
    const buildId = (await queued.json()).content.build.id;
    assert.equal((await post(push, {Authorization: 'Bearer a-guess'})).status, 401);

    const context = await browser.newContext({viewport: {width: 1280, height: 900}, locale: 'en-US', bypassCSP: true});
    t.after(() => context.close());
    const page = await guardedPage(context, t);
    await page.goto(`${server.baseUrl}/webhooks?project=app`);
    await page.getByTestId(`trigger-received-${trigger.id}`).click();
    const rows = page.locator('[data-testid="trigger-deliveries"] tr');
    await rows.nth(1).waitFor();
    assert.equal(await rows.count(), 2, 'the forged request left no row');
    const newest = rows.nth(0);
    assert.equal(await newest.getAttribute('data-outcome'), 'queued');
    assert.match(await newest.textContent(), /generic push/);
    assert.match(await newest.textContent(), /refs\/heads\/main/);
    assert.equal(await newest.locator('a').textContent(), `#${buildId}`);
    const ping = rows.nth(1);
    assert.equal(await ping.getAttribute('data-outcome'), 'skipped');
    assert.match(await ping.textContent(), /github ping/);
    assert.match(await ping.textContent(), /gh-ping-1/);
    assert.match(await ping.textContent(), /ping: the trigger is reachable/);
    await assertAccessible(page, 'a trigger\'s received events');
    await newest.locator('a').click();
    await page.waitForURL(/\/builds\?project=app$/);
    await page.locator(`tr[data-build="${buildId}"]`).waitFor();
  });
});
