// The Projects view (/): search by name, page with the API's keyset cursor, each project's
// latest build, and New, Clone, Delete and Open.
import {api, describe, ok, q} from './api.js';
import {bilingual, el, formDialog, labelled, say, statusLine, timeNode, withProgress} from './dom.js';

const PAGE_SIZE = 20;
const SEARCH_DELAY_MS = 250;
const TYPES = [
  ['tool', 'tool: composed from plugins · 插件组合'],
  ['edit', 'edit: written by hand · 手写'],
  ['download', 'download: from git/svn · 从代码库下载'],
];

const configUrl = (name) => '/view/config/independent?' + q({projectName: name});

// session: {can(role) -> '' or the reason it cannot, operator() -> the name changes record}.
export function projectsView(session) {
  return {
    title: 'Projects',
    render(container, params, navigate) {
      const state = {filter: params.get('q') || '', after: '', earlier: [], seq: 0, timer: 0};

      const search = el('input', {id: 'project-search', type: 'search', value: state.filter,
                                  dataset: {testid: 'project-search'}, autocomplete: 'off',
                                  spellcheck: 'false', placeholder: 'part of a name · 名称的一部分'});
      const newButton = el('button', {type: 'button', class: 'primary', dataset: {testid: 'new-project'}},
                           'New project · 新建项目');
      const count = statusLine('projects-count');
      const progress = el('span', {class: 'status progress', dataset: {testid: 'projects-loading'}, hidden: true},
                          'Loading… 加载中…');
      const body = el('tbody', {dataset: {testid: 'projects-body'}});
      const table = el('table', {dataset: {testid: 'projects-table'}},
        el('caption', {class: 'visually-hidden'}, 'Projects'),
        el('thead', {}, el('tr', {},
          el('th', {scope: 'col'}, ...bilingual('Name', '名称')),
          el('th', {scope: 'col'}, ...bilingual('Cluster', '集群')),
          el('th', {scope: 'col'}, ...bilingual('Type', '类型')),
          el('th', {scope: 'col'}, ...bilingual('Latest build', '最近构建')),
          el('th', {scope: 'col'}, ...bilingual('Last modified', '最后修改')),
          el('th', {scope: 'col'}, el('span', {class: 'visually-hidden'}, 'Actions')))),
        body);
      const empty = el('p', {class: 'empty', dataset: {testid: 'projects-empty'}, hidden: true});
      const previous = el('button', {type: 'button', dataset: {testid: 'page-previous'}}, '← Previous · 上一页');
      const next = el('button', {type: 'button', dataset: {testid: 'page-next'}}, 'Next · 下一页 →');
      const pageLabel = el('span', {class: 'status'});
      const notice = statusLine('projects-notice');
      const form = newProjectForm();
      const dialog = el('dialog', {class: 'card dialog', dataset: {testid: 'project-dialog'}});

      container.append(el('section', {class: 'card', 'aria-labelledby': 'projects-heading'},
        el('div', {class: 'toolbar'},
          el('h2', {id: 'projects-heading'}, ...bilingual('Projects', '项目')),
          el('div', {class: 'search'},
             el('label', {for: 'project-search'}, ...bilingual('Search', '搜索')), search),
          newButton),
        form.node, notice,
        el('div', {class: 'row'}, count, progress),
        el('div', {class: 'table-wrap'}, table), empty,
        el('nav', {class: 'pager row', 'aria-label': 'Pages · 分页'}, previous, pageLabel, next)),
        dialog);

      const refuse = (button, role) => {
        const reason = session.can(role);
        button.disabled = Boolean(reason);
        if (reason) button.title = reason;
      };
      session.ready.then(() => refuse(newButton, 'developer'));

      // ---- the list ----

      async function load() {
        const seq = ++state.seq;
        const query = {page_size: PAGE_SIZE};
        if (state.filter) query.projectName = state.filter;
        if (state.after) query.after = state.after;
        const [answer] = await withProgress(
          progress, Promise.all([api('GET', '/api/project/list?' + q(query)), session.ready]));
        if (seq !== state.seq) return;  // a newer search or page answered first
        if (!ok(answer)) {
          say(count, 'Could not list the projects: ' + describe(answer), 'error');
          return;
        }
        const projects = Array.isArray(answer.content) ? answer.content : [];
        body.replaceChildren(...projects.map(row));
        table.hidden = projects.length === 0;
        empty.hidden = projects.length !== 0;
        if (state.filter) {
          empty.textContent = `No project name contains “${state.filter}”. · 没有匹配的项目。`;
        } else {
          empty.textContent = 'No projects yet: create one with New project. · 还没有项目：点击“新建项目”。';
        }
        const total = answer.total_count || 0;
        say(count, state.filter ? `${total} matching “${state.filter}” · 个匹配` : `${total} projects · 个项目`);
        const page = state.earlier.length + 1;
        pageLabel.textContent = `Page ${page} · 第 ${page} 页`;
        previous.disabled = state.earlier.length === 0;
        next.disabled = state.earlier.length * PAGE_SIZE + projects.length >= total;
        next.dataset.after = projects.length ? projects[projects.length - 1].name : '';
        // What bench/console.mjs reads: when the first page of a navigation was on screen.
        if (!performance.getEntriesByName('projects-first-page').length) {
          performance.mark('projects-first-page');
        }
        for (const project of projects) latestBuild(project.name, seq);
      }

      function row(project) {
        const name = project.name;
        const clone = el('button', {type: 'button', class: 'link', dataset: {testid: 'clone-' + name},
                                    onclick: () => cloneDialog(name)}, 'Clone · 克隆');
        const remove = el('button', {type: 'button', class: 'link danger', dataset: {testid: 'delete-' + name},
                                     onclick: () => deleteDialog(name)}, 'Delete · 删除');
        refuse(clone, 'developer');
        refuse(remove, 'admin');
        return el('tr', {dataset: {project: name}},
          el('td', {}, el('a', {href: configUrl(name), class: 'project-link'}, name)),
          el('td', {}, project.Cluster || ''),
          el('td', {}, project.DefineDockerFileType || ''),
          el('td', {class: 'latest-build', dataset: {testid: 'latest-' + name}},
             el('span', {class: 'muted'}, '…')),
          el('td', {}, el('div', {}, project.lastModifyOperator || '—'),
             el('div', {class: 'muted'}, timeNode(project.lastModifyTime))),
          el('td', {class: 'actions-cell'},
             el('a', {href: configUrl(name), class: 'open', dataset: {testid: 'open-' + name}},
                'Open · 打开'), ' ', clone, ' ', remove));
      }

      // The newest build of one project; filled in after the page shows, a row at a time.
      async function latestBuild(name, seq) {
        const answer = await api('GET', '/api/builds?' + q({project: name, page_size: 1}));
        const cell = body.querySelector(`tr[data-project="${CSS.escape(name)}"] .latest-build`);
        if (seq !== state.seq || !cell) return;
        if (!ok(answer)) {
          cell.replaceChildren(el('span', {class: 'status error'}, describe(answer)));
          return;
        }
        const build = (answer.content.builds || [])[0];
        if (!build) {
          cell.replaceChildren(el('span', {class: 'muted'}, 'Never built · 未构建'));
          return;
        }
        cell.replaceChildren(
          el('span', {class: 'badge state-' + build.state}, build.state), ' ',
          el('code', {}, build.tag), el('div', {class: 'muted'},
          timeNode(build.finishedAt || build.startedAt || build.queuedAt)));
      }

      function reload({keepPage = false} = {}) {
        if (!keepPage) {
          state.after = '';
          state.earlier = [];
        }
        load();
      }

      search.addEventListener('input', () => {
        clearTimeout(state.timer);
        state.timer = setTimeout(() => {
          state.filter = search.value.trim();
          navigate(state.filter ? '/?' + q({q: state.filter}) : '/', {replace: true, render: false});
          reload();
        }, SEARCH_DELAY_MS);
      });
      next.addEventListener('click', () => {
        state.earlier.push(state.after);
        state.after = next.dataset.after;
        load();
      });
      previous.addEventListener('click', () => {
        state.after = state.earlier.pop() || '';
        load();
      });

      // ---- new, clone, delete ----

      function newProjectForm() {
        const name = el('input', {id: 'new-name', dataset: {testid: 'new-name'}, autocomplete: 'off',
                                  spellcheck: 'false', required: true});
        const cluster = el('input', {id: 'new-cluster', dataset: {testid: 'new-cluster'}, autocomplete: 'off',
                                     spellcheck: 'false', placeholder: 'default_cluster'});
        const type = el('select', {id: 'new-type', dataset: {testid: 'new-type'}},
                        ...TYPES.map(([value, text]) => el('option', {value}, text)));
        const status = statusLine('new-status');
        const node = el('form', {class: 'new-project', dataset: {testid: 'new-form'}, hidden: true},
          el('h3', {}, ...bilingual('New project', '新建项目')),
          el('div', {class: 'fields'},
             labelled('new-name', 'Name', '名称', name),
             labelled('new-cluster', 'Cluster', '集群', cluster),
             labelled('new-type', 'Dockerfile', 'Dockerfile 来源', type)),
          el('div', {class: 'row'},
             el('button', {type: 'submit', class: 'primary', dataset: {testid: 'new-create'}}, 'Create · 创建'),
             el('button', {type: 'button', onclick: () => { node.hidden = true; newButton.focus(); }},
                'Cancel · 取消'),
             status));
        node.addEventListener('submit', async (event) => {
          event.preventDefault();
          const form = new URLSearchParams({projectName: name.value.trim(), DefineDockerFileType: type.value,
                                            operator: session.operator()});
          if (cluster.value.trim()) form.set('Cluster', cluster.value.trim());
          say(status, 'Creating… 创建中…');
          const answer = await api('POST', '/api/project/new', form);
          if (!ok(answer)) {
            say(status, describe(answer), 'error');
            name.focus();
            return;
          }
          const created = name.value.trim().toLowerCase();
          say(status, '');
          node.reset();
          node.hidden = true;
          say(notice, `Created ${created}. · 已创建。`, 'ok');
          reload({keepPage: true});
        });
        return {node, name};
      }

      newButton.addEventListener('click', () => {
        form.node.hidden = false;
        form.name.focus();
      });

      // One modal dialog for Clone and Delete: `act` runs the request and answers the envelope.
      function openDialog(title, fields, submitText, act, submitAttrs = {}) {
        return formDialog(dialog, {title, fields, submitText, act, submitAttrs,
                                   done: () => reload({keepPage: true})});
      }

      function cloneDialog(source) {
        const target = el('input', {id: 'clone-target', dataset: {testid: 'clone-target'},
                                    autocomplete: 'off', spellcheck: 'false', value: source + '-copy'});
        openDialog(`Clone ${source} · 克隆`,
          [labelled('clone-target', 'New name', '新名称', target)], 'Clone · 克隆',
          async () => {
            const answer = await api('POST', '/api/project/clone', new URLSearchParams({
              srcProjectName: source, dstProjectName: target.value.trim(), operator: session.operator()}));
            if (ok(answer)) say(notice, `Cloned ${source} to ${target.value.trim().toLowerCase()}. · 已克隆。`, 'ok');
            return answer;
          });
        target.select();
      }

      function deleteDialog(name) {
        const typed = el('input', {id: 'delete-confirm', dataset: {testid: 'delete-confirm'},
                                   autocomplete: 'off', spellcheck: 'false'});
        const submit = openDialog(`Delete ${name}? · 删除？`, [
          el('p', {class: 'help'}, 'The project and the records of its builds go; images already in the ' +
             'registry stay. · 项目及其构建记录将被删除；仓库中的镜像保留。'),
          labelled('delete-confirm', `Type ${name} to confirm`, '输入项目名以确认', typed)],
          'Delete · 删除',
          async () => {
            const answer = await api('POST', '/api/project/delete',
                                     new URLSearchParams({projectName: name, operator: session.operator()}));
            if (ok(answer)) say(notice, `Deleted ${name}. · 已删除。`, 'ok');
            return answer;
          }, {disabled: true});
        typed.addEventListener('input', () => { submit.disabled = typed.value !== name; });
        typed.focus();
      }

      load();
      return () => clearTimeout(state.timer);
    },
  };
}
