// Browser test of the project configuration page: a real market-server (SQLite in a temp folder)
// driven through Debian's chromium with playwright-core.
//   MARKET_SERVER_BIN  the market-server binary (required)
//   MARKET_CHROMIUM    the browser (default /usr/bin/chromium)
//   MARKET_TEST_REGISTRY  host:port of a plain-HTTP registry holding base/busybox:latest; when set,
//                      the build test runs a real build and follows its log; otherwise it checks
//                      that the page reports the missing registry.
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';

import {ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, assertAccessible, checkedPage, makeDatabase, sleep, startServer} from './support.mjs';
import {chromium} from 'playwright-core';

const REGISTRY = process.env.MARKET_TEST_REGISTRY || '';
const OPERATOR = 'browser-tester';
const BASE_IMAGE = `${REGISTRY || '127.0.0.1:5000'}/base/busybox:latest`;

let database;
let server;
let baseUrl;
let context;

// The API with the page's own encoding: form bodies for POST, the query string for GET.
async function api(method, apiPath, params, {json = false} = {}) {
  const init = {method, headers: {Accept: 'application/json'}};
  let url = `${baseUrl}${apiPath}`;
  if (method === 'GET') {
    url += '?' + new URLSearchParams(params).toString();
  } else if (json) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(params);
  } else {
    init.headers['Content-Type'] = 'application/x-www-form-urlencoded';
    init.body = new URLSearchParams(params).toString();
  }
  const response = await fetch(url, init);
  const body = await response.json();
  return {status: response.status, ...body};
}

async function createProject(name) {
  const answer = await api('POST', '/api/project/new', {projectName: name, operator: OPERATOR});
  assert.equal(answer.code, 10000, `create ${name}: ${answer.errMsg}`);
}

// A page that fails the test on any uncaught script error.
const openPage = (t) => checkedPage(context, t);

async function openConfig(page, name) {
  const response = await page.goto(`${baseUrl}/view/config/independent?projectName=${encodeURIComponent(name)}`);
  assert.equal(response.status(), 200);
  await page.locator('body[data-state="ready"]').waitFor();
}

const cards = (page) => page.getByTestId('plugin-card');

async function addPlugin(page, name) {
  await page.getByLabel('Add a plugin').selectOption(name);
  await page.getByTestId('add-plugin-button').click();
  return cards(page).last();
}

async function pipelineOrder(page) {
  return cards(page).evaluateAll((nodes) => nodes.map((node) => node.dataset.plugin));
}

// The preview once it settled on a rendering of the current form.
async function settledPreview(page) {
  const preview = page.getByTestId('dockerfile-preview');
  await page.locator('[data-testid="dockerfile-preview"][data-state="ok"]').waitFor();
  return preview.textContent();
}

const instructionLines = (text) => text.split('\n').map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));

before(async () => {
  database = makeDatabase('market-browser-');
  server = await startServer('config', database,
                             REGISTRY ? ['--registry', `http://${REGISTRY}`, '--registry-insecure'] : []);
  baseUrl = server.baseUrl;
  context = await chromium.launchPersistentContext(path.join(database.dir, 'chromium-profile'), {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS,
    viewport: {width: 1360, height: 900}, locale: 'en-US',
  });
});

after(async () => {
  if (context) await context.close();
  if (server) await server.stop();
  if (database) database.remove();
});

describe('configuration page', () => {
  test('composes a four-plugin pipeline, previews it, saves it and finds it again after a reload',
       {timeout: 120000}, async (t) => {
    const name = 'webapp';
    await createProject(name);
    const page = await openPage(t);
    await openConfig(page, name);

    await expectText(page.getByTestId('project-name'), name);
    assert.equal(await page.getByLabel('Cluster').inputValue(), 'default_cluster');
    assert.equal(await page.getByTestId('field-type').inputValue(), 'tool');
    assert.equal(await cards(page).count(), 0);
    await page.getByTestId('history-empty').waitFor();
    await page.getByLabel('Operator').fill(OPERATOR);

    const base = await addPlugin(page, 'base_image_choose_from_harbor');
    await base.locator('input').first().fill(BASE_IMAGE);

    const run = await addPlugin(page, 'run');
    await run.getByTestId('input-value').first().fill('echo hello');
    await run.getByTestId('add-row-value').click();
    // The new row has focus: the list grew by one and the user types into it.
    assert.equal(await run.getByTestId('input-value').count(), 2);
    await page.keyboard.type('echo "two words" > /greeting');

    const envSet = await addPlugin(page, 'env_set');
    await envSet.getByTestId('input-key').first().fill('GREETING');
    await envSet.getByTestId('input-value').first().fill('hello world');

    const expose = await addPlugin(page, 'expose');
    await expose.getByTestId('input-port').first().fill('8080');

    assert.deepEqual(await pipelineOrder(page),
                     ['base_image_choose_from_harbor', 'run', 'env_set', 'expose']);
    await page.getByTestId('dirty-indicator').waitFor();

    const preview = await settledPreview(page);
    const lines = instructionLines(preview);
    assert.deepEqual(lines.map((line) => line.split(' ')[0]), ['FROM', 'RUN', 'RUN', 'ENV', 'EXPOSE'], preview);
    assert.equal(lines[0], `FROM ${BASE_IMAGE}`);
    assert.equal(lines[1], 'RUN echo hello');
    assert.equal(lines[2], 'RUN echo "two words" > /greeting');
    assert.match(lines[3], /^ENV GREETING="?hello world"?$/);
    assert.equal(lines[4], 'EXPOSE 8080');
    await assertAccessible(page, 'the configuration page with four plugins');

    // Reorder: expose up above env_set, and the preview follows; then back down.
    await cards(page).nth(3).getByTestId('move-up').click();
    assert.deepEqual(await pipelineOrder(page),
                     ['base_image_choose_from_harbor', 'run', 'expose', 'env_set']);
    const reordered = instructionLines(await settledPreview(page));
    assert.deepEqual(reordered.slice(3).map((line) => line.split(' ')[0]), ['EXPOSE', 'ENV']);
    await cards(page).nth(2).getByTestId('move-down').click();
    assert.deepEqual(await pipelineOrder(page),
                     ['base_image_choose_from_harbor', 'run', 'env_set', 'expose']);

    // Add and remove a plugin: the pipeline is back to four entries.
    const workDir = await addPlugin(page, 'work_dir');
    await workDir.locator('input').first().fill('/srv');
    assert.ok((await settledPreview(page)).includes('WORKDIR /srv'));
    await workDir.getByTestId('remove-plugin').click();
    assert.equal(await cards(page).count(), 4);
    assert.equal(await settledPreview(page), preview);

    // An invalid value shows the server's message inline; fixing it clears the message.
    await expose.getByTestId('input-port').first().fill('80x');
    await page.locator('[data-testid="dockerfile-preview"][data-state="error"]').waitFor();
    assert.match(await page.getByTestId('preview-error').textContent(), /port/);
    await expose.getByTestId('input-port').first().fill('8080');
    assert.equal(await settledPreview(page), preview);
    assert.ok(await page.getByTestId('preview-error').isHidden());

    await page.getByTestId('save-button').click();
    await expectText(page.getByTestId('save-status'), /Saved/);
    assert.ok(await page.getByTestId('dirty-indicator').isHidden());

    // What the server stored is exactly the pipeline built in the page.
    const info = await api('GET', '/api/project/info', {projectName: name});
    assert.equal(info.code, 10000);
    assert.equal(info.content.lastModifyOperator, OPERATOR);
    assert.deepEqual(info.content.plugins, [
      {'$$plugin': 'base_image_choose_from_harbor', handleInput: BASE_IMAGE},
      {'$$plugin': 'run', value: ['echo hello', 'echo "two words" > /greeting']},
      {'$$plugin': 'env_set', key: ['GREETING'], value: ['hello world']},
      {'$$plugin': 'expose', port: ['8080']},
    ]);
    // The preview of the unsaved form is the Dockerfile the server renders from the saved one.
    const saved = await api('GET', '/api/project/dockerfile', {projectName: name});
    assert.equal(saved.code, 10000);
    assert.equal(saved.content, preview);

    await page.reload();
    await page.locator('body[data-state="ready"]').waitFor();
    assert.equal(await page.getByLabel('Operator').inputValue(), OPERATOR, 'operator remembered');
    assert.deepEqual(await pipelineOrder(page),
                     ['base_image_choose_from_harbor', 'run', 'env_set', 'expose']);
    assert.equal(await cards(page).nth(0).locator('input').first().inputValue(), BASE_IMAGE);
    const runValues = await cards(page).nth(1).getByTestId('input-value')
      .evaluateAll((inputs) => inputs.map((input) => input.value));
    assert.deepEqual(runValues, ['echo hello', 'echo "two words" > /greeting']);
    assert.equal(await cards(page).nth(2).getByTestId('input-key').inputValue(), 'GREETING');
    assert.equal(await cards(page).nth(2).getByTestId('input-value').inputValue(), 'hello world');
    assert.equal(await cards(page).nth(3).getByTestId('input-port').inputValue(), '8080');
    assert.equal(await settledPreview(page), preview);
    await expectText(page.locator('#fact-modify-operator'), OPERATOR);

    await screenshot(page, 'config_page.png');
  });

  test('an unknown project gets a 404 page without the editor', {timeout: 60000}, async (t) => {
    const page = await openPage(t);
    const response = await page.goto(`${baseUrl}/view/config/independent?projectName=nosuchproject`);
    assert.equal(response.status(), 404);
    await page.waitForLoadState('load');
    assert.match(await page.locator('body').innerText(), /not (exist|found)/i);
    assert.equal(await page.getByTestId('plugin-card').count(), 0);
    assert.ok(!(await page.locator('#editor').isVisible()));
    await page.screenshot({path: path.join(ARTIFACTS, 'unknown_project.png')});
  });

  test('the project\'s layer cache switch is read, changed and kept', {timeout: 60000}, async (t) => {
    await createProject('cachetoggle');
    const page = await openPage(t);
    await openConfig(page, 'cachetoggle');
    const box = page.getByTestId('layer-cache');
    await page.locator('[data-testid="layer-cache"]:not([disabled])').waitFor();
    assert.equal(await box.isChecked(), true);  // a project nobody set caches
    await page.getByTestId('operator').fill(OPERATOR);
    await box.uncheck();
    await expectText(page.getByTestId('layer-cache-status'), /Cache off/);
    const stored = await api('GET', '/api/project/buildSettings', {projectName: 'cachetoggle'});
    assert.equal(stored.content.layerCache, false);
    assert.equal(stored.content.operator, OPERATOR);
    await page.reload();
    await page.locator('[data-testid="layer-cache"]:not([disabled])').waitFor();
    assert.equal(await page.getByTestId('layer-cache').isChecked(), false);
    await assertAccessible(page, 'the configuration page with the cache switch');
  });

  test('a secret attribute is never shown and survives a save that does not touch it',
       {timeout: 90000}, async (t) => {
    const name = 'secretive';
    const secret = 'S3cret-Never-Shown-7f2a';
    const replacement = 'Other-Secret-9c41';
    await createProject(name);
    const source = {
      '$$plugin': 'download_executable_source', source_type: 'git',
      source_url: 'https://git.example.invalid/team/app.git', checkoutAs: 'app',
      username: 'builder', password: secret, containerPath: '/opt/app',
    };
    const stored = await api('POST', '/api/project/save', {
      project: name, Cluster: 'default_cluster', DefineDockerFileType: 'tool', addOrUpdate: 'update',
      operator: OPERATOR,
      '$$plugin': [{'$$plugin': 'base_image_choose_from_harbor', handleInput: BASE_IMAGE}, source],
    }, {json: true});
    assert.equal(stored.code, 10000, stored.errMsg);

    const page = await openPage(t);
    const bodies = [];
    page.on('response', (response) => {
      bodies.push(response.text().catch(() => ''));
    });
    await openConfig(page, name);
    await page.getByLabel('Operator').fill(OPERATOR);
    const card = cards(page).nth(1);
    const password = card.locator('input[type="password"]');
    assert.equal(await password.inputValue(), '');
    await expectText(card.getByTestId('secret-status'), /^set/);
    await settledPreview(page);

    // Saving without typing into the secret keeps it: the page sends the redaction marker,
    // which the server reads as "unchanged", and never the value.
    const saveRequest = page.waitForRequest((request) => request.url().endsWith('/api/project/save'));
    await page.getByTestId('save-button').click();
    const sent = new URLSearchParams((await saveRequest).postData());
    assert.deepEqual(sent.getAll('download_executable_source.password'), ['******']);
    await expectText(page.getByTestId('save-status'), /Saved/);
    await expectText(cards(page).nth(1).getByTestId('secret-status'), /^set/);
    const info = await api('GET', '/api/project/info', {projectName: name});
    assert.equal(info.content.plugins[1].password, '******');

    // Typing replaces it; the typed text is gone from the page once saved.
    await cards(page).nth(1).locator('input[type="password"]').fill(replacement);
    await expectText(cards(page).nth(1).getByTestId('secret-status'), /will change/);
    await page.getByTestId('save-button').click();
    await expectText(page.getByTestId('save-status'), /Saved/);
    await expectText(cards(page).nth(1).getByTestId('secret-status'), /^set/);
    assert.equal(await cards(page).nth(1).locator('input[type="password"]').inputValue(), '');

    const html = await page.content();
    const inputs = await page.locator('input, textarea').evaluateAll((nodes) => nodes.map((node) => node.value));
    for (const text of [secret, replacement]) {
      assert.ok(!html.includes(text), 'secret in the page markup');
      assert.ok(!inputs.some((value) => value.includes(text)), 'secret in a field');
      for (const body of await Promise.all(bodies)) assert.ok(!body.includes(text), 'secret in a response');
    }
  });

  test('build: starts a build with a tag and follows it, or reports why it cannot',
       {timeout: 300000}, async (t) => {
    const name = 'webapp';  // saved by the first test
    const page = await openPage(t);
    await openConfig(page, name);
    await page.getByLabel('Operator').fill(OPERATOR);
    await page.getByLabel('Tag').fill('bad tag!');
    await page.getByTestId('build-button').click();
    await expectText(page.getByTestId('build-status'), /Tag/);

    await page.getByLabel('Tag').fill('browser-1');
    await page.getByTestId('build-button').click();
    if (!REGISTRY) {
      await expectText(page.getByTestId('build-status'), /Build not started: .*registry/i);
      t.diagnostic('MARKET_TEST_REGISTRY unset: checked the page reports the missing registry');
      return;
    }
    await expectText(page.getByTestId('build-status'), /queued/);
    const row = page.getByTestId('build-row').first();
    await expectText(row.locator('td').nth(1), 'browser-1');
    await page.locator('[data-testid="build-log"][data-state="done"]').waitFor({timeout: 240000});
    await page.locator('[data-testid="build-row"][data-state="succeeded"]').first().waitFor({timeout: 30000});
    const log = await page.getByTestId('build-log').textContent();
    assert.match(log, /two words|hello/);
    await assertAccessible(page, 'the configuration page with a finished build and its log');

    // The pull command of the newest build, copied as shown.
    const image = await row.locator('td.image code').textContent();
    assert.equal(await page.getByTestId('pull-text').textContent(), `docker pull ${image}`);
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], {origin: baseUrl});
    await page.getByTestId('copy-pull').click();
    await expectText(page.getByTestId('copy-pull'), /^Copied/);
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), `docker pull ${image}`);
    await screenshot(page, 'build.png');

    // Five more builds make a second page of history (five a page, newest first).
    for (let i = 2; i <= 6; ++i) {
      const built = await api('POST', '/api/project/build', {projectName: name, operator: OPERATOR, tag: `browser-${i}`});
      assert.equal(built.code, 10000, built.errMsg);
    }
    await page.reload();
    await page.locator('body[data-state="ready"]').waitFor();
    await expectText(page.getByTestId('history-page'), /^Page 1 of 2/, 240000);
    await page.locator('[data-testid="build-row"][data-state="succeeded"] td:nth-child(2)', {hasText: 'browser-6'})
      .waitFor({timeout: 240000});
    assert.equal(await page.getByTestId('history-newer').isDisabled(), true);
    await page.getByTestId('history-older').click();
    await expectText(page.getByTestId('history-page'), /^Page 2 of 2/);
    assert.deepEqual(await page.getByTestId('build-row').locator('td:nth-child(2)').allTextContents(), ['browser-1']);
    await page.getByTestId('history-newer').click();
    await expectText(page.getByTestId('history-page'), /^Page 1 of 2/);
    assert.equal((await page.getByTestId('build-row').count()), 5);
  });
});

// The whole page in one viewport, so that the sticky save bar sits where a reader expects it
// instead of where a stitched full-page capture would leave it.
async function screenshot(page, file) {
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  const {width} = page.viewportSize();
  await page.setViewportSize({width, height: Math.min(Math.max(height, 600), 4000)});
  await page.screenshot({path: path.join(ARTIFACTS, file)});
}

// Waits until the element's text matches (a string is an exact match after trimming).
async function expectText(locator, expected, timeout = 20000) {
  const deadline = Date.now() + timeout;
  let text = '';
  while (Date.now() < deadline) {
    text = ((await locator.textContent({timeout})) || '').trim();
    if (typeof expected === 'string' ? text === expected : expected.test(text)) return;
    await sleep(100);
  }
  assert.fail(`text ${JSON.stringify(text)} did not become ${expected}`);
}
