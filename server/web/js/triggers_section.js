// The build triggers of a project, a section of the Webhooks view: URLs a git host POSTs to on a
// push or a tag, each starting builds of the project with tags from its templates; a secret
// shown once when the server makes it; a Start form for a ref and commit by hand. A server
// without the triggers API answers 404 "no such endpoint": the section says so.
import {api, describe, ok, q} from './api.js';
import {bilingual, checkbox, copyButton, el, enabledState, formDialog, labelled, say, showRefusal, statusLine,
  textInput, timeNode, withProgress} from './dom.js';
import {triggerDeliveries} from './trigger_deliveries.js';

// Branch and tag rules are regular expressions, sent as typed; templates are a list.
const listText = (value) => (Array.isArray(value) ? value.join(', ') : String(value || ''));
const splitList = (text) => text.split(/[\s,]+/).filter(Boolean);

// `dialog`: the view's one modal dialog, shared so that its ids stay unique.
export function triggersSection(session, dialog) {
  const state = {project: '', editing: null, seq: 0, stopped: false};
  const notice = statusLine('triggers-notice');
  const progress = el('span', {class: 'status', hidden: true}, 'Loading… 加载中…');
  const unavailable = el('p', {class: 'empty', hidden: true, dataset: {testid: 'triggers-unavailable'}});
  const newButton = el('button', {type: 'button', class: 'primary', dataset: {testid: 'trigger-new'}},
                       'New trigger · 新建触发器');
  const secretBox = el('div', {class: 'secret', hidden: true, dataset: {testid: 'trigger-secret-box'}});
  const started = el('div', {hidden: true, dataset: {testid: 'trigger-started'}, role: 'status'});
  const body = el('tbody', {dataset: {testid: 'triggers'}});
  const table = el('table', {},
    el('caption', {class: 'visually-hidden'}, 'Build triggers'),
    el('thead', {}, el('tr', {},
      ...[['Name', '名称'], ['URL for the git host', '供代码托管平台调用的地址'], ['Refs', '分支与标签'],
          ['Tags it pushes', '推送的标签'], ['State', '状态']]
        .map(([en, zh]) => el('th', {scope: 'col'}, ...bilingual(en, zh))),
      el('th', {scope: 'col'}, el('span', {class: 'visually-hidden'}, 'Actions')))),
    body);
  const empty = el('p', {class: 'empty', hidden: true, dataset: {testid: 'triggers-empty'}});
  const form = triggerForm();
  const received = triggerDeliveries(() => state.project);
  const content = el('div', {}, el('div', {class: 'row'}, newButton), form.node, secretBox,
                     el('div', {class: 'table-wrap'}, table), empty, started, received.node);
  const node = el('section', {class: 'card', hidden: true, 'aria-labelledby': 'triggers-heading',
                              dataset: {testid: 'triggers-section'}},
    el('h2', {id: 'triggers-heading'}, ...bilingual('Build triggers', '构建触发器'), ' ', progress),
    el('p', {class: 'help'}, 'A git host (GitHub, GitLab, Gitea) POSTs to a trigger’s URL on a push or a tag; ' +
       'the trigger builds the project and tags the image from its templates. · ' +
       '代码托管平台在推送或打标签时调用触发器地址，触发器随即构建镜像。'),
    notice, unavailable, content);

  const fullUrl = (trigger) => new URL(trigger.url || '', location.origin).href;

  function row(trigger) {
    const id = trigger.id;
    const action = (testid, text, onclick, extra = {}) =>
      el('button', {type: 'button', class: 'link', dataset: {testid: `${testid}-${id}`},
                    'aria-label': `${text}: ${trigger.name}`, onclick, ...extra}, text);
    const refs = [];
    if (listText(trigger.branches)) refs.push(el('div', {}, 'branches · 分支 ', el('code', {}, listText(trigger.branches))));
    if (listText(trigger.tags)) refs.push(el('div', {}, 'tags · 标签 ', el('code', {}, listText(trigger.tags))));
    if (trigger.defaultBranch) refs.push(el('div', {class: 'muted'}, 'default branch · 默认分支 ', el('code', {}, trigger.defaultBranch)));
    const templates = Array.isArray(trigger.tagTemplates) ? trigger.tagTemplates : [];
    return el('tr', {dataset: {trigger: id}},
      el('td', {}, el('strong', {}, trigger.name),
         el('div', {class: 'muted'}, trigger.hasSecret ? 'secret set · 已设密钥' : 'no secret · 无密钥')),
      el('td', {class: 'url'}, el('code', {dataset: {testid: `trigger-url-${id}`}}, fullUrl(trigger)), ' ',
         copyButton(fullUrl(trigger), `the URL of trigger ${trigger.name}`, `trigger-copy-${id}`)),
      el('td', {}, ...(refs.length ? refs : ['—'])),
      el('td', {}, ...templates.flatMap((template, i) => [i ? ', ' : '', el('code', {}, String(template))]),
         trigger.latest ? el('div', {class: 'muted'}, 'and latest · 以及 latest') : null,
         !templates.length && !trigger.latest ? '—' : null),
      el('td', {}, enabledState(trigger)),
      el('td', {class: 'actions-cell wrap'},
         action('trigger-start', 'Start · 启动', () => startDialog(trigger)),
         action('trigger-received', 'Received · 接收记录', () => received.show(trigger)),
         action('trigger-edit', 'Edit · 编辑', () => editTrigger(id)),
         action('trigger-toggle', trigger.enabled ? 'Disable · 停用' : 'Enable · 启用', () => toggle(trigger)),
         action('trigger-delete', 'Delete · 删除', () => deleteTrigger(trigger), {class: 'link danger'})));
  }

  async function load() {
    const seq = ++state.seq;
    const answer = await withProgress(progress, api('GET', '/api/triggers/list?' + q({project: state.project})));
    if (state.stopped || seq !== state.seq) return;
    if (answer.status === 404 && /no such endpoint/i.test(answer.errMsg || '')) {
      unavailable.textContent = 'This server has no build triggers yet (/api/triggers answers 404). · ' +
                                '此服务器尚不支持构建触发器。';
      unavailable.hidden = false;
      content.hidden = true;
      return;
    }
    unavailable.hidden = true;
    content.hidden = false;
    if (!ok(answer)) {
      say(notice, `Could not list the build triggers of ${state.project}: ${describe(answer)}`, 'error');
      return;
    }
    if (notice.classList.contains('error')) say(notice, '');
    const triggers = Array.isArray(answer.content) ? answer.content : [];
    body.replaceChildren(...triggers.map(row));
    table.hidden = triggers.length === 0;
    empty.hidden = triggers.length !== 0;
    empty.textContent = `${state.project} has no build triggers yet. · 该项目还没有构建触发器。`;
  }

  // ---- create and edit ----

  function triggerForm() {
    const latest = checkbox('trigger-latest', ['Also tag latest · 同时标记 latest']);
    const enabled = checkbox('trigger-enabled', ['Enabled · 启用']);
    const controls = {
      name: textInput('trigger-name', {required: true, maxlength: 64, placeholder: 'github-main'}),
      secret: textInput('trigger-secret', {type: 'password', autocomplete: 'new-password', maxlength: 256,
                                       'aria-describedby': 'trigger-secret-help'}),
      branches: textInput('trigger-branches', {placeholder: 'main|release/.*'}),
      tags: textInput('trigger-tags', {placeholder: 'v[0-9].*'}),
      tagTemplates: textInput('trigger-templates', {placeholder: '${short_sha}, ${branch}'}),
      defaultBranch: textInput('trigger-default-branch', {placeholder: 'main'}),
      latest: latest.input,
      enabled: enabled.input,
    };
    const secretHelp = el('p', {class: 'help', id: 'trigger-secret-help'});
    const heading = el('h3', {id: 'trigger-form-heading'});
    const status = statusLine('trigger-form-status');
    const formNode = el('form', {class: 'new-project', hidden: true, dataset: {testid: 'trigger-form'},
                                 'aria-labelledby': 'trigger-form-heading'},
      heading,
      el('div', {class: 'fields'},
         labelled('trigger-name', 'Name', '名称', controls.name),
         el('div', {}, labelled('trigger-secret', 'Secret', '密钥', controls.secret), secretHelp),
         el('div', {}, labelled('trigger-branches', 'Branches', '分支', controls.branches),
            el('p', {class: 'help'}, 'a regular expression matching the whole branch name; empty: the default branch only · 正则表达式，留空为默认分支')),
         el('div', {}, labelled('trigger-tags', 'Git tags', 'Git 标签', controls.tags),
            el('p', {class: 'help'}, 'a regular expression matching the whole tag name; empty: tag pushes build nothing · 正则表达式，留空则不构建标签')),
         el('div', {}, labelled('trigger-templates', 'Image tag templates', '镜像标签模板', controls.tagTemplates),
            el('p', {class: 'help'}, 'comma-separated, e.g. ${short_sha} · 逗号分隔')),
         labelled('trigger-default-branch', 'Default branch', '默认分支', controls.defaultBranch)),
      latest.node, enabled.node,
      el('div', {class: 'row'},
         el('button', {type: 'submit', class: 'primary', dataset: {testid: 'trigger-save'}}, 'Save · 保存'),
         el('button', {type: 'button', onclick: () => close()}, 'Cancel · 取消'), status));

    formNode.addEventListener('submit', async (event) => {
      event.preventDefault();
      const editing = state.editing;
      const request = {
        name: controls.name.value.trim(), branches: controls.branches.value.trim(), tags: controls.tags.value.trim(),
        tagTemplates: splitList(controls.tagTemplates.value), latest: controls.latest.checked,
        defaultBranch: controls.defaultBranch.value.trim(), enabled: controls.enabled.checked,
        operator: session.operator()};
      // Write-only: an empty field keeps the secret (or, on create, has the server make one).
      if (controls.secret.value) request.secret = controls.secret.value;
      if (editing) request.id = editing.id;
      else request.project = state.project;
      say(status, 'Saving… 保存中…');
      const answer = await api('POST', editing ? '/api/triggers/update' : '/api/triggers/new', request);
      if (!ok(answer)) {
        showRefusal(status, answer, controls);
        return;
      }
      const trigger = answer.content;
      close();
      say(notice, `${editing ? 'Saved' : 'Created'} the trigger ${trigger.name}. · 已保存。`, 'ok');
      if (!editing && trigger.secret) showSecret(trigger);
      load();
    });

    function open(trigger) {
      state.editing = trigger;
      formNode.reset();
      for (const control of Object.values(controls)) control.removeAttribute('aria-invalid');
      say(status, '');
      heading.replaceChildren(...(trigger ? bilingual(`Edit the trigger ${trigger.name}`, '编辑触发器')
                                           : bilingual(`New build trigger of ${state.project}`, '新建构建触发器')));
      controls.name.value = trigger ? trigger.name : '';
      controls.branches.value = trigger ? listText(trigger.branches) : '';
      controls.tags.value = trigger ? listText(trigger.tags) : '';
      controls.tagTemplates.value = trigger ? listText(trigger.tagTemplates) : '';
      controls.defaultBranch.value = trigger ? trigger.defaultBranch || '' : '';
      controls.latest.checked = trigger ? Boolean(trigger.latest) : false;
      controls.enabled.checked = trigger ? Boolean(trigger.enabled) : true;
      controls.secret.value = '';
      controls.secret.placeholder = trigger ? 'leave empty to keep · 留空则保留' : 'empty: the server makes one · 留空自动生成';
      secretHelp.textContent = trigger
        ? 'The secret is never shown again. Leave empty to keep it. · 密钥不再显示；留空则保留。'
        : 'The git host signs its requests with it; shown once after saving. · 用于验证请求；仅显示一次。';
      formNode.hidden = false;
      controls.name.focus();
    }

    // Emptied as it closes: a typed secret stays nowhere on the page.
    function close() {
      formNode.reset();
      formNode.hidden = true;
      state.editing = null;
    }
    return {node: formNode, open, close};
  }

  // The secret, once: the server answers it only to the create.
  function showSecret(trigger) {
    secretBox.replaceChildren(
      el('p', {}, el('strong', {}, `Secret of the trigger ${trigger.name}: `),
         'copy it now into the git host’s webhook settings, it is shown only once. · ' +
         '请立即复制到代码托管平台的 Webhook 设置中，密钥只显示这一次。'),
      el('code', {class: 'secret-value', dataset: {testid: 'trigger-secret-value'}}, trigger.secret), ' ',
      copyButton(trigger.secret, `the secret of trigger ${trigger.name}`, 'trigger-secret-copy'),
      el('p', {}, 'Payload URL · 地址 ', el('code', {}, fullUrl(trigger)), ' ',
         copyButton(fullUrl(trigger), `the URL of trigger ${trigger.name}`, 'trigger-secret-url-copy')),
      el('button', {type: 'button', onclick: () => { secretBox.hidden = true; secretBox.replaceChildren(); }},
         'Done · 完成'));
    secretBox.hidden = false;
  }

  newButton.addEventListener('click', () => {
    secretBox.hidden = true;
    secretBox.replaceChildren();
    form.open(null);
  });

  async function editTrigger(id) {
    const answer = await api('GET', '/api/triggers/get?' + q({id}));
    if (!ok(answer)) {
      say(notice, `Could not read trigger ${id}: ${describe(answer)}`, 'error');
      return;
    }
    form.open(answer.content);
  }

  async function toggle(trigger) {
    const answer = await api('POST', '/api/triggers/update', {id: trigger.id, enabled: !trigger.enabled,
                                                             operator: session.operator()});
    if (ok(answer)) {
      say(notice, `${answer.content.enabled ? 'Enabled' : 'Disabled'} the trigger ${trigger.name}. · ` +
          (answer.content.enabled ? '已启用。' : '已停用。'), 'ok');
    } else {
      say(notice, `Could not change the trigger ${trigger.name}: ${describe(answer)}`, 'error');
    }
    load();
  }

  function deleteTrigger(trigger) {
    formDialog(dialog, {
      title: `Delete the build trigger ${trigger.name}? · 删除触发器？`,
      fields: [el('p', {class: 'help'}, 'The git host’s requests to its URL are refused from then on; ' +
                  'builds it started stay. · 此后对其地址的请求将被拒绝；已有构建保留。')],
      submitText: 'Delete · 删除',
      submitAttrs: {class: 'primary danger', dataset: {testid: 'trigger-delete-confirm'}},
      act: () => api('POST', '/api/triggers/delete', {id: trigger.id, operator: session.operator()}),
      done: () => {
        say(notice, `Deleted the trigger ${trigger.name}. · 已删除。`, 'ok');
        if (state.editing && state.editing.id === trigger.id) form.close();
        received.hide();
        load();
      }});
  }

  // ---- start by hand ----

  function startDialog(trigger) {
    const ref = textInput('trigger-start-ref', {placeholder: trigger.defaultBranch || 'main'});
    const sha = textInput('trigger-start-sha', {placeholder: 'empty: the ref’s newest commit · 留空为最新提交'});
    formDialog(dialog, {
      title: `Start ${trigger.name} · 手动启动`,
      fields: [el('p', {class: 'help'}, 'Builds as a push of this ref would. · 按推送该分支的方式构建。'),
               labelled('trigger-start-ref', 'Ref (branch or tag)', '分支或标签', ref),
               labelled('trigger-start-sha', 'Commit', '提交', sha)],
      submitText: 'Start · 启动',
      submitAttrs: {dataset: {testid: 'trigger-start-submit'}},
      controls: {ref, sha},
      act: () => {
        const request = {id: trigger.id, operator: session.operator()};
        if (ref.value.trim()) request.ref = ref.value.trim();
        if (sha.value.trim()) request.sha = sha.value.trim();
        return api('POST', '/api/triggers/start', request);
      },
      done: (answer) => showStarted(trigger, answer.content ? [answer.content] : [])});
    ref.focus();
  }

  function showStarted(trigger, builds) {
    const link = `/builds?${q({project: state.project})}`;
    started.replaceChildren(
      el('p', {class: 'status ok'}, builds.length
        ? `${trigger.name} started ${builds.length === 1 ? 'a build' : builds.length + ' builds'}: · 已启动构建：`
        : `${trigger.name} started no build (nothing matched). · 没有启动构建。`),
      ...builds.map((build) => el('p', {dataset: {build: build.id}},
        el('a', {href: link, 'data-route': true}, `Build ${build.id} · 构建`), ' ',
        el('code', {}, build.tag || ''), ' ',
        Array.isArray(build.extraTags) && build.extraTags.length
          ? el('span', {class: 'muted'}, 'also · 附加 ', build.extraTags.join(', ')) : null,
        ' ', el('span', {class: 'badge state-' + build.state}, build.state || ''), ' ', timeNode(build.queuedAt))));
    started.hidden = false;
    load();
  }

  return {
    node,
    // Shows the triggers of `project`, or nothing without one (triggers are a project's).
    show(project) {
      state.project = project;
      form.close();
      secretBox.hidden = true;
      secretBox.replaceChildren();
      started.hidden = true;
      received.hide();
      say(notice, '');
      node.hidden = !project;
      if (project) load();
    },
    stop() { state.stopped = true; },
  };
}
