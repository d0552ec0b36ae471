// Browser test of the console (/ and /builds): a real market-server driven through Debian's
// chromium. Without authentication: the empty state, New with the server's error inline, paging,
// search kept in the address, Clone, Delete confirmed by typing the name, Open and the way back,
// the latest build of a project, the builds view with a failed build's log. With
// MARKET_TEST_REGISTRY (a registry holding base/busybox:latest): a real build cancelled from
// /builds while its log is followed, and a succeeded one's digest copied. With authentication:
// the sign-in form, a viewer who cannot create or delete (each control says why), sign-out, an
// admin who can. axe-core checks each view for WCAG 2 A/AA violations.
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';

import {ARTIFACTS, assertAccessible, checkedPage, launchBrowser, makeDatabase, openRegistryRow, startServer} from './support.mjs';

const OPERATOR = 'console-tester';
const REGISTRY = process.env.MARKET_TEST_REGISTRY || '';

let browser;
const cleanups = [];

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function serverWith(name, args, setUp) {
  const database = makeDatabase(`market-console-${name}-`);
  if (setUp) setUp(database);
  const server = await startServer(`console-${name}`, database, args);
  cleanups.push(() => server.stop(), () => database.remove());
  return server;
}

async function post(server, apiPath, params, headers = {}) {
  const response = await fetch(`${server.baseUrl}${apiPath}`, {
    method: 'POST', body: JSON.stringify(params),
    headers: {'Content-Type': 'application/json', ...headers}});
  return response.json();
}

const rowNames = (page) => page.locator('[data-testid="projects-body"] tr')
  .evaluateAll((rows) => rows.map((row) => row.dataset.project));

describe('the projects view without authentication', () => {
  let server;
  let context;

  before(async () => {
    // Builds fail at once (nothing listens on port 9) but are real build records.
    server = await serverWith('open', ['--registry', 'http://127.0.0.1:9', '--registry-insecure',
      '--build-isolation', 'chroot']);
    context = await browser.newContext({viewport: {width: 1280, height: 900}, locale: 'en-US'});
  });
  after(async () => { if (context) await context.close(); });

  test('empty, then a new project with an error shown inline first', {timeout: 120000}, async (t) => {
    const page = await checkedPage(context, t);
    const response = await page.goto(`${server.baseUrl}/`);
    assert.equal(response.status(), 200);
    await page.locator('body[data-state="ready"]').waitFor();
    const empty = page.getByTestId('projects-empty');
    await empty.waitFor();
    assert.match(await empty.textContent(), /No projects yet/);
    assert.equal(await page.getByTestId('projects-table').isHidden(), true);
    await assertAccessible(page, 'the empty projects view');

    await page.getByTestId('operator').fill(OPERATOR);
    await page.getByTestId('new-project').click();
    await page.getByTestId('new-name').fill('Bad*Name');
    await page.getByTestId('new-create').click();
    const status = page.locator('[data-testid="new-status"].error');
    await status.waitFor();
    assert.match(await status.textContent(), /special char: \* \(10006\)/);
    assert.equal(await page.getByTestId('new-form').isVisible(), true);
    await assertAccessible(page, 'the new-project form with an error');

    await page.getByTestId('new-name').fill('shop-web');
    await page.getByTestId('new-cluster').fill('team');
    await page.getByTestId('new-type').selectOption('edit');
    await page.getByTestId('new-create').click();
    await page.locator('tr[data-project="shop-web"]').waitFor();
    assert.equal(await page.getByTestId('new-form').isHidden(), true);
    const cells = await page.locator('tr[data-project="shop-web"] td').allTextContents();
    assert.equal(cells[1], 'team');
    assert.equal(cells[2], 'edit');
    assert.match(cells[4], new RegExp(OPERATOR));
    await page.locator('[data-testid="latest-shop-web"]', {hasText: 'Never built'}).waitFor();
  });

  test('pages of twenty, a search kept across reloads, and the latest build', {timeout: 120000},
       async (t) => {
    for (let i = 0; i < 25; ++i) {
      const name = `bulk-${String(i).padStart(2, '0')}`;
      assert.equal((await post(server, '/api/project/new', {projectName: name, operator: OPERATOR})).code, 10000);
    }
    const page = await checkedPage(context, t);
    await page.goto(`${server.baseUrl}/`);
    await page.locator('tr[data-project="bulk-00"]').waitFor();
    assert.match(await page.getByTestId('projects-count').textContent(), /^26 projects/);
    assert.equal((await rowNames(page)).length, 20);
    assert.equal(await page.getByTestId('page-previous').isDisabled(), true);
    await page.getByTestId('page-next').click();
    await page.locator('tr[data-project="shop-web"]').waitFor();
    assert.deepEqual(await rowNames(page), ['bulk-20', 'bulk-21', 'bulk-22', 'bulk-23', 'bulk-24', 'shop-web']);
    assert.equal(await page.getByTestId('page-next').isDisabled(), true);
    await page.getByTestId('page-previous').click();
    await page.locator('tr[data-project="bulk-00"]').waitFor();

    // The search is the API's literal substring filter; the address keeps it.
    await page.getByTestId('project-search').fill('p-w');
    await page.waitForURL(/\?q=p-w$/);
    await page.locator('[data-testid="projects-count"]', {hasText: '1 matching'}).waitFor();
    assert.deepEqual(await rowNames(page), ['shop-web']);
    await page.reload();
    await page.locator('[data-testid="projects-count"]', {hasText: '1 matching'}).waitFor();
    assert.equal(await page.getByTestId('project-search').inputValue(), 'p-w');
    await page.getByTestId('project-search').fill('nothing-like-it');
    await page.locator('[data-testid="projects-empty"]', {hasText: 'No project name contains'}).waitFor();

    // A build of bulk-03 (it fails: the registry is not there) shows as its latest build.
    const saved = await post(server, '/api/project/save', {project: 'bulk-03', operator: OPERATOR,
      $$plugin: [{$$plugin: 'base_image_choose_from_harbor', handleInput: '127.0.0.1:9/base/busybox:latest'}]});
    assert.equal(saved.code, 10000, saved.errMsg);
    const built = await post(server, '/api/project/build', {projectName: 'bulk-03', operator: OPERATOR, tag: 'v1'});
    assert.equal(built.code, 10000, built.errMsg);
    await page.getByTestId('project-search').fill('bulk-03');
    const latest = page.getByTestId('latest-bulk-03');
    await latest.locator('code', {hasText: 'v1'}).waitFor();
    assert.match(await latest.locator('.badge').textContent(), /^(queued|running|failed)$/);
    assert.equal(await latest.locator('time').count(), 1);
    await assertAccessible(page, 'the projects view with a build');
  });

  test('clone, a refused clone, delete confirmed by typing, open and back', {timeout: 120000},
       async (t) => {
    const page = await checkedPage(context, t);
    await page.goto(`${server.baseUrl}/?q=shop`);
    await page.locator('tr[data-project="shop-web"]').waitFor();

    await page.getByTestId('clone-shop-web').click();
    const dialog = page.getByTestId('project-dialog');
    await dialog.waitFor();
    assert.equal(await page.getByTestId('clone-target').inputValue(), 'shop-web-copy');
    await assertAccessible(page, 'the clone dialog');
    await page.getByTestId('dialog-submit').click();
    await page.locator('tr[data-project="shop-web-copy"]').waitFor();
    assert.equal(await dialog.isHidden(), true);
    assert.match(await page.getByTestId('projects-notice').textContent(), /Cloned shop-web to shop-web-copy/);

    await page.getByTestId('clone-shop-web').click();
    await page.getByTestId('dialog-submit').click();  // shop-web-copy exists now
    const refused = page.locator('[data-testid="dialog-status"].error');
    await refused.waitFor();
    assert.match(await refused.textContent(), /\(10001\)$/);
    await page.keyboard.press('Escape');
    await dialog.waitFor({state: 'hidden'});

    await page.getByTestId('delete-shop-web-copy').click();
    const confirm = page.getByTestId('dialog-submit');
    assert.equal(await confirm.isDisabled(), true);
    await page.getByTestId('delete-confirm').fill('shop-web');
    assert.equal(await confirm.isDisabled(), true);
    await page.getByTestId('delete-confirm').fill('shop-web-copy');
    assert.equal(await confirm.isEnabled(), true);
    await confirm.click();
    await page.locator('tr[data-project="shop-web-copy"]').waitFor({state: 'detached'});
    assert.deepEqual(await rowNames(page), ['shop-web']);

    await page.getByTestId('open-shop-web').click();
    await page.locator('body[data-state="ready"]').waitFor();
    assert.equal(await page.getByTestId('project-name').textContent(), 'shop-web');
    await page.getByTestId('home-link').click();
    await page.locator('tr[data-project="bulk-00"]').waitFor();  // the first page, unfiltered
  });

  test('the builds view: the failed build, its log, a filter', {timeout: 120000}, async (t) => {
    const page = await checkedPage(context, t);
    await page.goto(`${server.baseUrl}/`);
    await page.getByTestId('nav-builds').click();
    await page.waitForURL(/\/builds$/);
    assert.equal(await page.getByTestId('nav-builds').getAttribute('aria-current'), 'page');
    // bulk-03's build ends soon after it starts (nothing listens on port 9); the view refreshes.
    const row = page.locator('[data-testid="finished-builds"] tr[data-state="failed"]');
    await row.waitFor({timeout: 60000});
    const cells = await row.locator('td').allTextContents();
    assert.equal(cells[1], 'bulk-03');
    assert.equal(cells[2], 'v1');
    assert.equal(cells[6], OPERATOR);
    assert.equal(await page.getByTestId('active-empty').isVisible(), true);
    await assertAccessible(page, 'the builds view');

    const id = await row.getAttribute('data-build');
    await page.getByTestId('log-' + id).click();
    await page.locator('[data-testid="builds-log"][data-state="done"]').waitFor();
    assert.ok((await page.getByTestId('builds-log').textContent()).length > 0);
    assert.match(await page.getByTestId('builds-log-state').textContent(), /end of log/);

    await page.getByTestId('filter-project').fill('shop-web');
    await page.getByTestId('filter-project').press('Enter');
    await page.waitForURL(/\/builds\?project=shop-web$/);
    await page.getByTestId('finished-empty').waitFor();
    await page.goBack();
    await page.locator('[data-testid="latest-bulk-03"] .badge').waitFor();  // back on the projects view
    await page.screenshot({path: path.join(ARTIFACTS, 'console-projects.png')});
  });
});

describe('the builds view with a real registry', {skip: !REGISTRY && 'MARKET_TEST_REGISTRY is not set'}, () => {
  let server;
  let context;

  before(async () => {
    server = await serverWith('builds', ['--registry', `http://${REGISTRY}`, '--registry-insecure']);
    context = await browser.newContext({viewport: {width: 1280, height: 900}, locale: 'en-US'});
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], {origin: server.baseUrl});
  });
  after(async () => { if (context) await context.close(); });

  async function buildOf(name, command) {
    const saved = await post(server, '/api/project/save', {project: name, operator: OPERATOR, $$plugin: [
      {$$plugin: 'base_image_choose_from_harbor', handleInput: `${REGISTRY}/base/busybox:latest`},
      {$$plugin: 'run', value: [command]}]});
    assert.equal(saved.code, 10000, saved.errMsg);
    const built = await post(server, '/api/project/build', {projectName: name, operator: OPERATOR, tag: 'v1'});
    assert.equal(built.code, 10000, built.errMsg);
    return built.content.idStr;
  }

  test('a running build is followed and cancelled; a succeeded one\'s digest is copied',
       {timeout: 300000}, async (t) => {
    const page = await checkedPage(context, t);
    // The log line, not the Dockerfile's text of it: started-42 only once the RUN step runs.
    const sleeper = await buildOf('sleeper', 'echo started-$((6*7)) && sleep 120');
    await page.goto(`${server.baseUrl}/builds`);
    await page.getByTestId('operator').fill(OPERATOR);  // what the cancel is recorded under
    const running = page.locator(`[data-testid="active-builds"] tr[data-build="${sleeper}"][data-state="running"]`);
    await running.waitFor({timeout: 120000});
    await page.getByTestId('log-' + sleeper).click();
    await page.locator('[data-testid="builds-log"]', {hasText: 'started-42'}).waitFor({timeout: 120000});
    assert.equal(await page.getByTestId('builds-log').getAttribute('data-state'), 'following');
    await page.getByTestId('cancel-' + sleeper).click();
    await page.locator('[data-testid="builds-notice"]', {hasText: `Cancel of build ${sleeper} requested`}).waitFor();
    await page.locator(`[data-testid="finished-builds"] tr[data-build="${sleeper}"][data-state="cancelled"]`)
      .waitFor({timeout: 60000});
    await page.locator('[data-testid="builds-log"][data-state="done"]').waitFor({timeout: 60000});

    const quick = await buildOf('quick', 'true');
    const done = page.locator(`[data-testid="finished-builds"] tr[data-build="${quick}"][data-state="succeeded"]`);
    await done.waitFor({timeout: 180000});
    const digest = await done.locator('.digest code').textContent();
    assert.match(digest, /^sha256:[0-9a-f]{64}$/);
    await done.getByRole('button', {name: `Copy · 复制 the digest of build ${quick}`}).click();
    await done.getByText('Copied').waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), digest);
    await assertAccessible(page, 'the builds view with finished builds');
    await page.screenshot({path: path.join(ARTIFACTS, 'console-builds.png')});

    // The registry view: the project, its repository, the tag the build pushed.
    await page.getByTestId('nav-registry').click();
    await openRegistryRow(page, 'default_cluster');
    await openRegistryRow(page, 'default_cluster/quick');
    const tag = page.locator('[data-testid="registry-body"] tr[data-tag="v1"]');
    await tag.waitFor();
    assert.equal(await tag.locator('code.digest').textContent(), digest);
    await tag.getByTestId('pull-v1').click();
    await tag.getByText('Copied').waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()),
                 `docker pull ${REGISTRY}/default_cluster/quick:v1`);
    await tag.getByTestId('manifest-v1').click();
    assert.match(await page.getByTestId('manifest-json').textContent(), /"schemaVersion": 2/);
    assert.match(await page.getByTestId('config-json').textContent(), /"architecture"/);
    await assertAccessible(page, 'the registry view with a manifest');

    // v2 names the same image (pushed with the registry's own API): each row says so, and a
    // delete is refused until forced, since it deletes the image both names point at.
    await tagSameImage('default_cluster/quick', 'v1', 'v2');
    await page.reload();
    await page.getByTestId('shares-v2').waitFor();
    assert.match(await page.getByTestId('shares-v1').textContent(), /same image as v2/);
    await page.screenshot({path: path.join(ARTIFACTS, 'console-registry.png')});
    await page.getByTestId('delete-tag-v2').click();
    assert.match(await page.getByTestId('tag-shared-warning').textContent(), /v1 points at the same image/);
    await assertAccessible(page, 'the tag delete dialog');
    await page.getByTestId('tag-delete').click();
    const refused = page.locator('[data-testid="tag-dialog-status"].error');
    await refused.waitFor();
    assert.match(await refused.textContent(), /\(10016\)$/);
    await page.getByTestId('tag-force').check();
    await page.getByTestId('tag-delete').click();
    await page.locator('[data-testid="registry-status"]', {hasText: 'Deleted default_cluster/quick:v2'}).waitFor();
    await page.locator('[data-testid="registry-body"] tr[data-tag="v2"]').waitFor({state: 'detached'});
    assert.match(await page.getByTestId('registry-crumbs').textContent(), /Registry · 仓库 › default_cluster › default_cluster\/quick/);
  });
});

// Tags `to` as the image `from` names, through the registry's HTTP API (what a second push of
// the same image does).
async function tagSameImage(repository, from, to) {
  const accept = ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json',
    'application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json'].join(', ');
  const got = await fetch(`http://${REGISTRY}/v2/${repository}/manifests/${from}`, {headers: {Accept: accept}});
  assert.equal(got.status, 200);
  const body = Buffer.from(await got.arrayBuffer());
  const put = await fetch(`http://${REGISTRY}/v2/${repository}/manifests/${to}`, {
    method: 'PUT', body, headers: {'Content-Type': got.headers.get('content-type')}});
  assert.equal(put.status, 201, await put.text());
}

describe('the projects view with authentication', () => {
  let server;

  before(async () => {
    server = await serverWith('auth', ['--auth', 'on'], (database) => {
      database.command(['user', 'add', 'vera', '--role', 'viewer'], 'vera-password-1\n');
      database.command(['user', 'add', 'ada', '--role', 'admin'], 'ada-password-1\n');
    });
    const basic = 'Basic ' + Buffer.from('ada:ada-password-1').toString('base64');
    assert.equal((await post(server, '/api/project/new', {projectName: 'guarded'},
                             {Authorization: basic})).code, 10000);
  });

  async function signIn(page, user, password) {
    await page.getByTestId('login-form').waitFor();
    await page.getByTestId('login-user').fill(user);
    await page.getByTestId('login-password').fill(password);
    await page.getByTestId('login-button').click();
    await page.locator('tr[data-project="guarded"]').waitFor();
  }

  test('a viewer sees why they cannot change anything, signs out; an admin can delete',
       {timeout: 120000}, async (t) => {
    const context = await browser.newContext({viewport: {width: 390, height: 844}, locale: 'zh-CN'});
    t.after(() => context.close());
    const page = await checkedPage(context, t);
    let nativeChallenge = false;
    page.on('response', (response) => {
      if ((response.headers()['www-authenticate'] || '').startsWith('Basic')) nativeChallenge = true;
    });
    await page.goto(`${server.baseUrl}/`);
    await page.getByTestId('login-form').waitFor();
    await assertAccessible(page, 'the sign-in form');
    await signIn(page, 'vera', 'vera-password-1');
    assert.equal(await page.getByTestId('signed-in-user').textContent(), 'vera · viewer');
    assert.equal(await page.getByTestId('operator').isHidden(), true);
    for (const control of ['new-project', 'clone-guarded', 'delete-guarded']) {
      const button = page.getByTestId(control);
      assert.equal(await button.isDisabled(), true, control);
      assert.match(await button.getAttribute('title'), /^Needs the (developer|admin) role; you are viewer/);
    }
    await assertAccessible(page, 'the projects view of a viewer at phone width');

    await page.getByTestId('sign-out').click();
    await page.getByTestId('login-form').waitFor();
    await signIn(page, 'ada', 'ada-password-1');
    assert.equal(await page.getByTestId('delete-guarded').isEnabled(), true);
    await page.getByTestId('delete-guarded').click();
    await page.getByTestId('delete-confirm').fill('guarded');
    await page.getByTestId('dialog-submit').click();
    await page.getByTestId('projects-empty').waitFor();
    assert.equal(nativeChallenge, false, 'a response asked the browser for Basic credentials');
  });
});
