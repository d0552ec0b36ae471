// The Builds view (/builds): builds across projects. Queued and running first, with Cancel and
// refreshed while the view is open; then finished builds, newest first, paged with the API's
// cursor. A build's log opens below, followed live while the build runs.
import {api, describe, ok, q} from './api.js';
import {bilingual, copyButton, el, timeNode, withProgress} from './dom.js';
import {followLog} from './log_follow.js';
import {buildOrigin} from './build_trigger.js';

const FINISHED_PAGE = 20;
const REFRESH_MS = 3000;

const configUrl = (name) => '/view/config/independent?' + q({projectName: name});

function seconds(from, to) {
  if (!from || !to) return '—';
  const ms = new Date(to) - new Date(from);
  return Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : '—';
}

const HEADS = [['#', ''], ['Project', '项目'], ['Tag', '标签'], ['State', '状态'],
  ['Duration', '耗时'], ['Image', '镜像'], ['Operator', '操作者'], ['Queued', '排队时间']];

// session: {can(role) -> '' or the reason it cannot, operator() -> the name changes record}.
export function buildsView(session) {
  return {
    title: 'Builds',
    render(container, params, navigate) {
      const state = {project: params.get('project') || '', operator: params.get('operator') || '',
                     before: '', newer: [], timer: 0, log: null, stopped: false};

      const filter = (id, en, zh, value) => el('div', {class: 'field'},
        el('label', {for: id}, ...bilingual(en, zh)),
        el('input', {id, dataset: {testid: id}, value, autocomplete: 'off', spellcheck: 'false',
                     placeholder: 'exact · 精确匹配'}));
      const filters = el('form', {class: 'toolbar filters', dataset: {testid: 'build-filters'}},
        el('h2', {id: 'builds-heading'}, ...bilingual('Builds', '构建')),
        filter('filter-project', 'Project', '项目', state.project),
        filter('filter-operator', 'Operator', '操作者', state.operator),
        el('button', {type: 'submit'}, 'Filter · 筛选'));
      const notice = el('p', {class: 'status', role: 'status', 'aria-live': 'polite',
                              dataset: {testid: 'builds-notice'}});
      const progress = el('span', {class: 'status', hidden: true}, 'Loading… 加载中…');
      const table = (testid, caption) => {
        const body = el('tbody', {dataset: {testid}});
        const node = el('table', {},
          el('caption', {class: 'visually-hidden'}, caption),
          el('thead', {}, el('tr', {}, ...HEADS.map(([en, zh]) => el('th', {scope: 'col'}, ...(zh ? bilingual(en, zh) : [en]))),
                               el('th', {scope: 'col'}, el('span', {class: 'visually-hidden'}, 'Actions')))),
          body);
        return {node, body};
      };
      const active = table('active-builds', 'Queued and running builds');
      const finished = table('finished-builds', 'Finished builds');
      const activeEmpty = el('p', {class: 'empty', dataset: {testid: 'active-empty'}},
                             'Nothing is building. · 当前没有构建。');
      const finishedEmpty = el('p', {class: 'empty', dataset: {testid: 'finished-empty'}},
                               'No finished builds yet: start one from a project’s page. · 还没有已结束的构建。');
      const newer = el('button', {type: 'button', dataset: {testid: 'finished-newer'}}, '← Newer · 较新');
      const older = el('button', {type: 'button', dataset: {testid: 'finished-older'}}, 'Older · 较早 →');
      const logPre = el('pre', {class: 'code log', tabindex: 0, dataset: {testid: 'builds-log'},
                                'aria-labelledby': 'builds-log-heading'});
      const logState = el('span', {class: 'status', dataset: {testid: 'builds-log-state'}});
      const logPanel = el('section', {class: 'card', hidden: true, 'aria-labelledby': 'builds-log-heading',
                                      dataset: {testid: 'builds-log-panel'}},
        el('div', {class: 'log-head'}, el('h2', {id: 'builds-log-heading'}, 'Log · 日志'), logState),
        logPre);

      container.append(
        el('section', {class: 'card', 'aria-labelledby': 'builds-heading'}, filters, notice,
          el('h3', {}, ...bilingual('Queued and running', '排队与运行中'), ' ', progress),
          el('div', {class: 'table-wrap'}, active.node), activeEmpty,
          el('h3', {}, ...bilingual('Finished', '已结束')),
          el('div', {class: 'table-wrap'}, finished.node), finishedEmpty,
          el('nav', {class: 'pager row', 'aria-label': 'Finished builds pages · 分页'}, newer, older)),
        logPanel);

      function row(build) {
        const cells = [
          el('td', {}, String(build.id)),
          el('td', {}, el('a', {href: configUrl(build.project)}, build.project)),
          el('td', {}, el('code', {}, build.tag), ...buildOrigin(build)),
          el('td', {}, el('span', {class: 'badge state-' + build.state}, build.state),
             build.reason ? el('div', {class: 'muted'}, build.reason) : null),
          el('td', {class: 'nowrap'}, seconds(build.startedAt, build.finishedAt)),
          el('td', {class: 'image'}, el('code', {}, build.image),
             build.digest ? el('div', {class: 'digest'}, el('code', {}, build.digest), ' ',
                               copyButton(build.digest, `the digest of build ${build.id}`)) : null),
          el('td', {}, build.operator),
          el('td', {class: 'nowrap'}, timeNode(build.queuedAt)),
        ];
        const actions = el('td', {class: 'actions-cell'},
          el('button', {type: 'button', class: 'link', dataset: {testid: 'log-' + build.id},
                        'aria-label': `Log · 日志: build ${build.id}`, onclick: () => showLog(build.id)}, 'Log · 日志'));
        if (build.state === 'queued' || build.state === 'running') {
          const cancel = el('button', {type: 'button', class: 'link danger', dataset: {testid: 'cancel-' + build.id},
                                       'aria-label': `Cancel · 取消: build ${build.id}`, onclick: () => cancelBuild(build.id)},
                            'Cancel · 取消');
          const reason = session.can('developer');
          if (reason) {
            cancel.disabled = true;
            cancel.title = reason;
          }
          actions.append(' ', cancel);
        }
        return el('tr', {dataset: {build: build.id, state: build.state}}, ...cells, actions);
      }

      const filterQuery = () => {
        const query = {};
        if (state.project) query.project = state.project;
        if (state.operator) query.operator = state.operator;
        return query;
      };

      async function loadActive() {
        const [answer] = await Promise.all([
          api('GET', '/api/builds?' + q({...filterQuery(), state: 'queued,running', page_size: 100})),
          session.ready]);  // Cancel is disabled for a viewer
        if (state.stopped) return;
        if (!ok(answer)) {
          notice.textContent = 'Could not list the builds: ' + describe(answer);
          notice.className = 'status error';
          return;
        }
        // Oldest first: the order they run in.
        const builds = answer.content.builds.slice().reverse();
        active.body.replaceChildren(...builds.map(row));
        active.node.hidden = builds.length === 0;
        activeEmpty.hidden = builds.length !== 0;
      }

      async function loadFinished() {
        const query = {...filterQuery(), state: 'succeeded,failed,cancelled', page_size: FINISHED_PAGE};
        if (state.before) query.before = state.before;
        const answer = await api('GET', '/api/builds?' + q(query));
        if (state.stopped) return;
        if (!ok(answer)) {
          notice.textContent = 'Could not list the builds: ' + describe(answer);
          notice.className = 'status error';
          return;
        }
        const builds = answer.content.builds;
        finished.body.replaceChildren(...builds.map(row));
        finished.node.hidden = builds.length === 0;
        finishedEmpty.hidden = builds.length !== 0;
        older.disabled = answer.content.next_before === null;
        older.dataset.before = answer.content.next_before === null ? '' : String(answer.content.next_before);
        newer.disabled = state.newer.length === 0;
      }

      async function refresh() {
        clearTimeout(state.timer);
        await withProgress(progress, Promise.all([loadActive(), loadFinished()]));
        if (!state.stopped) state.timer = setTimeout(refresh, REFRESH_MS);
      }

      async function cancelBuild(id) {
        const answer = await api('POST', '/api/project/buildCancel',
                                 new URLSearchParams({id, operator: session.operator()}));
        notice.textContent = ok(answer) ? `Cancel of build ${id} requested. · 已请求取消。`
          : `Cancel of build ${id} failed: ${describe(answer)}`;
        notice.className = 'status ' + (ok(answer) ? 'ok' : 'error');
        refresh();
      }

      function showLog(id) {
        if (state.log) state.log.abort();
        logPanel.hidden = false;
        logPanel.querySelector('h2').textContent = `Log of build ${id} · 日志`;
        state.log = followLog(id, logPre, (text, kind) => {
          logState.textContent = text;
          logState.className = 'status' + (kind ? ' ' + kind : '');
        }, () => { state.log = null; });
        logPanel.scrollIntoView({block: 'nearest'});
      }

      filters.addEventListener('submit', (event) => {
        event.preventDefault();
        state.project = filters.querySelector('#filter-project').value.trim();
        state.operator = filters.querySelector('#filter-operator').value.trim();
        state.before = '';
        state.newer = [];
        navigate('/builds' + (Object.keys(filterQuery()).length ? '?' + q(filterQuery()) : ''),
                 {replace: true, render: false});
        refresh();
      });
      older.addEventListener('click', () => {
        state.newer.push(state.before);
        state.before = older.dataset.before;
        loadFinished();
      });
      newer.addEventListener('click', () => {
        state.before = state.newer.pop() || '';
        loadFinished();
      });

      refresh();
      return () => {
        state.stopped = true;
        clearTimeout(state.timer);
        if (state.log) state.log.abort();
      };
    },
  };
}
