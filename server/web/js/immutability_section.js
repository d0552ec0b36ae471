// The immutability rules, a section of the Registry view: which tags no build may push over and
// no delete may remove once they exist. Everyone who may read sees them; admins create, edit,
// enable, disable and delete them (the server refuses anyone else anyway).
import {api, describe, ok} from './api.js';
import {bilingual, checkbox, el, formDialog, labelled, say, showRefusal, statusLine, textInput, timeNode,
  withProgress} from './dom.js';

// `dialog`: the view's one modal dialog, shared so that its ids stay unique.
export function immutabilitySection(session, dialog) {
  const state = {editing: null, stopped: false};
  const notice = statusLine('immutability-notice');
  const progress = el('span', {class: 'status', hidden: true}, 'Loading… 加载中…');
  const newButton = el('button', {type: 'button', class: 'primary', dataset: {testid: 'immutability-new'}},
                       'New rule · 新建规则');
  const body = el('tbody', {dataset: {testid: 'immutability-rules'}});
  const table = el('table', {hidden: true},
    el('caption', {class: 'visually-hidden'}, 'Immutability rules'),
    el('thead', {}, el('tr', {},
      ...[['Repositories', '镜像库'], ['Tags', '标签'], ['Description', '说明'], ['State', '状态'], ['Created', '创建']]
        .map(([en, zh]) => el('th', {scope: 'col'}, ...bilingual(en, zh))),
      el('th', {scope: 'col'}, el('span', {class: 'visually-hidden'}, 'Actions')))),
    body);
  const empty = el('p', {class: 'empty', hidden: true, dataset: {testid: 'immutability-empty'}},
                   'No tag is immutable yet. · 还没有不可变标签规则。');
  const form = ruleForm();
  const node = el('section', {class: 'card', 'aria-labelledby': 'immutability-heading',
                              dataset: {testid: 'immutability-section'}},
    el('h2', {id: 'immutability-heading'}, ...bilingual('Immutable tags', '不可变标签'), ' ', progress),
    el('p', {class: 'help'}, 'Once a tag a rule protects exists, builds do not push over it and it cannot be ' +
       'deleted here; its first push is allowed. · 受保护的标签一旦存在，就不能被构建覆盖或删除；首次推送允许。'),
    notice, el('div', {class: 'row'}, newButton), form.node,
    el('div', {class: 'table-wrap'}, table), empty);

  const adminOnly = (button) => {
    const reason = session.can('admin');
    if (reason) {
      button.disabled = true;
      button.title = reason;
    }
    return button;
  };

  function row(rule) {
    const id = rule.id;
    const action = (testid, text, onclick, extra = {}) => adminOnly(
      el('button', {type: 'button', class: 'link', dataset: {testid: `${testid}-${id}`},
                    'aria-label': `${text}: rule ${id}`, onclick, ...extra}, text));
    return el('tr', {dataset: {rule: id}},
      el('td', {}, el('code', {}, rule.repository), el('div', {class: 'muted'}, `rule ${id} · 规则`)),
      el('td', {}, el('code', {}, rule.tagPattern)),
      el('td', {}, rule.description || '—'),
      el('td', {}, rule.enabled ? el('span', {class: 'badge state-succeeded'}, 'enabled · 已启用')
                                : el('span', {class: 'badge state-cancelled'}, 'disabled · 已停用')),
      el('td', {class: 'nowrap'}, timeNode(rule.createdAt), el('div', {class: 'muted'}, rule.creator || '')),
      el('td', {class: 'actions-cell wrap'},
         action('immutability-edit', 'Edit · 编辑', () => form.open(rule)),
         action('immutability-toggle', rule.enabled ? 'Disable · 停用' : 'Enable · 启用', () => toggle(rule)),
         action('immutability-delete', 'Delete · 删除', () => deleteRule(rule), {class: 'link danger'})));
  }

  async function load() {
    const answer = await withProgress(progress, api('GET', '/api/immutability/list'));
    if (state.stopped) return;
    if (!ok(answer)) {
      say(notice, `Could not list the immutability rules: ${describe(answer)}`, 'error');
      return;
    }
    const rules = Array.isArray(answer.content) ? answer.content : [];
    body.replaceChildren(...rules.map(row));
    table.hidden = rules.length === 0;
    empty.hidden = rules.length !== 0;
  }

  function ruleForm() {
    const enabled = checkbox('immutability-enabled', ['Enabled · 启用']);
    const controls = {
      repository: textInput('immutability-repository', {required: true, maxlength: 255,
                                                        placeholder: 'default_cluster/*'}),
      tagPattern: textInput('immutability-pattern', {required: true, maxlength: 256,
                                                     placeholder: 'v[0-9]+(\\.[0-9]+)*'}),
      description: textInput('immutability-description', {maxlength: 1024}),
      enabled: enabled.input,
    };
    const heading = el('h3', {id: 'immutability-form-heading'});
    const status = statusLine('immutability-form-status');
    const formNode = el('form', {class: 'new-project', hidden: true, dataset: {testid: 'immutability-form'},
                                 'aria-labelledby': 'immutability-form-heading'},
      heading,
      el('div', {class: 'fields'},
         el('div', {}, labelled('immutability-repository', 'Repositories', '镜像库', controls.repository),
            el('p', {class: 'help'}, '<project>/<repository>; * within a name part, ** across / · * 不跨越 /，** 跨越')),
         el('div', {}, labelled('immutability-pattern', 'Tag pattern', '标签规则', controls.tagPattern),
            el('p', {class: 'help'}, 'a regular expression matching the whole tag; .* for every tag · 匹配整个标签的正则表达式')),
         labelled('immutability-description', 'Description', '说明', controls.description)),
      enabled.node,
      el('div', {class: 'row'},
         el('button', {type: 'submit', class: 'primary', dataset: {testid: 'immutability-save'}}, 'Save · 保存'),
         el('button', {type: 'button', onclick: () => close()}, 'Cancel · 取消'), status));

    formNode.addEventListener('submit', async (event) => {
      event.preventDefault();
      const editing = state.editing;
      const request = {repository: controls.repository.value.trim(), tagPattern: controls.tagPattern.value,
                       description: controls.description.value, enabled: controls.enabled.checked,
                       operator: session.operator()};
      if (editing) request.id = editing.id;
      say(status, 'Saving… 保存中…');
      const answer = await api('POST', editing ? '/api/immutability/update' : '/api/immutability/new', request);
      if (!ok(answer)) {
        showRefusal(status, answer, controls);
        return;
      }
      close();
      say(notice, `${editing ? 'Saved' : 'Created'} rule ${answer.content.id}. · 已保存。`, 'ok');
      load();
    });

    function open(rule) {
      state.editing = rule;
      formNode.reset();
      for (const control of Object.values(controls)) control.removeAttribute('aria-invalid');
      say(status, '');
      heading.replaceChildren(...(rule ? bilingual(`Edit rule ${rule.id}`, '编辑规则')
                                        : bilingual('New immutability rule', '新建不可变规则')));
      controls.repository.value = rule ? rule.repository : '';
      controls.tagPattern.value = rule ? rule.tagPattern : '';
      controls.description.value = rule ? rule.description || '' : '';
      controls.enabled.checked = rule ? Boolean(rule.enabled) : true;
      formNode.hidden = false;
      controls.repository.focus();
    }

    function close() {
      formNode.reset();
      formNode.hidden = true;
      state.editing = null;
    }
    return {node: formNode, open, close};
  }

  async function toggle(rule) {
    const answer = await api('POST', '/api/immutability/update', {id: rule.id, enabled: !rule.enabled,
                                                                 operator: session.operator()});
    if (ok(answer)) {
      say(notice, `${answer.content.enabled ? 'Enabled' : 'Disabled'} rule ${rule.id}. · ` +
          (answer.content.enabled ? '已启用。' : '已停用。'), 'ok');
    } else {
      say(notice, `Could not change rule ${rule.id}: ${describe(answer)}`, 'error');
    }
    load();
  }

  function deleteRule(rule) {
    formDialog(dialog, {
      title: `Delete immutability rule ${rule.id}? · 删除规则？`,
      fields: [el('p', {class: 'help'}, `The tags matching ${rule.repository} : ${rule.tagPattern} can then be ` +
                  'pushed over and deleted. · 删除后这些标签可被覆盖和删除。')],
      submitText: 'Delete · 删除',
      submitAttrs: {class: 'primary danger', dataset: {testid: 'immutability-delete-confirm'}},
      act: () => api('POST', '/api/immutability/delete', {id: rule.id, operator: session.operator()}),
      done: () => {
        say(notice, `Deleted rule ${rule.id}. · 已删除。`, 'ok');
        if (state.editing && state.editing.id === rule.id) form.close();
        load();
      }});
  }

  newButton.addEventListener('click', () => form.open(null));

  return {
    node,
    async show() {
      await session.ready;  // the admins' buttons
      adminOnly(newButton);
      load();
    },
    stop() { state.stopped = true; },
  };
}
