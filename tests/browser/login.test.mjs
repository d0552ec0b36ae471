// Browser test of the configuration page's sign-in: a real market-server with --auth on (a user
// made with `market-server user add`), driven through Debian's chromium. The sign-in is a
// session cookie the page cannot read; a reload stays signed in; sign-out ends it.
//   MARKET_SERVER_BIN  the market-server binary (required)
//   MARKET_CHROMIUM    the browser (default /usr/bin/chromium)
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';

import {ARTIFACTS, launchBrowser, makeDatabase, startServer} from './support.mjs';

let database;
let server;
let baseUrl;
let browser;

const basic = (user, password) => 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');

before(async () => {
  database = makeDatabase('market-login-');
  database.command(['user', 'add', 'dora', '--role', 'developer'], 'dora-password-1\n');
  server = await startServer('login', database, ['--auth', 'on']);
  baseUrl = server.baseUrl;
  const created = await fetch(`${baseUrl}/api/project/new`, {
    method: 'POST', body: JSON.stringify({projectName: 'secured'}),
    headers: {'Content-Type': 'application/json', Authorization: basic('dora', 'dora-password-1')}});
  assert.equal((await created.json()).code, 10000);
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
  if (database) database.remove();
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

  test('the session survives a reload in an HttpOnly SameSite=Strict cookie; nothing else is kept',
       {timeout: 120000}, async (t) => {
    const page = await openSecuredPage(t);
    await page.getByTestId('login-user').fill('dora');
    await page.getByTestId('login-password').fill('dora-password-1');
    await page.getByTestId('login-button').click();
    await page.locator('body[data-state="ready"]').waitFor();

    const cookies = await page.context().cookies(baseUrl);
    assert.equal(cookies.length, 1);
    assert.equal(cookies[0].name, 'market_session');
    assert.equal(cookies[0].httpOnly, true);
    assert.equal(cookies[0].sameSite, 'Strict');
    // Neither the page's scripts nor its storage hold the password or the session.
    const kept = await page.evaluate(() => ({
      cookie: document.cookie,
      stored: JSON.stringify({...sessionStorage}) + JSON.stringify({...localStorage}),
    }));
    assert.doesNotMatch(kept.cookie, /market_session/);
    assert.doesNotMatch(kept.stored, /dora-password-1|mks_|Basic /);

    await page.reload();
    await page.locator('body[data-state="ready"]').waitFor();
    assert.equal(await page.getByTestId('login-form').isHidden(), true);
    assert.equal(await page.getByTestId('operator').inputValue(), 'dora');

    // Signing out ends the session on the server, not only in this browser.
    const secret = cookies[0].value;
    const out = await page.evaluate(async () => (await fetch('/api/session/delete', {method: 'POST'})).status);
    assert.equal(out, 200);
    const replayed = await fetch(`${baseUrl}/api/whoami`, {headers: {Cookie: `market_session=${secret}`}});
    assert.equal(replayed.status, 401);
    await page.reload();
    await page.getByTestId('login-form').waitFor();
  });
});
