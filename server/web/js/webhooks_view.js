// The Webhooks view (/webhooks, developers): a project's webhook policies, and for admins the
// global ones, with create, edit, enable and disable, delete and a test event; a policy's
// deliveries, a delivery's attempts and redelivery. The project's build triggers
// (triggers_section.js) and its base-image rebuilds (base_rebuild_section.js) follow. The
// secret is write-only: the API answers only whether one is set.
import {api, describe, ok, q} from './api.js';
import {bilingual, byId, checkbox, el, enabledState, formDialog, labelled, say, showRefusal, statusLine,
  textInput, timeNode, withProgress} from './dom.js';
import {baseRebuildSection} from './base_rebuild_section.js';
import {triggersSection} from './triggers_section.js';

// The types a policy may subscribe to (webhook.test is sent by the test button only).
const EVENTS = ['build.queued', 'build.started', 'build.succeeded', 'build.failed', 'build.cancelled',
  'tag.pushed', 'tag.deleted', 'project.created', 'project.deleted', 'retention.run'];
const DELIVERY_PAGE = 20;
const REFRESH_MS = 3000;
// A test event normally goes within a second; past this the result says it still waits.
const TEST_WAIT_MS = 30000;
const TEST_POLL_MS = 500;
const SUGGEST_DELAY_MS = 250;

const DELIVERY_BADGE = {delivered: 'state-succeeded', failed: 'state-failed', pending: 'state-running'};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function headersText(headers) {
  if (!headers || typeof headers !== 'object') return String(headers || '');
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
  return lines.length ? lines.join('\n') : '(none)';
}

function prettyBody(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch (_) {
    return String(text || '');
  }
}

const tableOf = (caption, heads, testid) => {
  const body = el('tbody', {dataset: {testid}});
  const table = el('table', {},
    el('caption', {class: 'visually-hidden'}, caption),
    el('thead', {}, el('tr', {}, ...heads.map(([en, zh]) => el('th', {scope: 'col'}, ...(zh ? bilingual(en, zh) : [en]))),
                         el('th', {scope: 'col'}, el('span', {class: 'visually-hidden'}, 'Actions')))),
    body);
  return {table, body};
};

// session: {can(role) -> '' or the reason it cannot, operator() -> the name changes record}.
export function webhooksView(session) {
  return {
    title: 'Webhooks',
    render(container, params, navigate) {
      const state = {project: (params.get('project') || '').trim().toLowerCase(), admin: false,
                     policy: null, before: '', newer: [], delivery: null, editing: null,
                     seq: 0, timer: 0, suggestTimer: 0, stopped: false};
      const notice = statusLine('webhooks-notice');
      const progress = el('span', {class: 'status', hidden: true}, 'Loading… 加载中…');
      const section = el('section', {class: 'card', 'aria-labelledby': 'webhooks-heading'},
        el('h2', {id: 'webhooks-heading'}, ...bilingual('Webhooks', '网络钩子'), ' ', progress),
        el('p', {class: 'help'}, 'Image Market POSTs an event to a policy’s URL when a build, a tag or a ' +
           'project changes; each try is recorded below. · 构建、标签或项目变化时向策略的 URL 发送事件。'),
        notice);
      const dialog = el('dialog', {class: 'card dialog', dataset: {testid: 'webhooks-dialog'}});
      container.append(section);

      // ---- the project chooser ----

      const projectInput = textInput('webhooks-project', {value: state.project, list: 'webhooks-projects',
                                                          placeholder: 'project name · 项目名'});
      const projectList = el('datalist', {id: 'webhooks-projects'});
      const chooser = el('form', {class: 'toolbar filters', dataset: {testid: 'webhooks-chooser'}},
        labelled('webhooks-project', 'Project', '项目', projectInput), projectList,
        el('button', {type: 'submit'}, 'Show · 显示'));

      // Names as the user types, from the project list's substring filter.
      projectInput.addEventListener('input', () => {
        clearTimeout(state.suggestTimer);
        state.suggestTimer = setTimeout(async () => {
          const typed = projectInput.value.trim();
          const answer = await api('GET', '/api/project/list?' + q({projectName: typed, page_size: 20}));
          if (state.stopped || !ok(answer) || !Array.isArray(answer.content)) return;
          projectList.replaceChildren(...answer.content.map((project) => el('option', {value: project.name})));
        }, SUGGEST_DELAY_MS);
      });

      function remember() {
        const query = {};
        if (state.project) query.project = state.project;
        if (state.policy) query.policy = state.policy.id;
        if (state.delivery) query.delivery = state.delivery;
        navigate('/webhooks' + (Object.keys(query).length ? '?' + q(query) : ''), {replace: true, render: false});
      }

      chooser.addEventListener('submit', (event) => {
        event.preventDefault();
        state.project = projectInput.value.trim().toLowerCase();
        closeDeliveries();
        closeForm();
        remember();
        loadPolicies();
        triggers.show(state.project);
        rebuilds.show(state.project);
      });

      // ---- the policies ----

      const newButton = el('button', {type: 'button', class: 'primary', dataset: {testid: 'webhook-new'}},
                           'New policy · 新建策略');
      const heads = [['Name', '名称'], ['Target', '目标'], ['Events and filters', '事件与过滤'], ['State', '状态']];
      const mine = tableOf('Webhook policies of the project', heads, 'webhook-policies');
      const mineHeading = el('h3', {id: 'project-policies-heading'});
      const mineEmpty = el('p', {class: 'empty', dataset: {testid: 'webhook-policies-empty'}, hidden: true});
      const choose = el('p', {class: 'empty', dataset: {testid: 'webhook-choose'}, hidden: true},
                        'Choose a project to see its webhooks and build triggers. · 请选择一个项目。');
      const global = tableOf('Global webhook policies', heads, 'webhook-global-policies');
      const globalEmpty = el('p', {class: 'empty', hidden: true},
                             'No global policies. · 没有全局策略。');
      const globalPart = el('div', {hidden: true},
        el('h3', {}, ...bilingual('Global policies: every project’s events', '全局策略：所有项目的事件')),
        el('div', {class: 'table-wrap'}, global.table), globalEmpty);
      const testStatus = statusLine('webhook-test-status');
      const testOpen = el('button', {type: 'button', class: 'link', hidden: true,
                                     dataset: {testid: 'webhook-test-open'}}, 'Show the delivery · 查看投递');
      const form = policyForm();

      function policyRow(policy) {
        const id = policy.id;
        const action = (testid, text, onclick, extra = {}) =>
          el('button', {type: 'button', class: 'link', dataset: {testid: `${testid}-${id}`},
                        'aria-label': `${text}: ${policy.name}`, onclick, ...extra}, text);
        const filters = [];
        if (policy.repository) filters.push(el('div', {class: 'muted'}, 'repository · 仓库 ', el('code', {}, policy.repository)));
        if (policy.tag) filters.push(el('div', {class: 'muted'}, 'tag · 标签 ', el('code', {}, policy.tag)));
        return el('tr', {dataset: {policy: id}},
          el('td', {}, el('strong', {class: 'name'}, policy.name),
             el('div', {class: 'muted'}, policy.hasSecret ? 'signed · 已签名' : 'unsigned · 未签名')),
          el('td', {class: 'url'}, el('code', {}, policy.url),
             el('div', {class: 'muted'}, `format ${policy.format} · 格式`)),
          el('td', {}, el('div', {}, ...(policy.events || []).flatMap((type, i) => [i ? ', ' : '', el('code', {}, type)])),
             ...filters),
          el('td', {}, enabledState(policy)),
          el('td', {class: 'actions-cell wrap'},
             action('webhook-edit', 'Edit · 编辑', () => editPolicy(id)),
             action('webhook-toggle', policy.enabled ? 'Disable · 停用' : 'Enable · 启用', () => toggle(policy)),
             action('webhook-test', 'Send test event · 发送测试', () => sendTest(policy)),
             action('webhook-deliveries', 'Deliveries · 投递记录', () => openDeliveries(policy)),
             action('webhook-delete', 'Delete · 删除', () => deletePolicy(policy), {class: 'link danger'})));
      }

      async function loadPolicies() {
        const seq = ++state.seq;
        const [own, all] = await withProgress(progress, Promise.all([
          state.project ? api('GET', '/api/webhooks/list?' + q({project: state.project})) : null,
          state.admin ? api('GET', '/api/webhooks/list') : null]));
        if (state.stopped || seq !== state.seq) return;
        if (notice.classList.contains('error')) say(notice, '');
        choose.hidden = Boolean(state.project);
        for (const node of [mineHeading, mine.table]) node.hidden = !state.project;
        mineEmpty.hidden = true;
        if (own) {
          mineHeading.replaceChildren(...bilingual(`Policies of ${state.project}`, '项目策略'));
          if (!ok(own)) {
            say(notice, `Could not list the webhooks of ${state.project}: ${describe(own)}`, 'error');
            mine.body.replaceChildren();
          } else {
            mine.body.replaceChildren(...own.content.map(policyRow));
            mine.table.hidden = own.content.length === 0;
            mineEmpty.hidden = own.content.length !== 0;
            mineEmpty.textContent = `${state.project} has no webhooks yet: create one with New policy. · 该项目还没有策略。`;
          }
        }
        globalPart.hidden = !all;
        if (all) {
          if (!ok(all)) {
            say(notice, 'Could not list the global webhooks: ' + describe(all), 'error');
          } else {
            global.body.replaceChildren(...all.content.map(policyRow));
            global.table.hidden = all.content.length === 0;
            globalEmpty.hidden = all.content.length !== 0;
          }
        }
        newButton.disabled = !state.project && !state.admin;
        newButton.title = newButton.disabled ? 'Choose a project first. · 请先选择项目。' : '';
      }

      // ---- create and edit ----

      function policyForm() {
        const controls = {
          project: el('select', {id: 'webhook-scope', dataset: {testid: 'webhook-scope'}}),
          name: textInput('webhook-name', {required: true, maxlength: 64, placeholder: 'ci-deploy'}),
          url: textInput('webhook-url', {type: 'url', required: true, placeholder: 'https://ci.example.com/hooks/market'}),
          events: el('fieldset', {class: 'checks', id: 'webhook-events', dataset: {testid: 'webhook-events'}},
                     el('legend', {}, ...bilingual('Events', '事件')),
                     el('div', {class: 'options'}, ...EVENTS.map((type) =>
                       checkbox(`webhook-event-${type}`, [type], {value: type, name: 'events'}).node))),
          repository: textInput('webhook-repository', {placeholder: 'default_cluster/*'}),
          tag: textInput('webhook-tag', {placeholder: 'v*'}),
          format: el('select', {id: 'webhook-format', dataset: {testid: 'webhook-format'}},
                     el('option', {value: 'default'}, 'default: the event as JSON · 默认'),
                     el('option', {value: 'cloudevents'}, 'cloudevents: CloudEvents 1.0')),
          secret: textInput('webhook-secret', {type: 'password', autocomplete: 'new-password', maxlength: 256}),
          operator: byId('operator'),
        };
        const secretHelp = el('p', {class: 'help', id: 'webhook-secret-help'});
        controls.secret.setAttribute('aria-describedby', 'webhook-secret-help');
        const removeSecret = checkbox('webhook-secret-remove', ['Remove the secret: send unsigned · 移除密钥']);
        const enabled = checkbox('webhook-enabled', ['Enabled · 启用']);
        const heading = el('h3', {id: 'webhook-form-heading'});
        const status = statusLine('webhook-form-status');
        const scopeField = labelled('webhook-scope', 'Scope', '范围', controls.project);
        const node = el('form', {class: 'new-project', dataset: {testid: 'webhook-form'}, hidden: true,
                                 'aria-labelledby': 'webhook-form-heading'},
          heading,
          el('div', {class: 'fields'},
             scopeField,
             labelled('webhook-name', 'Name', '名称', controls.name),
             labelled('webhook-url', 'URL', '地址', controls.url),
             labelled('webhook-format', 'Format', '格式', controls.format)),
          controls.events,
          el('div', {class: 'fields'},
             el('div', {}, labelled('webhook-repository', 'Repository glob', '仓库匹配', controls.repository),
                el('p', {class: 'help'}, '<Cluster>/<project>; empty: any · 留空表示全部')),
             el('div', {}, labelled('webhook-tag', 'Tag glob', '标签匹配', controls.tag),
                el('p', {class: 'help'}, '* any run, ? one character; empty: any · 留空表示全部')),
             el('div', {}, labelled('webhook-secret', 'Secret', '密钥', controls.secret), secretHelp,
                removeSecret.node)),
          enabled.node,
          el('div', {class: 'row'},
             el('button', {type: 'submit', class: 'primary', dataset: {testid: 'webhook-save'}}, 'Save · 保存'),
             el('button', {type: 'button', onclick: closeForm}, 'Cancel · 取消'), status));
        removeSecret.input.addEventListener('change', () => {
          controls.secret.disabled = removeSecret.input.checked;
          if (removeSecret.input.checked) controls.secret.value = '';
        });

        node.addEventListener('submit', async (event) => {
          event.preventDefault();
          const editing = state.editing;
          const body = {
            name: controls.name.value.trim(), url: controls.url.value.trim(),
            events: [...controls.events.querySelectorAll('input:checked')].map((input) => input.value),
            repository: controls.repository.value.trim(), tag: controls.tag.value.trim(),
            format: controls.format.value, enabled: enabled.input.checked, operator: session.operator()};
          // Write-only: an empty field keeps the secret; only the checkbox removes it.
          if (controls.secret.value) body.secret = controls.secret.value;
          else if (editing && removeSecret.input.checked) body.secret = '';
          if (editing) body.id = editing.id;
          else if (controls.project.value) body.project = controls.project.value;
          say(status, 'Saving… 保存中…');
          const answer = await api('POST', editing ? '/api/webhooks/update' : '/api/webhooks/new', body);
          if (!ok(answer)) {
            showRefusal(status, answer, controls);
            return;
          }
          const policy = answer.content;
          say(notice, `${editing ? 'Saved' : 'Created'} the policy ${policy.name}. · 已保存。`, 'ok');
          closeForm();
          loadPolicies();
          if (state.policy && state.policy.id === policy.id) state.policy = policy;
        });

        // `policy`: the one to edit, or null for a new one.
        function open(policy) {
          state.editing = policy;
          node.reset();
          for (const control of Object.values(controls)) control.removeAttribute('aria-invalid');
          say(status, '');
          heading.replaceChildren(...(policy ? bilingual(`Edit the policy ${policy.name}`, '编辑策略')
                                              : bilingual('New webhook policy', '新建策略')));
          scopeField.hidden = Boolean(policy);
          const scopes = [];
          if (state.project) scopes.push(el('option', {value: state.project}, `the project ${state.project} · 项目`));
          if (state.admin) scopes.push(el('option', {value: ''}, 'global: every project · 全局'));
          controls.project.replaceChildren(...scopes);
          controls.name.value = policy ? policy.name : '';
          controls.url.value = policy ? policy.url : '';
          for (const input of controls.events.querySelectorAll('input')) {
            input.checked = policy ? (policy.events || []).includes(input.value) : false;
          }
          controls.repository.value = policy ? policy.repository : '';
          controls.tag.value = policy ? policy.tag : '';
          controls.format.value = policy ? policy.format : 'default';
          controls.secret.value = '';
          controls.secret.disabled = false;
          controls.secret.placeholder = policy && policy.hasSecret ? 'leave empty to keep · 留空则保留' : 'optional · 可选';
          secretHelp.textContent = policy && policy.hasSecret
            ? 'A secret is set; it is never shown. Leave empty to keep it. · 已设置密钥，不会显示；留空则保留。'
            : 'Signs every delivery (HMAC-SHA256); empty: unsigned. Never shown again. · 用于签名；保存后不再显示。';
          removeSecret.node.hidden = !(policy && policy.hasSecret);
          removeSecret.input.checked = false;
          enabled.input.checked = policy ? policy.enabled : true;
          node.hidden = false;
          controls.name.focus();
        }
        // Emptied as it closes: a typed secret stays nowhere on the page.
        return {node, open, close() { node.reset(); node.hidden = true; state.editing = null; }};
      }

      function closeForm() {
        form.close();
      }

      newButton.addEventListener('click', () => form.open(null));

      async function editPolicy(id) {
        const answer = await api('GET', '/api/webhooks/get?' + q({id}));
        if (!ok(answer)) {
          say(notice, `Could not read policy ${id}: ${describe(answer)}`, 'error');
          return;
        }
        form.open(answer.content);
      }

      async function toggle(policy) {
        const answer = await api('POST', '/api/webhooks/update',
                                 {id: policy.id, enabled: !policy.enabled, operator: session.operator()});
        if (ok(answer)) {
          say(notice, `${answer.content.enabled ? 'Enabled' : 'Disabled'} the policy ${policy.name}. · ` +
              (answer.content.enabled ? '已启用。' : '已停用。'), 'ok');
        } else {
          say(notice, `Could not change the policy ${policy.name}: ${describe(answer)}`, 'error');
        }
        loadPolicies();
      }

      function deletePolicy(policy) {
        formDialog(dialog, {
          title: `Delete the webhook policy ${policy.name}? · 删除策略？`,
          fields: [el('p', {class: 'help'}, 'Its deliveries go with it; pending ones are never sent. · ' +
                      '其投递记录一并删除，未发送的不再发送。')],
          submitText: 'Delete · 删除',
          submitAttrs: {class: 'primary danger', dataset: {testid: 'webhook-delete-confirm'}},
          act: () => api('POST', '/api/webhooks/delete', {id: policy.id, operator: session.operator()}),
          done: () => {
            say(notice, `Deleted the policy ${policy.name}. · 已删除。`, 'ok');
            if (state.policy && state.policy.id === policy.id) closeDeliveries();
            if (state.editing && state.editing.id === policy.id) closeForm();
            loadPolicies();
          }});
      }

      // ---- test events ----

      // Queues a test event, then waits for its first attempt and says how it went.
      async function sendTest(policy) {
        testOpen.hidden = true;
        say(testStatus, `Sending a test event to ${policy.name}… 正在发送测试事件…`);
        const queued = await api('POST', '/api/webhooks/test', {id: policy.id, operator: session.operator()});
        if (!ok(queued)) {
          say(testStatus, `The test event to ${policy.name} was not queued: ${describe(queued)}`, 'error');
          return;
        }
        let delivery = queued.content;
        const deadline = Date.now() + TEST_WAIT_MS;
        while (!state.stopped && delivery.state === 'pending' && !delivery.attempts && Date.now() < deadline) {
          await sleep(TEST_POLL_MS);
          const answer = await api('GET', '/api/webhooks/delivery?' + q({id: delivery.id}));
          if (!ok(answer)) {
            say(testStatus, `Could not read the test delivery ${delivery.id}: ${describe(answer)}`, 'error');
            return;
          }
          delivery = answer.content;
        }
        if (state.stopped) return;
        const log = delivery.attemptLog || [];
        const last = log[log.length - 1];
        const took = last ? ` in ${last.durationMs} ms` : '';
        testStatus.dataset.state = delivery.state;
        if (delivery.state === 'delivered') {
          say(testStatus, `Test event delivered to ${policy.name}: HTTP ${delivery.lastStatus}${took}. · 测试事件已送达。`, 'ok');
        } else if (delivery.state === 'failed') {
          say(testStatus, `Test event to ${policy.name} failed: ${delivery.lastError}${took}. · 测试事件发送失败。`, 'error');
        } else if (delivery.attempts) {
          say(testStatus, `Test event to ${policy.name} not delivered yet: ${delivery.lastError}; it is tried again. · ` +
              '尚未送达，将重试。', 'warn');
        } else {
          say(testStatus, `The test event to ${policy.name} still waits for a sender (delivery ${delivery.id}). · 等待发送。`, 'warn');
        }
        testOpen.hidden = false;
        testOpen.onclick = () => openDeliveries(policy, delivery.id);
        loadPolicies();  // the attempt may have changed the failures in a row, or disabled it
        if (state.policy && state.policy.id === policy.id) loadDeliveries();
      }

      // ---- deliveries ----

      const deliveriesHeading = el('h2', {id: 'deliveries-heading'});
      const deliveriesNotice = statusLine('deliveries-notice');
      const deliveryHeads = [['#', ''], ['Event', '事件'], ['State', '状态'], ['Attempts', '尝试'],
        ['Last answer', '最后应答'], ['Queued', '创建时间'], ['Finished or next try', '完成或下次尝试']];
      const deliveries = tableOf('Deliveries', deliveryHeads, 'webhook-deliveries');
      const deliveriesEmpty = el('p', {class: 'empty', dataset: {testid: 'webhook-deliveries-empty'}, hidden: true},
                                 'No deliveries yet: send a test event. · 还没有投递记录。');
      const newer = el('button', {type: 'button', dataset: {testid: 'deliveries-newer'}}, '← Newer · 较新');
      const older = el('button', {type: 'button', dataset: {testid: 'deliveries-older'}}, 'Older · 较早 →');
      const deliveriesPanel = el('section', {class: 'card', hidden: true, 'aria-labelledby': 'deliveries-heading',
                                             dataset: {testid: 'webhook-deliveries-panel'}},
        el('div', {class: 'toolbar'}, deliveriesHeading,
           el('button', {type: 'button', onclick: () => loadDeliveries()}, 'Refresh · 刷新'),
           el('button', {type: 'button', onclick: () => closeDeliveries()}, 'Close · 关闭')),
        deliveriesNotice,
        el('div', {class: 'table-wrap'}, deliveries.table), deliveriesEmpty,
        el('nav', {class: 'pager row', 'aria-label': 'Delivery pages · 分页'}, newer, older));

      function deliveryRow(delivery) {
        const id = delivery.id;
        const redeliver = el('button', {type: 'button', class: 'link', dataset: {testid: `redeliver-${id}`},
                                        'aria-label': `Redeliver · 重新投递: delivery ${id}`,
                                        onclick: () => redeliverDelivery(id)}, 'Redeliver · 重新投递');
        const next = delivery.finishedAt ? timeNode(delivery.finishedAt)
          : delivery.nextAttemptAt ? el('span', {}, 'next · 下次 ', timeNode(delivery.nextAttemptAt)) : '—';
        return el('tr', {dataset: {delivery: id, state: delivery.state}},
          el('td', {}, String(id),
             delivery.redeliveryOf ? el('div', {class: 'muted'}, `repeats ${delivery.redeliveryOf} · 重发`) : null),
          el('td', {}, el('code', {}, delivery.eventType)),
          el('td', {}, el('span', {class: 'badge ' + (DELIVERY_BADGE[delivery.state] || '')}, delivery.state)),
          el('td', {}, String(delivery.attempts)),
          el('td', {}, delivery.lastStatus ? `HTTP ${delivery.lastStatus}` : '—',
             delivery.lastError ? el('div', {class: 'muted'}, delivery.lastError) : null),
          el('td', {class: 'nowrap'}, timeNode(delivery.createdAt)),
          el('td', {class: 'nowrap'}, next),
          el('td', {class: 'actions-cell'},
             el('button', {type: 'button', class: 'link', dataset: {testid: `delivery-${id}`},
                           'aria-label': `Attempts · 尝试记录: delivery ${id}`, onclick: () => openDelivery(id)},
                'Attempts · 尝试记录'), ' ', redeliver));
      }

      async function loadDeliveries() {
        clearTimeout(state.timer);
        const policy = state.policy;
        if (!policy) return;
        const query = {id: policy.id, page_size: DELIVERY_PAGE};
        if (state.before) query.before = state.before;
        const answer = await api('GET', '/api/webhooks/deliveries?' + q(query));
        if (state.stopped || state.policy !== policy) return;
        if (!ok(answer)) {
          say(deliveriesNotice, `Could not list the deliveries of ${policy.name}: ${describe(answer)}`, 'error');
          return;
        }
        const list = answer.content.deliveries;
        deliveries.body.replaceChildren(...list.map(deliveryRow));
        deliveries.table.hidden = list.length === 0;
        deliveriesEmpty.hidden = list.length !== 0;
        older.disabled = answer.content.next_before === null;
        older.dataset.before = answer.content.next_before === null ? '' : String(answer.content.next_before);
        newer.disabled = state.newer.length === 0;
        // Pending deliveries change as the senders try them.
        if (list.some((delivery) => delivery.state === 'pending')) {
          state.timer = setTimeout(() => {
            loadDeliveries();
            if (state.delivery) openDelivery(state.delivery, {scroll: false});
          }, REFRESH_MS);
        }
      }

      function openDeliveries(policy, deliveryId) {
        state.policy = policy;
        state.before = '';
        state.newer = [];
        deliveriesHeading.replaceChildren(...bilingual(`Deliveries of ${policy.name}`, '投递记录'));
        say(deliveriesNotice, '');
        deliveriesPanel.hidden = false;
        detailPanel.hidden = true;
        state.delivery = null;
        loadDeliveries();
        if (deliveryId) openDelivery(deliveryId);
        else deliveriesPanel.scrollIntoView({block: 'nearest'});
        remember();
      }

      function closeDeliveries() {
        clearTimeout(state.timer);
        state.policy = null;
        state.delivery = null;
        deliveriesPanel.hidden = true;
        detailPanel.hidden = true;
        remember();
      }

      older.addEventListener('click', () => {
        state.newer.push(state.before);
        state.before = older.dataset.before;
        loadDeliveries();
      });
      newer.addEventListener('click', () => {
        state.before = state.newer.pop() || '';
        loadDeliveries();
      });

      async function redeliverDelivery(id) {
        const answer = await api('POST', '/api/webhooks/redeliver', {delivery: id, operator: session.operator()});
        if (!ok(answer)) {
          say(deliveriesNotice, `Could not redeliver delivery ${id}: ${describe(answer)}`, 'error');
          return;
        }
        say(deliveriesNotice, `Delivery ${id} queued again as delivery ${answer.content.id}. · 已重新排队。`, 'ok');
        state.before = '';
        state.newer = [];
        await loadDeliveries();
        openDelivery(answer.content.id);
      }

      // ---- one delivery and its attempts ----

      const detailHeading = el('h2', {id: 'delivery-heading'});
      const detailFacts = el('dl', {class: 'facts', dataset: {testid: 'delivery-facts'}});
      const attempts = tableOf('Attempts', [['#', ''], ['Started', '开始'], ['Duration', '耗时'],
        ['Answer', '应答'], ['Error', '错误']], 'delivery-attempts');
      const attemptsEmpty = el('p', {class: 'empty', hidden: true}, 'Not tried yet. · 尚未尝试。');
      const detailBody = el('pre', {class: 'code', tabindex: 0, dataset: {testid: 'delivery-body'}});
      const detailRedeliver = el('button', {type: 'button', dataset: {testid: 'delivery-redeliver'}},
                                 'Redeliver · 重新投递');
      const detailPanel = el('section', {class: 'card', hidden: true, 'aria-labelledby': 'delivery-heading',
                                         dataset: {testid: 'delivery-panel'}},
        el('div', {class: 'toolbar'}, detailHeading, detailRedeliver,
           el('button', {type: 'button', onclick: () => { detailPanel.hidden = true; state.delivery = null; remember(); }},
              'Close · 关闭')),
        detailFacts,
        el('h3', {}, ...bilingual('Attempts', '尝试记录')),
        el('div', {class: 'table-wrap'}, attempts.table), attemptsEmpty,
        el('h3', {}, ...bilingual('Body sent', '发送的内容')), detailBody);

      const fact = (en, zh, value) => el('div', {}, el('dt', {}, ...bilingual(en, zh)), el('dd', {}, value));

      function attemptRow(attempt) {
        const n = attempt.number;
        return el('tr', {dataset: {attempt: n}},
          el('td', {}, String(n)),
          el('td', {class: 'nowrap'}, timeNode(attempt.startedAt)),
          el('td', {class: 'nowrap'}, `${attempt.durationMs} ms`),
          el('td', {}, attempt.status ? `HTTP ${attempt.status}` : 'no answer · 无应答'),
          el('td', {}, attempt.error || '—'),
          el('td', {}, el('details', {dataset: {testid: `attempt-details-${n}`}},
            el('summary', {}, 'Headers and answer · 请求头与应答'),
            el('h4', {}, 'Request headers · 请求头'),
            el('pre', {class: 'code', tabindex: 0, dataset: {testid: `attempt-request-headers-${n}`}},
               headersText(attempt.requestHeaders)),
            el('h4', {}, 'Response headers · 响应头'),
            el('pre', {class: 'code', tabindex: 0, dataset: {testid: `attempt-response-headers-${n}`}},
               headersText(attempt.responseHeaders)),
            el('h4', {}, 'Response excerpt · 响应内容'),
            el('pre', {class: 'code', tabindex: 0, dataset: {testid: `attempt-excerpt-${n}`}},
               attempt.responseExcerpt || '(empty)'))));
      }

      async function openDelivery(id, {scroll = true} = {}) {
        const answer = await api('GET', '/api/webhooks/delivery?' + q({id}));
        if (state.stopped) return;
        if (!ok(answer)) {
          say(deliveriesNotice, `Could not read delivery ${id}: ${describe(answer)}`, 'error');
          return;
        }
        const delivery = answer.content;
        state.delivery = delivery.id;
        detailPanel.dataset.delivery = delivery.id;
        detailPanel.dataset.state = delivery.state;
        detailHeading.replaceChildren(...bilingual(`Delivery ${delivery.id}`, '投递详情'));
        detailFacts.replaceChildren(
          fact('Event', '事件', el('code', {}, delivery.eventType)),
          fact('State', '状态', el('span', {class: 'badge ' + (DELIVERY_BADGE[delivery.state] || '')}, delivery.state)),
          fact('webhook-id', '事件 ID', el('code', {}, delivery.eventId)),
          fact('Queued', '创建时间', timeNode(delivery.createdAt)),
          fact(delivery.finishedAt ? 'Finished' : 'Next try', delivery.finishedAt ? '完成时间' : '下次尝试',
               delivery.finishedAt ? timeNode(delivery.finishedAt)
                 : delivery.nextAttemptAt ? timeNode(delivery.nextAttemptAt) : '—'),
          fact('Repeats', '重发自', delivery.redeliveryOf ? String(delivery.redeliveryOf) : '—'),
          fact('Content type', '内容类型', delivery.contentType || '—'));
        const log = delivery.attemptLog || [];
        attempts.body.replaceChildren(...log.map(attemptRow));
        attempts.table.hidden = log.length === 0;
        attemptsEmpty.hidden = log.length !== 0;
        detailBody.textContent = prettyBody(delivery.body);
        detailRedeliver.onclick = () => redeliverDelivery(delivery.id);
        detailPanel.hidden = false;
        if (scroll) detailPanel.scrollIntoView({block: 'nearest'});
        remember();
      }

      // ---- start ----

      const triggers = triggersSection(session, dialog);
      const rebuilds = baseRebuildSection(session);
      container.append(deliveriesPanel, detailPanel, triggers.node, rebuilds.node, dialog);

      (async () => {
        await session.ready;
        if (state.stopped || !session.me) return;
        const reason = session.can('developer');
        if (reason) {
          say(notice, `Webhooks: ${reason}`, 'error');
          triggers.node.hidden = true;
          rebuilds.node.hidden = true;
          return;
        }
        state.admin = !session.can('admin');
        section.append(chooser, el('div', {class: 'row'}, newButton), form.node, choose,
          mineHeading, el('div', {class: 'table-wrap'}, mine.table), mineEmpty, globalPart,
          el('div', {class: 'row'}, testStatus, testOpen));
        await loadPolicies();
        triggers.show(state.project);
        rebuilds.show(state.project);
        const policyId = Number(params.get('policy'));
        if (policyId) {
          const answer = await api('GET', '/api/webhooks/get?' + q({id: policyId}));
          if (ok(answer) && !state.stopped) openDeliveries(answer.content, Number(params.get('delivery')) || undefined);
        }
      })();

      return () => {
        state.stopped = true;
        clearTimeout(state.timer);
        clearTimeout(state.suggestTimer);
        triggers.stop();
        rebuilds.stop();
      };
    },
  };
}
