// Browser test of the console's Webhooks view (/webhooks) against a real market-server and a real
// receiver on loopback (allowed by webhook-allow-networks): a refused policy with the field named,
// create, edit that keeps the write-only secret (the receiver checks the signature), a test event
// shown as delivered, the deliveries and an attempt's headers and answer, redelivery with the same
// webhook-id, a failing receiver's failures in a row and the policy the server disabled, enable and
// disable, delete confirmed, and hostile text (a receiver's answer, a policy name) shown as text.
// With authentication on: a viewer is told why, a developer sees no global policies.
//   MARKET_SERVER_BIN  the market-server binary (required)
//   MARKET_CHROMIUM    the browser (default /usr/bin/chromium)
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import path from 'node:path';

import {ARTIFACTS, assertAccessible, guardedPage, launchBrowser, makeDatabase,
  startServer} from './support.mjs';

const OPERATOR = 'hook-tester';
const SECRET = 's3cret-for-ci';
const HOSTILE = '<img src=x onerror=alert(1)>';

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
  const database = makeDatabase(`market-webhooks-${name}-`);
  if (setUp) setUp(database);
  const server = await startServer(`webhooks-${name}`, database, args);
  cleanups.push(() => server.stop(), () => database.remove());
  return server;
}

// A receiver on loopback: /ok answers 200 with hostile text in a header and the body, /gone
// answers 404. Every request is kept with its raw body.
async function startReceiver() {
  const requests = [];
  const server = http.createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      requests.push({path: request.url, headers: request.headers, body: Buffer.concat(chunks)});
      if (request.url === '/ok') {
        response.writeHead(200, {'Content-Type': 'text/plain', 'X-Receiver-Note': HOSTILE});
        response.end(`${HOSTILE} got it`);
      } else {
        response.writeHead(404, {'Content-Type': 'text/plain'});
        response.end('no such hook');
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return {url: `http://127.0.0.1:${server.address().port}`, requests};
}

async function call(server, method, apiPath, params, headers = {}) {
  const response = await fetch(`${server.baseUrl}${apiPath}`, method === 'GET' ? {headers} : {
    method, body: JSON.stringify(params), headers: {'Content-Type': 'application/json', ...headers}});
  return response.json();
}

async function policyNamed(server, project, name) {
  const answer = await call(server, 'GET', `/api/webhooks/list?project=${project}`);
  assert.equal(answer.code, 10000, answer.errMsg);
  return answer.content.find((policy) => policy.name === name);
}

const noImages = async (page) => assert.equal(await page.locator('img').count(), 0, 'an <img> was inserted');

describe('the webhooks view without authentication', () => {
  let server;
  let receiver;
  let context;

  before(async () => {
    receiver = await startReceiver();
    server = await serverWith('open', ['--webhook-allow-networks', '127.0.0.0/8', '--webhook-disable-after', '2']);
    assert.equal((await call(server, 'POST', '/api/project/new', {projectName: 'shop', operator: OPERATOR})).code, 10000);
    // bypassCSP: axe needs it, and hostile text that became markup would run rather than be blocked.
    context = await browser.newContext({viewport: {width: 1280, height: 900}, locale: 'en-US', bypassCSP: true});
  });
  after(async () => { if (context) await context.close(); });

  test('create with the field named on refusal, edit keeping the secret, a test event delivered, ' +
       'its attempt, redelivery', {timeout: 180000}, async (t) => {
    const page = await guardedPage(context, t);
    await page.goto(`${server.baseUrl}/`);
    await page.locator('body[data-state="ready"]').waitFor();
    await page.getByTestId('operator').fill(OPERATOR);
    await page.getByTestId('nav-webhooks').click();
    await page.waitForURL(/\/webhooks$/);
    assert.equal(await page.getByTestId('nav-webhooks').getAttribute('aria-current'), 'page');
    await page.getByTestId('webhook-choose').waitFor();
    await page.getByTestId('webhooks-project').fill('shop');
    await page.getByRole('button', {name: /^Show/}).click();
    await page.waitForURL(/\/webhooks\?project=shop$/);
    await page.getByTestId('webhook-policies-empty').waitFor();

    // Refusals name the field and mark it.
    await page.getByTestId('webhook-new').click();
    await page.getByTestId('webhook-name').fill('hook' + HOSTILE);
    await page.getByTestId('webhook-url').fill(`${receiver.url}/ok`);
    await page.getByTestId('webhook-event-build.succeeded').check();
    await page.getByTestId('webhook-save').click();
    const status = page.locator('[data-testid="webhook-form-status"].error');
    await status.waitFor();
    assert.match(await status.textContent(), /^Name: name may hold letters, digits.*\(10006\)$/);
    assert.equal(await page.getByTestId('webhook-name').getAttribute('aria-invalid'), 'true');
    await noImages(page);
    await page.getByTestId('webhook-name').fill('ci');
    await page.getByTestId('webhook-event-build.succeeded').uncheck();
    await page.getByTestId('webhook-save').click();
    await page.locator('[data-testid="webhook-form-status"]', {hasText: 'Events: events must name at least one'}).waitFor();
    assert.equal(await page.getByTestId('webhook-events').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.getByTestId('webhook-name').getAttribute('aria-invalid'), null);
    await assertAccessible(page, 'the policy form with a refusal');

    await page.getByTestId('webhook-event-build.succeeded').check();
    await page.getByTestId('webhook-event-tag.pushed').check();
    await page.getByTestId('webhook-tag').fill('v*');
    await page.getByTestId('webhook-secret').fill(SECRET);
    await page.getByTestId('webhook-save').click();
    await page.locator('[data-testid="webhooks-notice"]', {hasText: 'Created the policy ci'}).waitFor();
    assert.equal(await page.getByTestId('webhook-form').isHidden(), true);
    const created = await policyNamed(server, 'shop', 'ci');
    assert.deepEqual(created.events, ['build.succeeded', 'tag.pushed']);
    assert.equal(created.hasSecret, true);
    const row = page.locator(`tr[data-policy="${created.id}"]`);
    await row.waitFor();
    assert.match(await row.textContent(), /signed/);
    assert.match(await row.textContent(), /tag · 标签 v\*/);
    assert.match(await row.getByTestId('enabled-state').textContent(), /^enabled/);

    // Edit: the secret field starts empty and, left so, keeps the secret.
    assert.equal(await page.getByTestId('webhook-secret').inputValue(), '', 'the typed secret is kept');
    await page.getByTestId(`webhook-edit-${created.id}`).click();
    await page.locator('#webhook-form-heading', {hasText: 'Edit the policy ci'}).waitFor();
    assert.equal(await page.getByTestId('webhook-name').inputValue(), 'ci');
    assert.equal(await page.getByTestId('webhook-secret').inputValue(), '');
    assert.match(await page.getByTestId('webhook-secret').getAttribute('placeholder'), /leave empty to keep/);
    assert.equal(await page.getByTestId('webhook-event-tag.pushed').isChecked(), true);
    assert.equal((await page.content()).includes(SECRET), false, 'the secret is on the page');
    await page.getByTestId('webhook-tag').fill('');
    await page.getByTestId('webhook-event-build.failed').check();
    await page.getByTestId('webhook-format').selectOption('cloudevents');
    await page.getByTestId('webhook-save').click();
    await page.locator('[data-testid="webhooks-notice"]', {hasText: 'Saved the policy ci'}).waitFor();
    const edited = await policyNamed(server, 'shop', 'ci');
    assert.deepEqual(edited.events, ['build.succeeded', 'build.failed', 'tag.pushed']);
    assert.equal(edited.tag, '');
    assert.equal(edited.format, 'cloudevents');
    assert.equal(edited.hasSecret, true);
    await row.locator('text=format cloudevents').waitFor();

    // A test event: delivered, signed with the secret that was kept.
    await page.getByTestId(`webhook-test-${created.id}`).click();
    const tested = page.locator('[data-testid="webhook-test-status"].ok');
    await tested.waitFor();
    assert.match(await tested.textContent(), /^Test event delivered to ci: HTTP 200 in \d+ ms/);
    assert.equal(receiver.requests.length, 1);
    const first = receiver.requests[0];
    assert.equal(first.headers['x-market-event'], 'webhook.test');
    assert.equal(first.headers['content-type'], 'application/cloudevents+json');
    const signature = 'sha256=' + crypto.createHmac('sha256', SECRET).update(first.body).digest('hex');
    assert.equal(first.headers['x-market-signature-256'], signature);

    // Its delivery and attempt: status, duration, headers, the receiver's answer as text.
    await page.getByTestId('webhook-test-open').click();
    const delivered = page.locator('[data-testid="webhook-deliveries"] tr[data-state="delivered"]');
    await delivered.waitFor();
    const cells = await delivered.locator('td').allTextContents();
    assert.equal(cells[1], 'webhook.test');
    assert.equal(cells[3], '1');
    assert.equal(cells[4], 'HTTP 200');
    const deliveryId = await delivered.getAttribute('data-delivery');
    await page.locator(`[data-testid="delivery-panel"][data-delivery="${deliveryId}"]`).waitFor();
    const attempt = page.locator('[data-testid="delivery-attempts"] tr[data-attempt="1"]');
    await attempt.waitFor();
    const attemptCells = await attempt.locator('td').allTextContents();
    assert.equal(attemptCells[3], 'HTTP 200');
    assert.match(attemptCells[2], /^\d+ ms$/);
    await attempt.locator('summary').click();
    const requestHeaders = await page.getByTestId('attempt-request-headers-1').textContent();
    assert.match(requestHeaders, /X-Market-Event: webhook\.test/);
    assert.match(requestHeaders, /X-Market-Signature-256: \(removed\)/);
    assert.match(await page.getByTestId('attempt-response-headers-1').textContent(),
                 new RegExp(`X-Receiver-Note: ${HOSTILE.replace(/[()]/g, '\\$&')}`, 'i'));
    assert.equal(await page.getByTestId('attempt-excerpt-1').textContent(), `${HOSTILE} got it`);
    assert.match(await page.getByTestId('delivery-body').textContent(), /"type": "io\.imagemarket\.webhook\.test"/);
    await noImages(page);
    await assertAccessible(page, 'the deliveries and an attempt');
    await page.screenshot({path: path.join(ARTIFACTS, 'console-webhooks.png'), fullPage: true});

    // Redelivery: a new delivery repeating the first, with the same webhook-id.
    await page.getByTestId('delivery-redeliver').click();
    const queued = page.locator('[data-testid="deliveries-notice"].ok');
    await queued.waitFor();
    const again = /queued again as delivery (\d+)/.exec(await queued.textContent())[1];
    const repeat = page.locator(`[data-testid="webhook-deliveries"] tr[data-delivery="${again}"]`);
    await repeat.waitFor();
    assert.match(await repeat.textContent(), new RegExp(`repeats ${deliveryId}`));
    await page.locator(`[data-testid="webhook-deliveries"] tr[data-delivery="${again}"][data-state="delivered"]`)
      .waitFor({timeout: 30000});
    await page.locator(`[data-testid="delivery-panel"][data-delivery="${again}"]`).waitFor();
    assert.equal(receiver.requests.length, 2);
    assert.equal(receiver.requests[1].headers['webhook-id'], first.headers['webhook-id']);
    assert.notEqual(receiver.requests[1].headers['x-market-delivery'], first.headers['x-market-delivery']);

    // The address keeps the project, policy and delivery: a reload shows them again.
    assert.match(page.url(), new RegExp(`\\?project=shop&policy=${created.id}&delivery=${again}$`));
    await page.reload();
    await page.locator(`[data-testid="delivery-panel"][data-delivery="${again}"]`).waitFor();
    await page.locator(`[data-testid="webhook-deliveries"] tr[data-delivery="${deliveryId}"]`).waitFor();
  });

  test('failures in a row, a policy the server disabled, enable, disable, delete confirmed',
       {timeout: 120000}, async (t) => {
    const answer = await call(server, 'POST', '/api/webhooks/new', {project: 'shop', name: 'gone',
      url: `${receiver.url}/gone`, events: ['project.created'], operator: OPERATOR});
    assert.equal(answer.code, 10000, answer.errMsg);
    const id = answer.content.id;
    const page = await guardedPage(context, t);
    await page.goto(`${server.baseUrl}/webhooks?project=shop`);
    await page.getByTestId('operator').fill(OPERATOR);
    const row = page.locator(`tr[data-policy="${id}"]`);
    const state = row.getByTestId('enabled-state');
    await row.waitFor();
    assert.match(await row.textContent(), /unsigned/);

    await page.getByTestId(`webhook-test-${id}`).click();
    const failed = page.locator('[data-testid="webhook-test-status"].error');
    await failed.waitFor();
    assert.match(await failed.textContent(), /^Test event to gone failed: the receiver answered 404/);
    await state.getByText('1 failed in a row').waitFor();
    assert.match(await state.textContent(), /^enabled/);

    await page.getByTestId(`webhook-test-${id}`).click();
    await state.getByText('disabled after 2 failed deliveries in a row; the last: the receiver answered 404').waitFor();
    assert.match(await state.textContent(), /^disabled · 已停用/);
    assert.match(await state.textContent(), /2 failed in a row/);
    await assertAccessible(page, 'a policy the server disabled');

    await page.getByTestId(`webhook-toggle-${id}`).click();
    await page.locator('[data-testid="webhooks-notice"]', {hasText: 'Enabled the policy gone'}).waitFor();
    await state.getByText(/^enabled/).waitFor();
    assert.doesNotMatch(await state.textContent(), /failed in a row/);
    await page.getByTestId(`webhook-toggle-${id}`).click();
    await state.getByText('turned off by hand').waitFor();

    await page.getByTestId(`webhook-delete-${id}`).click();
    const dialog = page.getByTestId('webhooks-dialog');
    await dialog.waitFor();
    assert.match(await dialog.textContent(), /Delete the webhook policy gone\?/);
    await assertAccessible(page, 'the delete dialog');
    await page.keyboard.press('Escape');
    await dialog.waitFor({state: 'hidden'});
    assert.ok(await policyNamed(server, 'shop', 'gone'), 'cancelled, yet deleted');
    await page.getByTestId(`webhook-delete-${id}`).click();
    await page.getByTestId('webhook-delete-confirm').click();
    await row.waitFor({state: 'detached'});
    assert.match(await page.getByTestId('webhooks-notice').textContent(), /Deleted the policy gone/);
    assert.equal(await policyNamed(server, 'shop', 'gone'), undefined);
  });

  test('a policy name with markup is shown as text', {timeout: 60000}, async (t) => {
    // The server refuses such names today (see the first test); a name from an older rule or
    // another writer must still show as text. The real list's answer is rewritten to hold one.
    const policy = await policyNamed(server, 'shop', 'ci');
    const page = await guardedPage(context, t);
    await page.route(/\/api\/webhooks\/list\?project=shop$/, async (route) => {
      const response = await route.fetch();
      const json = await response.json();
      for (const item of json.content) if (item.id === policy.id) item.name = HOSTILE;
      await route.fulfill({response, json});
    });
    await page.goto(`${server.baseUrl}/webhooks?project=shop`);
    const name = page.locator(`tr[data-policy="${policy.id}"] strong.name`);
    await name.waitFor();
    assert.equal(await name.textContent(), HOSTILE);
    assert.equal(await page.getByTestId(`webhook-deliveries-${policy.id}`).getAttribute('aria-label'),
                 `Deliveries · 投递记录: ${HOSTILE}`);
    await page.getByTestId(`webhook-deliveries-${policy.id}`).click();
    await page.locator('#deliveries-heading', {hasText: `Deliveries of ${HOSTILE}`}).waitFor();
    await page.getByTestId(`webhook-delete-${policy.id}`).click();
    await page.locator('#dialog-title', {hasText: `Delete the webhook policy ${HOSTILE}?`}).waitFor();
    await page.keyboard.press('Escape');
    await noImages(page);
  });

  test('admins see the global policies and may create one', {timeout: 60000}, async (t) => {
    const page = await guardedPage(context, t);
    await page.goto(`${server.baseUrl}/webhooks`);
    await page.getByTestId('operator').fill(OPERATOR);
    await page.getByTestId('webhook-choose').waitFor();
    await page.getByTestId('webhook-new').click();
    assert.deepEqual(await page.getByTestId('webhook-scope').locator('option').evaluateAll(
      (options) => options.map((option) => option.value)), ['']);
    await page.getByTestId('webhook-name').fill('inventory');
    await page.getByTestId('webhook-url').fill(`${receiver.url}/ok`);
    await page.getByTestId('webhook-event-project.deleted').check();
    await page.getByTestId('webhook-save').click();
    const row = page.locator('[data-testid="webhook-global-policies"] tr', {hasText: 'inventory'});
    await row.waitFor();
    const global = await call(server, 'GET', '/api/webhooks/list');
    assert.deepEqual(global.content.map((item) => [item.name, item.project]), [['inventory', '']]);
  });
});

describe('the webhooks view with authentication', () => {
  let server;

  before(async () => {
    server = await serverWith('auth', ['--auth', 'on', '--webhook-allow-networks', '127.0.0.0/8'], (database) => {
      database.command(['user', 'add', 'vic', '--role', 'viewer'], 'vic-password-1\n');
      database.command(['user', 'add', 'dev', '--role', 'developer'], 'dev-password-1\n');
      database.command(['user', 'add', 'ada', '--role', 'admin'], 'ada-password-1\n');
    });
    const basic = {Authorization: 'Basic ' + Buffer.from('ada:ada-password-1').toString('base64')};
    assert.equal((await call(server, 'POST', '/api/project/new', {projectName: 'shop'}, basic)).code, 10000);
    const global = await call(server, 'POST', '/api/webhooks/new', {name: 'everything', url: 'https://hooks.example.com/x',
      events: ['project.created']}, basic);
    assert.equal(global.code, 10000, global.errMsg);
  });

  async function signIn(page, user, password) {
    await page.goto(`${server.baseUrl}/webhooks?project=shop`);
    await page.getByTestId('login-form').waitFor();
    await page.getByTestId('login-user').fill(user);
    await page.getByTestId('login-password').fill(password);
    await page.getByTestId('login-button').click();
    await page.locator('body[data-state="ready"]').waitFor();
  }

  test('a viewer is told why; a developer sees the project but not the global policies',
       {timeout: 120000}, async (t) => {
    const context = await browser.newContext({viewport: {width: 390, height: 844}, locale: 'zh-CN', bypassCSP: true});
    t.after(() => context.close());
    const page = await guardedPage(context, t);
    await signIn(page, 'vic', 'vic-password-1');
    await page.locator('[data-testid="webhooks-notice"].error').waitFor();
    assert.match(await page.getByTestId('webhooks-notice').textContent(), /Needs the developer role; you are viewer/);
    assert.equal(await page.getByTestId('nav-webhooks').isHidden(), true);
    assert.equal(await page.getByTestId('webhooks-chooser').count(), 0);
    await assertAccessible(page, 'the webhooks view of a viewer at phone width');

    await page.getByTestId('sign-out').click();
    await page.waitForURL(`${server.baseUrl}/`);  // the sign-out's own navigation, before ours
    await page.getByTestId('login-form').waitFor();
    await signIn(page, 'dev', 'dev-password-1');
    await page.getByTestId('webhook-policies-empty').waitFor();
    assert.equal(await page.getByTestId('nav-webhooks').isVisible(), true);
    assert.equal(await page.getByTestId('webhook-global-policies').isHidden(), true);
    await page.getByTestId('webhook-new').click();
    assert.deepEqual(await page.getByTestId('webhook-scope').locator('option').evaluateAll(
      (options) => options.map((option) => option.value)), ['shop']);
    await page.getByTestId('webhook-name').fill('deploy');
    await page.getByTestId('webhook-url').fill('https://ci.example.com/hooks/market');
    await page.getByTestId('webhook-event-build.succeeded').check();
    await page.getByTestId('webhook-save').click();
    await page.locator('[data-testid="webhook-policies"] tr', {hasText: 'deploy'}).waitFor();
    assert.equal((await page.locator('[data-testid="webhook-policies"] tr', {hasText: 'deploy'}).textContent())
      .includes('https://ci.example.com/hooks/market'), true);
    await assertAccessible(page, 'the webhooks view of a developer at phone width');
  });
});
