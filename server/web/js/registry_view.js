// The Registry view (/registry): registry projects, then a project's repositories, then a
// repository's tags with digest, size, creation time and pull command; a tag's manifest and
// configuration; a tag's delete, which warns when other tags share its image and is not offered
// for a tag an immutability rule protects. The top level also lists the immutability rules.
import {q, registryCall} from './api.js';
import {bilingual, copyButton, el, timeNode, withProgress} from './dom.js';
import {immutabilitySection} from './immutability_section.js';

const PAGE_SIZE = 20;

function bytes(size) {
  if (!Number.isFinite(size) || size <= 0) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

function pretty(text) {
  try {
    return JSON.stringify(typeof text === 'string' ? JSON.parse(text) : text, null, 2);
  } catch (_) {
    return String(text);
  }
}

// session: {can(role) -> '' or the reason it cannot, operator() -> the name changes record}.
export function registryView(session) {
  return {
    title: 'Registry',
    render(container, params, navigate) {
      const project = params.get('project') || '';
      const projectId = params.get('id') || '';
      const repository = params.get('repo') || '';
      const page = Math.max(1, Number(params.get('page')) || 1);
      const link = (text, query) => el('a', {href: '/registry' + (query ? '?' + q(query) : ''), 'data-route': true}, text);

      const crumbs = el('nav', {class: 'crumbs', 'aria-label': 'Breadcrumb · 路径', dataset: {testid: 'registry-crumbs'}},
        link('Registry · 仓库'));
      if (project) crumbs.append(' › ', link(project, {project, id: projectId}));
      if (repository) crumbs.append(' › ', el('span', {'aria-current': 'page'}, repository));
      const status = el('p', {class: 'status', role: 'status', 'aria-live': 'polite', dataset: {testid: 'registry-status'}});
      const progress = el('span', {class: 'status', hidden: true}, 'Loading… 加载中…');
      const body = el('tbody', {dataset: {testid: 'registry-body'}});
      const head = el('tr', {});
      const table = el('table', {hidden: true}, el('caption', {class: 'visually-hidden'}, 'Registry'), el('thead', {}, head), body);
      const empty = el('p', {class: 'empty', hidden: true, dataset: {testid: 'registry-empty'}});
      const previous = el('button', {type: 'button', disabled: page <= 1}, '← Previous · 上一页');
      const next = el('button', {type: 'button', disabled: true}, 'Next · 下一页 →');
      const detail = el('section', {class: 'card', hidden: true, 'aria-labelledby': 'manifest-heading',
                                    dataset: {testid: 'manifest-panel'}});
      const dialog = el('dialog', {class: 'card dialog', dataset: {testid: 'tag-dialog'}, 'aria-labelledby': 'tag-dialog-title'});

      container.append(el('section', {class: 'card', 'aria-labelledby': 'registry-heading'},
        el('h2', {id: 'registry-heading'}, ...bilingual('Registry', '镜像仓库')), crumbs, status,
        el('div', {class: 'table-wrap'}, table), progress, empty,
        el('nav', {class: 'pager row', 'aria-label': 'Pages · 分页'}, previous, next)), detail, dialog);

      const pageTo = (number) => {
        const query = Object.fromEntries(params.entries());
        query.page = number;
        navigate('/registry?' + q(query));
      };
      previous.addEventListener('click', () => pageTo(page - 1));
      next.addEventListener('click', () => pageTo(page + 1));

      function heads(...names) {
        head.replaceChildren(...names.map(([en, zh]) => el('th', {scope: 'col'}, ...(zh ? bilingual(en, zh) : [en]))));
      }

      async function load(path, emptyText, row) {
        const answer = await withProgress(progress, registryCall('GET', path));
        if (!answer.ok) {
          status.textContent = answer.message;
          status.className = 'status error';
          return null;
        }
        const items = Array.isArray(answer.data) ? answer.data : [];
        body.replaceChildren(...items.map(row));
        table.hidden = items.length === 0;
        empty.hidden = items.length !== 0;
        empty.textContent = emptyText;
        next.disabled = page * PAGE_SIZE >= answer.total;
        return items;
      }

      async function showProjects() {
        heads(['Project', '项目'], ['Repositories', '镜像库'], ['Public', '公开'], ['Updated', '更新时间']);
        await load('/projects?' + q({page, page_size: PAGE_SIZE, project_name: ''}),
          'The registry has no projects yet: a build creates its Cluster’s. · 仓库还没有项目。',
          (item) => el('tr', {dataset: {name: item.name}},
            el('td', {}, link(item.name, {project: item.name, id: item.project_id})),
            el('td', {}, String(item.repo_count ?? '—')),
            el('td', {}, item.public ? 'yes · 是' : 'no · 否'),
            el('td', {}, timeNode(item.update_time))));
      }

      async function showRepositories() {
        heads(['Repository', '镜像库']);
        await load('/repositories?' + q({project_id: projectId, q: '', page, page_size: PAGE_SIZE}),
          `No repositories in ${project} yet. · 该项目还没有镜像库。`,
          (item) => el('tr', {dataset: {name: item.name}},
            el('td', {}, link(item.name, {project, id: projectId, repo: item.name}))));
      }

      async function showTags() {
        heads(['Tag', '标签'], ['Digest', '摘要'], ['Size', '大小'], ['Created', '创建时间'],
              ['Pull', '拉取'], ['Actions', '']);
        let tags = [];
        const row = (tag) => {
          const sharing = tags.filter((other) => other.digest === tag.digest && other.name !== tag.name)
            .map((other) => other.name);
          const pull = `docker pull ${session.registry()}/${repository}:${tag.name}`;
          const remove = el('button', {type: 'button', class: 'link danger', dataset: {testid: 'delete-tag-' + tag.name},
                                       onclick: () => deleteDialog(tag, sharing)}, 'Delete · 删除');
          const immutable = tag.immutableRule !== null && tag.immutableRule !== undefined;
          const reason = immutable
            ? `immutable: rule ${tag.immutableRule} protects this tag · 受不可变规则保护`
            : session.can('admin');
          if (reason) {
            remove.disabled = true;
            remove.title = reason;
          }
          return el('tr', {dataset: {tag: tag.name}},
            el('td', {}, el('code', {}, tag.name),
               immutable ? ' ' : null,
               immutable ? el('span', {class: 'badge state-succeeded', dataset: {testid: 'immutable-' + tag.name},
                                       title: `immutability rule ${tag.immutableRule}`}, 'immutable · 不可变') : null,
               sharing.length ? el('div', {class: 'muted', dataset: {testid: 'shares-' + tag.name}},
                                   `same image as ${sharing.join(', ')} · 同一镜像`) : null),
            el('td', {class: 'image'}, el('code', {class: 'digest'}, tag.digest || '—')),
            el('td', {class: 'nowrap'}, bytes(tag.size)),
            el('td', {class: 'nowrap'}, timeNode(tag.created)),
            el('td', {}, copyButton(pull, `the pull command of ${tag.name}`, 'pull-' + tag.name)),
            el('td', {class: 'actions-cell'},
               el('button', {type: 'button', class: 'link', dataset: {testid: 'manifest-' + tag.name},
                             onclick: () => showManifest(tag.name)}, 'Manifest · 清单'), ' ', remove));
        };
        await session.ready;  // Delete is for admins
        const answer = await withProgress(progress, registryCall('GET', '/repositories/tags?' +
                                          q({repo_name: repository, page, page_size: PAGE_SIZE})));
        if (!answer.ok) {
          status.textContent = answer.message;
          status.className = 'status error';
          return;
        }
        tags = Array.isArray(answer.data) ? answer.data : [];
        body.replaceChildren(...tags.map(row));
        table.hidden = tags.length === 0;
        empty.hidden = tags.length !== 0;
        empty.textContent = `${repository} has no tags. · 没有标签。`;
        next.disabled = page * PAGE_SIZE >= answer.total;
      }

      async function showManifest(tag) {
        const answer = await registryCall('GET', '/repositories/manifests?' + q({repo_name: repository, tag}));
        detail.hidden = false;
        if (!answer.ok) {
          detail.replaceChildren(el('h2', {id: 'manifest-heading'}, `${repository}:${tag}`),
                                 el('p', {class: 'status error'}, answer.message));
          return;
        }
        detail.replaceChildren(
          el('h2', {id: 'manifest-heading'}, `${repository}:${tag}`, ' ', el('span', {class: 'zh'}, '清单与配置')),
          el('p', {class: 'help'}, `${answer.data.mediaType} · `, el('code', {}, answer.data.digest)),
          el('h3', {}, ...bilingual('Manifest', '清单')),
          el('pre', {class: 'code', tabindex: 0, 'aria-label': 'Manifest', dataset: {testid: 'manifest-json'}},
             pretty(answer.data.manifest)),
          el('h3', {}, ...bilingual('Configuration', '配置')),
          el('pre', {class: 'code', tabindex: 0, 'aria-label': 'Configuration', dataset: {testid: 'config-json'}},
             pretty(answer.data.config)));
        detail.scrollIntoView({block: 'nearest'});
      }

      function deleteDialog(tag, sharing) {
        const dialogStatus = el('p', {class: 'status', role: 'status', 'aria-live': 'polite',
                                      dataset: {testid: 'tag-dialog-status'}});
        const force = el('input', {type: 'checkbox', id: 'tag-force', dataset: {testid: 'tag-force'}});
        const submit = el('button', {type: 'submit', class: 'primary', dataset: {testid: 'tag-delete'}}, 'Delete · 删除');
        const warning = sharing.length
          ? el('p', {class: 'error', dataset: {testid: 'tag-shared-warning'}},
               `${sharing.join(', ')} ${sharing.length === 1 ? 'points' : 'point'} at the same image: the registry ` +
               'deletes an image, not a name, so deleting this tag deletes those too. The server refuses ' +
               'unless Force is checked. · 其他标签指向同一镜像，删除会一并删除。')
          : null;
        const form = el('form', {method: 'dialog'},
          el('h3', {id: 'tag-dialog-title'}, `Delete ${repository}:${tag.name}? · 删除？`),
          warning,
          el('div', {class: 'row'}, force,
             el('label', {for: 'tag-force'}, ...bilingual('Force: delete even when other tags share the image', '强制删除'))),
          el('div', {class: 'row'}, submit,
             el('button', {type: 'button', onclick: () => dialog.close()}, 'Cancel · 取消'), dialogStatus));
        form.addEventListener('submit', async (event) => {
          event.preventDefault();
          const request = new URLSearchParams({method: 'DELETE', repoName: tag.name, projectName: repository});
          if (force.checked) request.set('force', '1');
          if (session.operator()) request.set('operator', session.operator());
          dialogStatus.textContent = 'Deleting… 删除中…';
          dialogStatus.className = 'status';
          const answer = await registryCall('POST', '/repositories', request);
          if (!answer.ok) {
            dialogStatus.textContent = answer.message;
            dialogStatus.className = 'status error';
            return;
          }
          dialog.close();
          status.textContent = `Deleted ${repository}:${tag.name}. · 已删除。`;
          status.className = 'status ok';
          showTags();
        });
        dialog.replaceChildren(form);
        dialog.showModal();
        submit.focus();
      }

      if (repository) showTags();
      else if (project) showRepositories();
      else {
        showProjects();
        const rules = immutabilitySection(session, dialog);
        container.append(rules.node);
        rules.show();
      }
    },
  };
}
