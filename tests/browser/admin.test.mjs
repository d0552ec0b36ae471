// Browser test of the console's admin pages with authentication on: an admin signs in, adds a
// user (the server's refusal shown inline first), changes its role, creates an API token that is
// shown once and works, revokes it, and finds both in the audit log by its filters; a viewer
// sees no admin links and is told why on the page itself. axe-core checks every view.
//   MARKET_SERVER_BIN  the market-server binary (required)
//   MARKET_CHROMIUM    the browser (default /usr/bin/chromium)
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import {ARTIFACTS, assertAccessible, checkedPage, launchBrowser, makeDatabase,
  startServer} from './support.mjs';

let database;
let server;
let browser;

before(async () => {
  database = makeDatabase('market-admin-');
  database.command(['user', 'add', 'ada', '--role', 'admin'], 'ada-password-1\n');
  server = await startServer('admin', database, ['--auth', 'on']);
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
  if (database) database.remove();
});

async function signIn(page, user, password) {
  await page.goto(`${server.baseUrl}/`);
  await page.getByTestId('login-form').waitFor();
  await page.getByTestId('login-user').fill(user);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-button').click();
  await page.locator('body[data-state="ready"]').waitFor();
}

const whoamiWith = async (token) =>
  fetch(`${server.baseUrl}/api/whoami`, {headers: {Authorization: `Bearer ${token}`}});

describe('the admin pages', () => {
  test('an admin adds a user, makes and revokes a token, and finds both in the audit',
       {timeout: 180000}, async (t) => {
    const context = await browser.newContext({viewport: {width: 1280, height: 900}, locale: 'en-US',
                                              bypassCSP: true});
    t.after(() => context.close());
    const page = await checkedPage(context, t);
    await page.goto(`${server.baseUrl}/`);
    await page.getByTestId('login-form').waitFor();
    await assertAccessible(page, 'the sign-in page');
    await page.screenshot({path: path.join(ARTIFACTS, 'console-sign-in.png')});
    await signIn(page, 'ada', 'ada-password-1');
    assert.equal(await page.getByTestId('signed-in-user').textContent(), 'ada · admin');

    // Users: the server's refusal inline, then the user, then a new role.
    await page.getByTestId('nav-users').click();
    await page.locator('[data-testid="users"] tr[data-user="ada"]').waitFor();
    assert.equal(await page.getByTestId('role-ada').isDisabled(), true, 'an admin cannot demote itself');
    assert.match(await page.getByTestId('delete-ada').getAttribute('title'), /another admin can/);
    await page.getByTestId('user-name').fill('tess');
    await page.getByTestId('user-role').selectOption('developer');
    await page.getByTestId('user-password').fill('tess-password-1');
    await page.getByTestId('user-name').fill('tess smith');
    await page.getByRole('button', {name: /Add user/}).click();
    await page.locator('[data-testid="user-add-status"].error').waitFor();
    assert.match(await page.getByTestId('user-add-status').textContent(), /name.*\(10006\)/);
    await page.getByTestId('user-name').fill('tess');
    await page.getByTestId('user-password').fill('tess-password-1');
    await page.getByRole('button', {name: /Add user/}).click();
    await page.locator('[data-testid="users"] tr[data-user="tess"]').waitFor();
    assert.equal(await page.getByTestId('user-password').inputValue(), '', 'the password is not kept');
    await page.getByTestId('role-tess').selectOption('viewer');
    await page.locator('[data-testid="users-notice"].ok').waitFor();
    assert.equal(await page.getByTestId('role-tess').inputValue(), 'viewer');
    await assertAccessible(page, 'the users view');
    await page.screenshot({path: path.join(ARTIFACTS, 'console-users.png')});

    // Tokens: shown once, working, then revoked.
    await page.getByTestId('nav-tokens').click();
    await page.getByTestId('tokens-empty').waitFor();
    await page.getByTestId('token-user').fill('tess');
    await page.getByTestId('token-label').fill('ci');
    await page.getByRole('button', {name: /Create token/}).click();
    const token = (await page.getByTestId('token-secret').textContent()).trim();
    assert.match(token, /^mkt_[A-Za-z0-9_-]{43}$/);
    assert.equal((await (await whoamiWith(token)).json()).content.name, 'tess');
    await page.locator('[data-testid="tokens"] tr').first().waitFor();
    await assertAccessible(page, 'the tokens view with a new token');
    await page.screenshot({path: path.join(ARTIFACTS, 'console-tokens.png')});
    const id = await page.locator('[data-testid="tokens"] tr').first().getAttribute('data-token');
    await page.getByTestId(`revoke-${id}`).click();
    await page.getByTestId('revoke-confirm').click();
    await page.locator('[data-testid="tokens-notice"].ok').waitFor();
    assert.equal((await whoamiWith(token)).status, 401);
    await page.reload();
    await page.locator(`[data-testid="tokens"] tr[data-token="${id}"]`).waitFor();
    assert.equal((await page.content()).includes(token), false, 'the token is shown only once');
    assert.match(await page.locator(`tr[data-token="${id}"]`).textContent(), /revoked/);

    // Audit: by action, then by a time range with nothing in it.
    await page.getByTestId('nav-audit').click();
    await page.locator('[data-testid="audit-entries"] tr').first().waitFor();
    await page.getByTestId('audit-action').fill('token.revoke');
    await page.getByRole('button', {name: /Filter/}).click();
    await page.waitForURL(/action=token\.revoke/);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="audit-entries"] tr').length === 1);
    const entry = page.locator('[data-testid="audit-entries"] tr').first();
    assert.equal(await entry.getAttribute('data-action'), 'token.revoke');
    assert.match(await entry.textContent(), /ada/);
    await entry.locator('summary').click();
    assert.match(await entry.textContent(), /"revoked": true/);
    await assertAccessible(page, 'the audit view');
    await page.screenshot({path: path.join(ARTIFACTS, 'console-audit.png')});
    await page.getByTestId('audit-action').fill('');
    await page.getByTestId('audit-since').fill('2099-01-01T00:00');
    await page.getByRole('button', {name: /Filter/}).click();
    await page.getByTestId('audit-empty').waitFor();
    assert.match(page.url(), /since=2099-01-01T/);

    // None of the secrets this test handled reached the server's log.
    const log = fs.readFileSync(server.log, 'utf8');
    for (const secret of [token, 'mks_', 'ada-password-1', 'tess-password-1']) {
      assert.equal(log.includes(secret), false, `the server log holds ${secret.slice(0, 8)}…`);
    }
  });

  test('a viewer sees no admin links, and the admin pages say why', {timeout: 120000}, async (t) => {
    const context = await browser.newContext({viewport: {width: 390, height: 844}, locale: 'zh-CN',
                                              bypassCSP: true});
    t.after(() => context.close());
    const page = await checkedPage(context, t);
    database.command(['user', 'add', 'vic', '--role', 'viewer'], 'vic-password-1\n');
    await signIn(page, 'vic', 'vic-password-1');
    for (const link of ['nav-users', 'nav-tokens', 'nav-audit']) {
      assert.equal(await page.getByTestId(link).isHidden(), true, link);
    }
    await page.goto(`${server.baseUrl}/admin/users`);
    await page.locator('[data-testid="users-notice"].error').waitFor();
    assert.match(await page.getByTestId('users-notice').textContent(), /Needs the admin role; you are viewer/);
    assert.equal(await page.getByTestId('user-add').count(), 0);
    await assertAccessible(page, 'the users view of a viewer at phone width');
  });
});
