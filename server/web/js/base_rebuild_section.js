// A project's rebuilds when a base image changes, a section of the Webhooks view: the opt-in,
// the base images (and digests) of its latest successful build, and the rebuilds base changes
// made or refused. A server without the API answers 404 "no such endpoint": the section says so.
import {api, describe, ok, q} from './api.js';
import {bilingual, checkbox, el, say, statusLine, timeNode} from './dom.js';

const shortDigest = (digest) => String(digest || '').replace(/^sha256:/, '').slice(0, 12);

export function baseRebuildSection(session) {
  const state = {project: '', seq: 0, stopped: false};
  const notice = statusLine('base-rebuild-notice');
  const toggle = checkbox('base-rebuild-enabled',
                          bilingual('Rebuild when a base image changes', '基础镜像更新时重建'));
  const bases = el('ul', {dataset: {testid: 'base-rebuild-bases'}});
  const basesEmpty = el('p', {class: 'empty', hidden: true, dataset: {testid: 'base-rebuild-no-bases'}},
                        'No successful build yet: its base images show here after the first. · 尚无成功构建。');
  const rebuilds = el('ul', {dataset: {testid: 'base-rebuild-history'}});
  const content = el('div', {}, toggle.node,
    el('h3', {}, ...bilingual('Base images of the latest successful build', '最近一次成功构建的基础镜像')),
    bases, basesEmpty,
    el('h3', {}, ...bilingual('Rebuilds after a base changed', '因基础镜像变化的重建')), rebuilds);
  const node = el('section', {class: 'card', hidden: true, 'aria-labelledby': 'base-rebuild-heading',
                              dataset: {testid: 'base-rebuild-section'}},
    el('h2', {id: 'base-rebuild-heading'}, ...bilingual('Base-image rebuilds', '基础镜像重建')),
    el('p', {class: 'help'}, 'When a base image of the latest successful build gets a new digest (built here, ' +
       'or found by polling the registry), the project is rebuilt with the same tag. · ' +
       '基础镜像有新摘要时，以相同标签重新构建本项目。'),
    notice, content);

  function rebuildLine(rebuild) {
    const change = [el('code', {}, rebuild.baseImage || ''), ' ',
      el('span', {class: 'muted', title: `${rebuild.oldDigest || ''} → ${rebuild.newDigest || ''}`},
         `${shortDigest(rebuild.oldDigest) || '—'} → ${shortDigest(rebuild.newDigest)}`)];
    const result = rebuild.buildId
      ? el('a', {href: `/builds?${q({project: state.project})}`, 'data-route': true},
           `build ${rebuild.buildId} · 构建`)
      : el('span', {class: 'badge state-failed'}, rebuild.outcome || 'not queued');
    return el('li', {dataset: {testid: 'base-rebuild-item'}}, ...change, ' ', result, ' ',
              rebuild.buildId && rebuild.outcome ? el('span', {class: 'muted'}, rebuild.outcome) : null, ' ',
              timeNode(rebuild.createdAt));
  }

  async function load() {
    const seq = ++state.seq;
    const answer = await api('GET', '/api/project/baseRebuild?' + q({projectName: state.project}));
    if (state.stopped || seq !== state.seq) return;
    if (!ok(answer)) {
      content.hidden = true;
      say(notice, `Could not read the base-image rebuilds: ${describe(answer)}`, 'error');
      return;
    }
    content.hidden = false;
    const status = answer.content;
    toggle.input.checked = !!status.rebuildOnBaseChange;
    const images = Array.isArray(status.baseImages) ? status.baseImages : [];
    bases.replaceChildren(...images.map((base) => el('li', {},
      el('code', {}, base.image || ''), ' ',
      el('span', {class: 'muted', title: base.digest || ''}, base.digest ? shortDigest(base.digest) : 'digest unknown · 摘要未知'))));
    basesEmpty.hidden = status.latestBuildId !== null && status.latestBuildId !== undefined;
    const list = Array.isArray(status.rebuilds) ? status.rebuilds : [];
    rebuilds.replaceChildren(...(list.length ? list.map(rebuildLine)
      : [el('li', {class: 'muted'}, 'None yet. · 暂无。')]));
  }

  toggle.input.addEventListener('change', async () => {
    const enabled = toggle.input.checked;
    toggle.input.disabled = true;
    const answer = await api('POST', '/api/project/baseRebuild',
                             {projectName: state.project, enabled, operator: session.operator()});
    toggle.input.disabled = false;
    if (state.stopped) return;
    if (ok(answer)) {
      say(notice, enabled ? 'Rebuilds on a base change are on. · 已开启。' : 'Rebuilds on a base change are off. · 已关闭。', 'ok');
    } else {
      toggle.input.checked = !enabled;
      say(notice, `Could not change the setting: ${describe(answer)}`, 'error');
    }
    load();
  });

  return {
    node,
    // Shows `project`'s setting, or nothing without a project.
    show(project) {
      state.project = project;
      say(notice, '');
      node.hidden = !project;
      if (project) load();
    },
    stop() { state.stopped = true; },
  };
}
