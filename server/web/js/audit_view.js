// The Audit view (/admin/audit, admins): every change, newest first, filtered by actor, action,
// target and time (entered in the viewer's zone, sent as UTC), each with its before and after.
import {api, describe, ok, q} from './api.js';
import {bilingual, el, labelled, say, statusLine, timeNode, withProgress} from './dom.js';
import {adminGate} from './admin_gate.js';

const PAGE_SIZE = 20;
const ACTIONS = ['project.new', 'project.save', 'project.clone', 'project.delete', 'build.start',
  'build.cancel', 'registry.tag.delete', 'user.add', 'user.role', 'user.password', 'user.delete',
  'token.create', 'token.revoke', 'auth.signin', 'auth.signin_failed'];

// A datetime-local value ("2026-12-03T10:00", the viewer's zone) as the API's UTC time.
function toUtc(local) {
  if (!local) return '';
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? local : date.toISOString();
}

// The API's UTC time as a datetime-local value in the viewer's zone.
function toLocal(utc) {
  const date = new Date(utc);
  if (!utc || Number.isNaN(date.getTime())) return '';
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return shifted.toISOString().slice(0, 16);
}

function details(entry) {
  const json = (value) => el('pre', {class: 'code', tabindex: 0}, JSON.stringify(value, null, 2));
  return el('details', {},
    el('summary', {}, 'Before and after · 变更前后'),
    el('h4', {}, 'Before · 之前'), json(entry.before),
    el('h4', {}, 'After · 之后'), json(entry.after),
    el('p', {class: 'muted'}, 'Request · 请求 ', el('code', {}, entry.requestId || '—')));
}

export function auditView(session) {
  return {
    title: 'Audit',
    render(container, params, navigate) {
      const fields = ['actor', 'action', 'target', 'since', 'until'];
      const state = {page: 1, stopped: false};
      for (const name of fields) state[name] = params.get(name) || '';
      const notice = statusLine('audit-notice');
      const progress = el('span', {class: 'status', hidden: true}, 'Loading… 加载中…');
      const section = el('section', {class: 'card', 'aria-labelledby': 'audit-heading'},
        el('h2', {id: 'audit-heading'}, ...bilingual('Audit log', '审计日志'), ' ', progress), notice);
      container.append(section);

      const input = (name, attrs) => el('input', {id: 'audit-' + name, dataset: {testid: 'audit-' + name},
                                                  autocomplete: 'off', spellcheck: 'false', ...attrs});
      const controls = {
        actor: input('actor', {value: state.actor, placeholder: 'exact · 精确匹配'}),
        action: input('action', {value: state.action, list: 'audit-actions', placeholder: 'project.save'}),
        target: input('target', {value: state.target, placeholder: 'project:web, user:ada'}),
        since: input('since', {type: 'datetime-local', value: toLocal(state.since)}),
        until: input('until', {type: 'datetime-local', value: toLocal(state.until)}),
      };
      const filters = el('form', {class: 'toolbar filters', dataset: {testid: 'audit-filters'}},
        labelled('audit-actor', 'Actor', '操作者', controls.actor),
        labelled('audit-action', 'Action', '动作', controls.action),
        el('datalist', {id: 'audit-actions'}, ...ACTIONS.map((action) => el('option', {value: action}))),
        labelled('audit-target', 'Target', '对象', controls.target),
        labelled('audit-since', 'From (your time)', '起始（本地时间）', controls.since),
        labelled('audit-until', 'Until (your time)', '截止（本地时间）', controls.until),
        el('button', {type: 'submit'}, 'Filter · 筛选'));
      const body = el('tbody', {dataset: {testid: 'audit-entries'}});
      const table = el('table', {},
        el('caption', {class: 'visually-hidden'}, 'Audit log'),
        el('thead', {}, el('tr', {}, ...[['Time', '时间'], ['Actor', '操作者'], ['Action', '动作'],
          ['Target', '对象'], ['Details', '详情']].map(([en, zh]) => el('th', {scope: 'col'}, ...bilingual(en, zh))))),
        body);
      const empty = el('p', {class: 'empty', dataset: {testid: 'audit-empty'}, hidden: true},
                       'Nothing matches: change or clear the filters. · 没有匹配的记录。');
      const newer = el('button', {type: 'button', dataset: {testid: 'audit-newer'}}, '← Newer · 较新');
      const older = el('button', {type: 'button', dataset: {testid: 'audit-older'}}, 'Older · 较早 →');
      const position = el('span', {class: 'muted', dataset: {testid: 'audit-position'}});

      function row(entry) {
        const actor = entry.onBehalfOf ? `${entry.actor} for ${entry.onBehalfOf}` : entry.actor;
        return el('tr', {dataset: {entry: entry.id, action: entry.action}},
          el('td', {class: 'nowrap'}, timeNode(entry.time)), el('td', {}, actor),
          el('td', {}, el('code', {}, entry.action)), el('td', {}, el('code', {}, entry.target)),
          el('td', {}, details(entry)));
      }

      function query() {
        const out = {page: state.page, page_size: PAGE_SIZE};
        for (const name of fields) if (state[name]) out[name] = state[name];
        return out;
      }

      async function load() {
        const answer = await withProgress(progress, api('GET', '/api/audit?' + q(query())));
        if (state.stopped) return;
        if (!ok(answer)) {
          say(notice, 'Could not read the audit log: ' + describe(answer), 'error');
          return;
        }
        say(notice, '');
        body.replaceChildren(...answer.content.map(row));
        table.hidden = answer.content.length === 0;
        empty.hidden = answer.content.length !== 0;
        const pages = Math.max(1, Math.ceil(answer.total_count / PAGE_SIZE));
        position.textContent = `Page ${state.page} of ${pages} · ${answer.total_count} entries · 共 ${answer.total_count} 条`;
        newer.disabled = state.page <= 1;
        older.disabled = state.page >= pages;
      }

      filters.addEventListener('submit', (event) => {
        event.preventDefault();
        for (const name of ['actor', 'action', 'target']) state[name] = controls[name].value.trim();
        state.since = toUtc(controls.since.value);
        state.until = toUtc(controls.until.value);
        state.page = 1;
        const shown = query();
        delete shown.page;
        delete shown.page_size;
        navigate('/admin/audit' + (Object.keys(shown).length ? '?' + q(shown) : ''), {replace: true, render: false});
        load();
      });
      newer.addEventListener('click', () => { state.page -= 1; load(); });
      older.addEventListener('click', () => { state.page += 1; load(); });

      adminGate(session, notice, 'The audit log', () => {
        section.append(filters, el('div', {class: 'table-wrap'}, table), empty,
          el('nav', {class: 'pager row', 'aria-label': 'Audit pages · 分页'}, newer, older, position));
        load();
      }, {needsAuthentication: false});
      return () => { state.stopped = true; };
    },
  };
}
