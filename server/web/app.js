// The project configuration page: project fields, the plugin pipeline editor generated from the
// plugin schemas, a live Dockerfile preview, save, build and the build history with live logs.
// An ES module; the DOM is built with createElement/textContent only (js/dom.js), so no value
// from the server or the user is ever parsed as HTML.
import {api, describe, ok, q, saveOperator, savedOperator} from './js/api.js';
import {byId, copyButton, el, setStatus, showTime, formatTime} from './js/dom.js';
import {followLog as followBuildLog} from './js/log_follow.js';
import {buildOrigin} from './js/build_trigger.js';
import {installSignIn} from './js/signin.js';

(() => {
  const PREVIEW_DELAY_MS = 300;
  const HISTORY_POLL_MS = 3000;
  const HISTORY_PAGE_SIZE = 5;
  const SECRET_MARKER = '******';
  const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
  // Plugins that belong to one Dockerfile type each; every other plugin belongs to `tool`.
  const TYPE_PLUGIN = {edit: 'static_dockerfile', download: 'download_dockerfile'};
  const TYPE_HELP = {
    tool: 'Compose the Dockerfile from plugins, with exactly one base image. · 由插件组合，且只有一个基础镜像。',
    edit: 'Write the Dockerfile yourself in one static_dockerfile plugin. · 在一个 static_dockerfile 插件中手写。',
    download: 'Take the Dockerfile from a git/svn repository (one download_dockerfile). · 从代码库获取。',
  };

  const projectName = JSON.parse(document.getElementById('market-page-data').textContent).projectName;

  const state = {
    schemas: new Map(),   // plugin name -> schema
    schemaList: [],
    info: null,
    type: 'tool',
    // One pipeline per Dockerfile type, so switching the type back and forth loses nothing.
    pipelines: {tool: [], edit: [], download: []},
    nextUid: 1,
    dirty: false,
    previewSeq: 0,
    previewTimer: 0,
    historyTimer: 0,
    historyPage: 1,
    logAbort: null,
    baseImages: null,     // names from the base image plugin's extension, once asked
  };

  // ---- small DOM helpers ----------------------------------------------------------------

  function setMessage(text, kind) {
    const box = byId('page-message');
    box.textContent = text || '';
    box.className = 'page-message' + (kind ? ' ' + kind : '');
    box.hidden = !text;
  }

  function helpText(attr) {
    return [attr.help_en, attr.help_zh].filter(Boolean).join(' · ');
  }

  function pluginTitle(schema, name) {
    if (!schema) return name;
    const parts = [schema.title_en || name];
    if (schema.title_zh) parts.push(schema.title_zh);
    return parts.join(' · ');
  }

  function operator() {
    return byId('operator').value.trim();
  }

  // Saves and builds record who did them; ask for the name before sending.
  function requireOperator(statusId) {
    if (operator()) return true;
    setStatus(statusId, 'Enter your name in Operator first. · 请先填写操作者。', 'error');
    byId('operator').focus();
    return false;
  }

  // ---- pipeline entries -----------------------------------------------------------------

  // The attributes of a schema that are the value half of a key_value_list: they are edited
  // in the same rows as their keys, not as fields of their own.
  function pairedNames(schema) {
    const names = new Set();
    for (const attr of schema.attributes) {
      if (attr.kind === 'key_value_list' && attr.pair) names.add(attr.pair);
    }
    return names;
  }

  function editableAttributes(schema) {
    const paired = pairedNames(schema);
    return schema.attributes.filter((attr) => !paired.has(attr.name));
  }

  function toList(value) {
    if (Array.isArray(value)) return value.map((v) => (v === null || v === undefined ? '' : String(v)));
    if (value === undefined || value === null || value === '') return [];
    return [String(value)];
  }

  function toText(value) {
    if (Array.isArray(value)) return value.length ? String(value[0]) : '';
    return value === undefined || value === null ? '' : String(value);
  }

  // An entry of the editor. `values` holds strings (string, choice), arrays of strings (list)
  // and arrays of {key, value} rows (key_value_list). Secrets live apart in `secrets`: only
  // whether one is set, and what the user typed; the stored value never reaches the page.
  function makeEntry(plugin, stored) {
    const schema = state.schemas.get(plugin) || null;
    const entry = {uid: state.nextUid++, plugin, schema, values: {}, secrets: {}, raw: null};
    if (!schema) {
      // Unknown to this server's schema list: keep what was stored and send it back as is.
      entry.raw = Object.assign({}, stored || {});
      delete entry.raw.$$plugin;
      return entry;
    }
    for (const attr of editableAttributes(schema)) {
      const value = stored ? stored[attr.name] : undefined;
      switch (attr.kind) {
        case 'secret':
          entry.secrets[attr.name] = {set: toText(value) !== '', typed: false, value: ''};
          break;
        case 'list': {
          const list = toList(value);
          entry.values[attr.name] = list.length ? list : [''];
          break;
        }
        case 'key_value_list': {
          const keys = toList(value);
          const values = toList(stored ? stored[attr.pair] : undefined);
          const rows = [];
          for (let i = 0; i < Math.max(keys.length, values.length); i++) {
            rows.push({key: keys[i] || '', value: values[i] || ''});
          }
          entry.values[attr.name] = rows.length ? rows : [{key: '', value: ''}];
          break;
        }
        case 'choice': {
          const text = toText(value);
          entry.values[attr.name] = stored || !attr.required ? text : (attr.choices || [''])[0] || '';
          break;
        }
        default:
          entry.values[attr.name] = toText(value);
      }
    }
    return entry;
  }

  function currentPipeline() {
    return state.pipelines[state.type];
  }

  function pluginFitsType(name, type) {
    if (type === 'tool') return !Object.values(TYPE_PLUGIN).includes(name);
    return TYPE_PLUGIN[type] === name;
  }

  // ---- the form encoding of /api/project/save ---------------------------------------------

  // project=NAME&Cluster=..&DefineDockerFileType=..&addOrUpdate=update&operator=..
  // &$$plugin=run&run.value=a&run.value=b&$$plugin=env_set&env_set.key=A&env_set.value=1
  function formState() {
    const form = new URLSearchParams();
    form.append('project', projectName);
    form.append('Cluster', byId('field-cluster').value.trim());
    form.append('DefineDockerFileType', state.type);
    form.append('addOrUpdate', 'update');
    if (operator()) form.append('operator', operator());
    for (const entry of currentPipeline()) appendEntry(form, entry);
    return form;
  }

  function appendEntry(form, entry) {
    const name = entry.plugin;
    form.append('$$plugin', name);
    if (!entry.schema) {
      for (const [attr, value] of Object.entries(entry.raw)) {
        for (const item of Array.isArray(value) ? value : [value]) form.append(`${name}.${attr}`, item);
      }
      return;
    }
    for (const attr of editableAttributes(entry.schema)) {
      const key = `${name}.${attr.name}`;
      const value = entry.values[attr.name];
      switch (attr.kind) {
        case 'secret': {
          // Typed into: the new value (empty clears it). Untouched and stored: the redaction
          // marker, which the server reads as "keep the stored value" (a missing attribute
          // would clear it). Untouched and unset: nothing.
          const secret = entry.secrets[attr.name];
          if (secret.typed) form.append(key, secret.value);
          else if (secret.set) form.append(key, SECRET_MARKER);
          break;
        }
        case 'list':
          for (const item of value) if (item.trim() !== '') form.append(key, item);
          break;
        case 'key_value_list':
          for (const row of value) {
            if (row.key.trim() === '' && row.value.trim() === '') continue;
            form.append(key, row.key);
            form.append(`${name}.${attr.pair}`, row.value);
          }
          break;
        default:
          if (value !== '' || attr.required) form.append(key, value);
      }
    }
  }

  // ---- rendering the pipeline -------------------------------------------------------------

  function fieldId(entry, attr, suffix) {
    return `e${entry.uid}-${attr.name}` + (suffix === undefined ? '' : `-${suffix}`);
  }

  function changed() {
    markDirty();
    schedulePreview();
  }

  function markDirty() {
    state.dirty = true;
    byId('dirty-indicator').hidden = false;
  }

  function renderPipeline(focusId) {
    const list = byId('pipeline-list');
    const pipeline = currentPipeline();
    list.replaceChildren(...pipeline.map((entry, index) => renderEntry(entry, index, pipeline.length)));
    byId('pipeline-empty').hidden = pipeline.length > 0;
    renderAddOptions();
    if (focusId) {
      const target = byId(focusId);
      if (target) target.focus();
    }
  }

  function renderAddOptions() {
    const select = byId('add-plugin-select');
    const previous = select.value;
    const options = state.schemaList
      .filter((schema) => pluginFitsType(schema.name, state.type))
      .map((schema) => el('option', {value: schema.name, text: `${pluginTitle(schema, schema.name)} (${schema.name})`}));
    select.replaceChildren(...options);
    if (options.some((option) => option.value === previous)) select.value = previous;
    byId('add-plugin-button').disabled = options.length === 0;
  }

  function moveEntry(entry, delta) {
    const pipeline = currentPipeline();
    const from = pipeline.indexOf(entry);
    const to = from + delta;
    if (from < 0 || to < 0 || to >= pipeline.length) return;
    pipeline.splice(from, 1);
    pipeline.splice(to, 0, entry);
    // Keep focus on the button pressed unless it is now disabled at the end of the list.
    let focus = `e${entry.uid}-${delta < 0 ? 'up' : 'down'}`;
    if ((delta < 0 && to === 0) || (delta > 0 && to === pipeline.length - 1)) {
      focus = `e${entry.uid}-${delta < 0 ? 'down' : 'up'}`;
    }
    renderPipeline(focus);
    changed();
  }

  function removeEntry(entry) {
    const pipeline = currentPipeline();
    const index = pipeline.indexOf(entry);
    if (index < 0) return;
    pipeline.splice(index, 1);
    const next = pipeline[index] || pipeline[index - 1];
    renderPipeline(next ? `e${next.uid}-remove` : 'add-plugin-select');
    changed();
  }

  function renderEntry(entry, index, count) {
    const title = pluginTitle(entry.schema, entry.plugin);
    const headingId = `e${entry.uid}-title`;
    const head = el('div', {class: 'plugin-head'},
      el('span', {class: 'plugin-index', 'aria-hidden': 'true', text: String(index + 1)}),
      el('h3', {id: headingId, class: 'plugin-title'}, title, ' ', el('code', {text: entry.plugin})),
      el('div', {class: 'plugin-tools'},
        el('button', {type: 'button', class: 'icon', id: `e${entry.uid}-up`, 'data-testid': 'move-up',
                      'aria-label': `Move ${entry.plugin} up`, title: 'Move up · 上移',
                      disabled: index === 0, onclick: () => moveEntry(entry, -1)}, '↑'),
        el('button', {type: 'button', class: 'icon', id: `e${entry.uid}-down`, 'data-testid': 'move-down',
                      'aria-label': `Move ${entry.plugin} down`, title: 'Move down · 下移',
                      disabled: index === count - 1, onclick: () => moveEntry(entry, 1)}, '↓'),
        el('button', {type: 'button', class: 'icon danger', id: `e${entry.uid}-remove`, 'data-testid': 'remove-plugin',
                      'aria-label': `Remove ${entry.plugin}`, title: 'Remove · 删除',
                      onclick: () => removeEntry(entry)}, '✕')));
    const body = el('div', {class: 'plugin-body'});
    if (!entry.schema) {
      body.append(el('p', {class: 'error', text: `Unknown plugin “${entry.plugin}”: kept as stored. · 未知插件，按原样保留。`}));
    } else {
      for (const attr of editableAttributes(entry.schema)) body.append(renderAttribute(entry, attr));
    }
    return el('li', {class: 'plugin-card', 'data-testid': 'plugin-card', dataset: {plugin: entry.plugin, uid: entry.uid},
                     'aria-labelledby': headingId}, head, body);
  }

  function attributeLabel(entry, attr, forId) {
    return el('label', {for: forId, title: helpText(attr) || undefined},
      attr.name, attr.required ? el('span', {class: 'required', 'aria-hidden': 'true', text: ' *'}) : null);
  }

  function helpNode(entry, attr) {
    const text = helpText(attr);
    return text ? el('p', {class: 'help', id: fieldId(entry, attr, 'help'), text}) : null;
  }

  function renderAttribute(entry, attr) {
    const wrap = el('div', {class: 'field', dataset: {attr: attr.name, kind: attr.kind}});
    const help = helpText(attr);
    const describedBy = help ? fieldId(entry, attr, 'help') : undefined;
    const common = (id) => ({id, title: help || undefined, 'aria-describedby': describedBy,
                             'data-testid': `input-${attr.name}`, spellcheck: 'false', autocomplete: 'off'});

    switch (attr.kind) {
      case 'list': {
        const rows = entry.values[attr.name];
        wrap.append(attributeLabel(entry, attr, fieldId(entry, attr, 0)));
        const list = el('div', {class: 'rows'});
        rows.forEach((value, i) => {
          const input = textControl(attr, Object.assign(common(fieldId(entry, attr, i)), {
            value, 'aria-label': i === 0 ? undefined : `${attr.name} ${i + 1}`, dataset: {row: i},
            required: attr.required && i === 0,
            oninput: (event) => { rows[i] = event.target.value; changed(); },
          }));
          list.append(el('div', {class: 'row'}, input, removeRowButton(entry, attr, rows, i)));
        });
        wrap.append(list, addRowButton(entry, attr, rows, ''), helpNode(entry, attr));
        return wrap;
      }
      case 'key_value_list': {
        const rows = entry.values[attr.name];
        const pairAttr = entry.schema.attributes.find((a) => a.name === attr.pair) || {name: attr.pair};
        const keyHead = el('label', {for: fieldId(entry, attr, '0-key'), class: 'col-head', title: help || undefined}, attr.name,
                           attr.required ? el('span', {class: 'required', 'aria-hidden': 'true', text: ' *'}) : null);
        const valueHead = el('label', {for: fieldId(entry, attr, '0-value'), class: 'col-head', title: helpText(pairAttr) || undefined}, attr.pair);
        wrap.append(el('div', {class: 'row pair heads'}, keyHead, valueHead, el('span', {class: 'icon-space'})));
        const list = el('div', {class: 'rows'});
        rows.forEach((row, i) => {
          const key = el('input', Object.assign(common(fieldId(entry, attr, `${i}-key`)), {
            value: row.key, 'aria-label': i === 0 ? undefined : `${attr.name} ${i + 1}`, dataset: {row: i, part: 'key'},
            'data-testid': `input-${attr.name}`,
            oninput: (event) => { row.key = event.target.value; changed(); },
          }));
          const value = el('input', Object.assign(common(fieldId(entry, attr, `${i}-value`)), {
            value: row.value, 'aria-label': i === 0 ? undefined : `${attr.pair} ${i + 1}`, dataset: {row: i, part: 'value'},
            'data-testid': `input-${attr.pair}`, title: helpText(pairAttr) || undefined,
            oninput: (event) => { row.value = event.target.value; changed(); },
          }));
          list.append(el('div', {class: 'row pair'}, key, value, removeRowButton(entry, attr, rows, i)));
        });
        wrap.append(list, addRowButton(entry, attr, rows, null), helpNode(entry, attr));
        return wrap;
      }
      case 'secret': {
        const secret = entry.secrets[attr.name];
        const id = fieldId(entry, attr);
        const status = el('span', {class: 'secret-status', 'data-testid': 'secret-status', id: fieldId(entry, attr, 'status')});
        const showStatus = () => {
          if (secret.typed) {
            status.textContent = secret.value === '' ? 'will be cleared · 将清除' : 'will change · 将更新';
            status.dataset.state = 'typed';
          } else {
            status.textContent = secret.set ? 'set · 已设置' : 'unset · 未设置';
            status.dataset.state = secret.set ? 'set' : 'unset';
          }
        };
        showStatus();
        // The stored secret never reaches the page: the field starts empty whatever is stored.
        const input = el('input', Object.assign(common(id), {
          type: 'password', autocomplete: 'new-password', value: secret.value,
          placeholder: secret.set ? 'unchanged unless you type · 不输入则不变' : '',
          'aria-describedby': [fieldId(entry, attr, 'status'), describedBy].filter(Boolean).join(' '),
          oninput: (event) => { secret.typed = true; secret.value = event.target.value; showStatus(); changed(); },
        }));
        wrap.append(attributeLabel(entry, attr, id), el('div', {class: 'row'}, input, status), helpNode(entry, attr));
        return wrap;
      }
      case 'choice': {
        const id = fieldId(entry, attr);
        const choices = attr.choices || [];
        const current = entry.values[attr.name];
        const options = [];
        if (!attr.required || !choices.includes(current)) options.push(el('option', {value: '', text: '—'}));
        for (const choice of choices) options.push(el('option', {value: choice, text: choice}));
        const select = el('select', Object.assign(common(id), {
          onchange: (event) => { entry.values[attr.name] = event.target.value; changed(); },
        }), ...options);
        select.value = current;
        wrap.append(attributeLabel(entry, attr, id), select, helpNode(entry, attr));
        return wrap;
      }
      default: {
        const id = fieldId(entry, attr);
        const control = textControl(attr, Object.assign(common(id), {
          value: entry.values[attr.name], required: attr.required,
          oninput: (event) => { entry.values[attr.name] = event.target.value; changed(); },
        }));
        if (entry.plugin === 'base_image_choose_from_harbor' && !attr.multiline) {
          control.setAttribute('list', 'base-image-list');
          loadBaseImages();
        }
        wrap.append(attributeLabel(entry, attr, id), control, helpNode(entry, attr));
        return wrap;
      }
    }
  }

  function textControl(attr, attrs) {
    if (attr.multiline) return el('textarea', Object.assign({rows: 4}, attrs));
    return el('input', attrs);
  }

  function addRowButton(entry, attr, rows, empty) {
    // The visible text starts the accessible name (WCAG 2.5.3); the rest says which list.
    return el('button', {type: 'button', class: 'link', 'data-testid': `add-row-${attr.name}`, onclick: () => {
      rows.push(empty === null ? {key: '', value: ''} : empty);
      const last = rows.length - 1;
      renderPipeline(fieldId(entry, attr, empty === null ? `${last}-key` : last));
      changed();
    }}, '+ add · 添加', el('span', {class: 'visually-hidden'}, ` a ${attr.name} row`));
  }

  function removeRowButton(entry, attr, rows, index) {
    return el('button', {type: 'button', class: 'icon', 'data-testid': `remove-row-${attr.name}`,
                         'aria-label': `Remove ${attr.name} row ${index + 1}`, title: 'Remove row · 删除此行',
                         onclick: () => {
      rows.splice(index, 1);
      if (rows.length === 0) rows.push(attr.kind === 'key_value_list' ? {key: '', value: ''} : '');
      renderPipeline(fieldId(entry, attr, attr.kind === 'key_value_list' ? `${Math.max(0, index - 1)}-key` : Math.max(0, index - 1)));
      changed();
    }}, '−');
  }

  // Suggestions for the base image field from the plugin's extension method; the field stays
  // free text, so a registry that cannot list images costs nothing but the suggestions.
  async function loadBaseImages() {
    if (state.baseImages !== null) return;
    state.baseImages = [];
    const form = new URLSearchParams({plugin: 'base_image_choose_from_harbor', method: 'BaseImageList'});
    const answer = await api('POST', '/api/plugin/extension/interface', form);
    if (!ok(answer)) return;
    let items = answer.content;
    if (items && !Array.isArray(items)) items = items.images || items.list || [];
    const names = (items || []).map((item) => (typeof item === 'string' ? item : item && (item.image || item.name)))
      .filter((name) => typeof name === 'string' && name);
    state.baseImages = names;
    let list = byId('base-image-list');
    if (!list) {
      list = el('datalist', {id: 'base-image-list'});
      document.body.append(list);
    }
    list.replaceChildren(...names.map((name) => el('option', {value: name})));
  }

  // ---- preview --------------------------------------------------------------------------

  function schedulePreview() {
    clearTimeout(state.previewTimer);
    byId('dockerfile-preview').dataset.state = 'pending';
    state.previewTimer = setTimeout(runPreview, PREVIEW_DELAY_MS);
  }

  async function runPreview() {
    const seq = ++state.previewSeq;
    const preview = byId('dockerfile-preview');
    const error = byId('preview-error');
    preview.setAttribute('aria-busy', 'true');
    const answer = await api('POST', '/api/project/dockerfile', formState());
    if (seq !== state.previewSeq) return;  // a newer request is on its way
    preview.removeAttribute('aria-busy');
    if (ok(answer)) {
      const text = typeof answer.content === 'string' ? answer.content : JSON.stringify(answer.content, null, 2);
      preview.textContent = text;
      preview.dataset.state = 'ok';
      error.hidden = true;
      error.textContent = '';
    } else {
      // Keep the last good preview visible, dimmed, under the message.
      preview.dataset.state = 'error';
      error.textContent = describe(answer);
      error.hidden = false;
    }
  }

  // ---- project ---------------------------------------------------------------------------

  function showFacts(info) {
    byId('fact-creator').textContent = info.creator || '—';
    showTime(byId('fact-create-time'), info.createTime);
    showTime(byId('fact-modify-time'), info.lastModifyTime);
    byId('fact-modify-operator').textContent = info.lastModifyOperator || '—';
  }

  function applyInfo(info) {
    state.info = info;
    showFacts(info);
    byId('field-cluster').value = info.Cluster || '';
    const type = ['tool', 'edit', 'download'].includes(info.DefineDockerFileType)
      ? info.DefineDockerFileType : (info.DefineDockerFileType === 'define' ? 'edit' : 'tool');
    state.type = type;
    byId('field-type').value = type;
    const plugins = Array.isArray(info.plugins) ? info.plugins : [];
    state.pipelines = {tool: [], edit: [], download: []};
    state.pipelines[type] = plugins.map((stored) => makeEntry(stored.$$plugin, stored));
    showTypeHelp();
    renderPipeline();
    state.dirty = false;
    byId('dirty-indicator').hidden = true;
  }

  function showTypeHelp() {
    byId('type-help').textContent = TYPE_HELP[state.type] || '';
  }

  function switchType(type) {
    state.type = type;
    // A fresh edit/download pipeline starts with the one plugin it needs.
    const single = TYPE_PLUGIN[type];
    if (single && state.pipelines[type].length === 0 && state.schemas.has(single)) {
      state.pipelines[type].push(makeEntry(single, null));
    }
    showTypeHelp();
    renderPipeline();
    changed();
  }

  function addPlugin() {
    const name = byId('add-plugin-select').value;
    if (!name) return;
    const entry = makeEntry(name, null);
    currentPipeline().push(entry);
    const first = entry.schema && editableAttributes(entry.schema)[0];
    let focus = `e${entry.uid}-remove`;
    if (first) {
      focus = first.kind === 'list' ? fieldId(entry, first, 0)
        : first.kind === 'key_value_list' ? fieldId(entry, first, '0-key') : fieldId(entry, first);
    }
    renderPipeline(focus);
    changed();
  }

  async function save() {
    if (!requireOperator('save-status')) return;
    const button = byId('save-button');
    button.disabled = true;
    setStatus('save-status', 'Saving… 保存中…');
    const answer = await api('POST', '/api/project/save', formState());
    button.disabled = false;
    if (!ok(answer)) {
      setStatus('save-status', 'Not saved: ' + describe(answer), 'error');
      return;
    }
    // Reload what was stored: normalized values, secrets as set/unset, new modify time.
    const info = await api('GET', '/api/project/info?' + q({projectName}));
    if (ok(info) && info.content) applyInfo(info.content);
    setStatus('save-status', `Saved at ${new Date().toLocaleTimeString()} · 已保存`, 'ok');
    schedulePreview();
  }

  // ---- builds ----------------------------------------------------------------------------

  async function build() {
    if (!requireOperator('build-status')) return;
    const tag = byId('build-tag').value.trim();
    if (tag && !TAG_RE.test(tag)) {
      setStatus('build-status', 'Tag: letters, digits, _ . - (up to 128, not starting with . or -). · 标签格式不正确。', 'error');
      byId('build-tag').focus();
      return;
    }
    const form = new URLSearchParams({projectName, operator: operator()});
    if (tag) form.append('tag', tag);
    if (byId('build-no-cache').checked) form.append('noCache', 'true');
    const button = byId('build-button');
    button.disabled = true;
    setStatus('build-status', 'Starting… 提交中…');
    const answer = await api('POST', '/api/project/build', form);
    button.disabled = false;
    if (!ok(answer)) {
      setStatus('build-status', 'Build not started: ' + describe(answer), 'error');
      return;
    }
    const id = answer.content && (answer.content.idStr || answer.content.id);
    const note = state.dirty ? ' The unsaved changes are not in it. · 未保存的修改不包含在内。' : '';
    setStatus('build-status', `Build ${id} queued. · 已提交构建。` + note, state.dirty ? 'warn' : 'ok');
    await loadHistory();
    if (id) followLog(String(id));
  }

  // ---- the project's layer cache switch ---------------------------------------------------

  async function loadBuildSettings() {
    const box = byId('layer-cache');
    const answer = await api('GET', '/api/project/buildSettings?' + q({projectName}));
    if (!ok(answer) || !answer.content) {
      setStatus('layer-cache-status', 'Cache setting not loaded: ' + describe(answer), 'error');
      return;
    }
    box.checked = answer.content.layerCache === true;
    box.disabled = false;
  }

  async function setLayerCache() {
    const box = byId('layer-cache');
    if (!requireOperator('layer-cache-status')) {
      box.checked = !box.checked;
      return;
    }
    box.disabled = true;
    const form = new URLSearchParams({projectName, operator: operator(),
                                      layerCache: box.checked ? 'true' : 'false'});
    const answer = await api('POST', '/api/project/buildSettings', form);
    box.disabled = false;
    if (!ok(answer) || !answer.content) {
      box.checked = !box.checked;
      setStatus('layer-cache-status', 'Not changed: ' + describe(answer), 'error');
      return;
    }
    box.checked = answer.content.layerCache === true;
    setStatus('layer-cache-status', box.checked ? 'Cache on. · 已开启缓存。' : 'Cache off: builds run cold. · 已关闭缓存。', 'ok');
  }

  // The build list may sit under one of a few names; each row's fields likewise. Reading
  // them tolerantly keeps the page working with the original's shape and ours.
  function buildRows(content) {
    if (!content || typeof content !== 'object') return [];
    if (Array.isArray(content)) return content;
    for (const key of ['builds', 'list', 'history', 'items']) {
      if (Array.isArray(content[key])) return content[key];
    }
    return [];
  }

  const pick = (row, ...keys) => {
    for (const key of keys) if (row[key] !== undefined && row[key] !== null && row[key] !== '') return row[key];
    return '';
  };

  function stateName(row) {
    const value = pick(row, 'state', 'status');
    if (typeof value === 'number') return ['running', 'succeeded', 'failed'][value] || String(value);
    return String(value || 'unknown');
  }

  async function loadHistory() {
    clearTimeout(state.historyTimer);
    const answer = await api('GET', '/api/project/buildHistory?' +
                             q({projectName, page: state.historyPage, page_size: HISTORY_PAGE_SIZE}));
    const table = byId('history-table');
    const empty = byId('history-empty');
    if (answer.code === 10007 || answer.code === 10011) {
      table.hidden = true;
      empty.hidden = false;
      empty.textContent = 'No builds yet. · 还没有构建。';
      byId('history-pager').hidden = true;
      return;
    }
    if (!ok(answer)) {
      table.hidden = true;
      empty.hidden = false;
      empty.textContent = 'History unavailable: ' + describe(answer);
      return;
    }
    const rows = buildRows(answer.content);
    table.hidden = rows.length === 0;
    empty.hidden = rows.length > 0;
    byId('history-body').replaceChildren(...rows.map(renderBuildRow));
    showPullCommand(answer.content.latest);
    const pages = Math.max(1, Math.ceil((answer.content.total_count || 0) / HISTORY_PAGE_SIZE));
    byId('history-pager').hidden = pages === 1;
    byId('history-page').textContent = `Page ${state.historyPage} of ${pages} · 第 ${state.historyPage}/${pages} 页`;
    byId('history-newer').disabled = state.historyPage <= 1;
    byId('history-older').disabled = state.historyPage >= pages;
    if (rows.some((row) => ['queued', 'running'].includes(stateName(row)))) {
      state.historyTimer = setTimeout(loadHistory, HISTORY_POLL_MS);
    }
  }

  // How to pull the image of the newest build, once it succeeded.
  function showPullCommand(latest) {
    const box = byId('pull-command');
    if (!latest || latest.state !== 'succeeded' || !latest.image) {
      box.hidden = true;
      return;
    }
    const command = `docker pull ${latest.image}`;
    box.replaceChildren(el('code', {dataset: {testid: 'pull-text'}}, command), ' ',
                        copyButton(command, 'the pull command', 'copy-pull'));
    box.hidden = false;
  }

  function renderBuildRow(row) {
    const id = String(pick(row, 'idStr', 'id'));
    const stateText = stateName(row);
    const image = String(pick(row, 'image'));
    const digest = String(pick(row, 'digest'));
    const reason = String(pick(row, 'reason'));
    const imageCell = el('td', {class: 'image'}, image ? el('code', {text: image}) : '—');
    if (digest) imageCell.append(el('div', {class: 'digest', title: digest, text: digest.slice(0, 19) + '…'}));
    const actions = el('td', {class: 'actions-cell'},
      el('button', {type: 'button', class: 'link', 'data-testid': 'follow-log', 'aria-label': `Log of build ${id}`,
                    title: 'Follow the log · 查看日志', onclick: () => followLog(id)}, 'Log'));
    if (stateText === 'queued' || stateText === 'running') {
      actions.append(el('button', {type: 'button', class: 'link danger', 'data-testid': 'cancel-build',
                                   'aria-label': `Cancel build ${id}`, title: 'Cancel the build · 取消构建',
                                   onclick: () => cancelBuild(id)}, 'Cancel'));
    }
    return el('tr', {dataset: {buildId: id, state: stateText}, 'data-testid': 'build-row'},
      el('td', {text: id}),
      el('td', {class: 'nowrap'}, el('code', {text: String(pick(row, 'tag')) || '—'}), ...buildOrigin(row)),
      el('td', {}, el('span', {class: `badge state-${stateText}`, title: reason || undefined, 'data-testid': 'build-state', text: stateText})),
      el('td', {text: String(pick(row, 'operator', 'operator_name', 'operatorName')) || '—'}),
      el('td', {text: formatTime(pick(row, 'queuedAt', 'queued_at', 'queueTime', 'createTime', 'time')),
              title: String(pick(row, 'queuedAt', 'queued_at', 'queueTime', 'createTime', 'time')) || undefined}),
      imageCell, actions);
  }

  async function cancelBuild(id) {
    if (!requireOperator('build-status')) return;
    const answer = await api('POST', '/api/project/buildCancel', new URLSearchParams({id, projectName, operator: operator()}));
    setStatus('build-status', ok(answer) ? `Cancel of build ${id} requested. · 已请求取消。` : 'Cancel failed: ' + describe(answer),
              ok(answer) ? 'ok' : 'error');
    loadHistory();
  }

  function followLog(id) {
    if (state.logAbort) state.logAbort.abort();
    byId('log-panel').hidden = false;
    byId('log-build-id').textContent = `#${id}`;
    state.logAbort = followBuildLog(id, byId('build-log'), (text, kind) => setStatus('log-state', text, kind),
                                    () => { state.logAbort = null; loadHistory(); });
  }

  // ---- start -----------------------------------------------------------------------------

  function wire() {
    const operatorInput = byId('operator');
    operatorInput.value = savedOperator();
    operatorInput.addEventListener('input', () => saveOperator(operatorInput.value.trim()));
    installSignIn(byId('page-message'), {
      onShown: () => setMessage(''),
      // With authentication on, the operator is the signed-in user.
      onSignedIn: (me) => { if (me.name) operatorInput.value = me.name; },
    });
    byId('field-cluster').addEventListener('input', changed);
    byId('field-type').addEventListener('change', (event) => switchType(event.target.value));
    byId('add-plugin-button').addEventListener('click', addPlugin);
    byId('save-button').addEventListener('click', save);
    byId('build-button').addEventListener('click', build);
    byId('layer-cache').addEventListener('change', setLayerCache);
    byId('build-tag').addEventListener('keydown', (event) => { if (event.key === 'Enter') build(); });
    byId('history-newer').addEventListener('click', () => { state.historyPage -= 1; loadHistory(); });
    byId('history-older').addEventListener('click', () => { state.historyPage += 1; loadHistory(); });
  }

  async function start() {
    wire();
    const [schemas, info] = await Promise.all([
      api('GET', '/api/plugin/schemas'),
      api('GET', '/api/project/info?' + q({projectName})),
    ]);
    if (info.code === 10008 || info.status === 404) {
      setMessage(`Project “${projectName}” does not exist. · 项目不存在。`, 'error');
      document.body.dataset.state = 'missing';
      return;
    }
    if (!ok(info) || !info.content) {
      setMessage('Could not load the project: ' + describe(info), 'error');
      document.body.dataset.state = 'error';
      return;
    }
    if (!ok(schemas)) {
      setMessage('Could not load the plugin list: ' + describe(schemas), 'error');
      document.body.dataset.state = 'error';
      return;
    }
    const list = Array.isArray(schemas.content) ? schemas.content : [];
    state.schemaList = list;
    state.schemas = new Map(list.map((schema) => [schema.name, schema]));
    applyInfo(info.content);
    // With authentication on, changes are recorded as the signed-in user: show that name.
    const me = await api('GET', '/api/whoami');
    if (ok(me) && me.content && me.content.authentication) byId('operator').value = me.content.name;
    byId('editor').hidden = false;
    setMessage('');
    document.body.dataset.state = 'ready';
    runPreview();
    loadHistory();
    loadBuildSettings();
  }

  start();
})();
