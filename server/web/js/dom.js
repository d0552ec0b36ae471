// Small DOM helpers shared by every page. The DOM is built with createElement and textContent
// only, so no value from the server or the user is ever parsed as HTML.
import {describe, ok} from './api.js';

export const byId = (id) => document.getElementById(id);

// el('button', {type: 'button', class: 'x', dataset: {a: 1}, onclick: f}, 'text', child)
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'value') node.value = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// English text with its Chinese beside it, as every label of these pages shows them.
export const bilingual = (en, zh) => [en, ' ', el('span', {class: 'zh'}, zh)];

// A status line screen readers announce; say() fills it ('ok', 'error' or no kind).
export function statusLine(id) {
  return el('p', {id, class: 'status', role: 'status', 'aria-live': 'polite', dataset: {testid: id}});
}

export function say(node, text, kind) {
  node.textContent = text || '';
  node.className = 'status' + (kind ? ' ' + kind : '');
}

export function setStatus(id, text, kind) {
  say(byId(id), text, kind);
}

// A form field: its bilingual label and its control (whose id is `id`).
export function labelled(id, en, zh, control) {
  return el('div', {class: 'field'}, el('label', {for: id}, ...bilingual(en, zh)), control);
}

// A text field of a form, its id also its test id; no autocomplete or spelling marks for names,
// URLs and globs.
export const textInput = (id, attrs = {}) =>
  el('input', {id, dataset: {testid: id}, autocomplete: 'off', spellcheck: 'false', ...attrs});

// A checkbox with its label after it: {input, node}. `text`: the label's children.
export function checkbox(id, text, attrs = {}) {
  const input = el('input', {type: 'checkbox', id, dataset: {testid: id}, ...attrs});
  return {input, node: el('div', {class: 'check'}, input, el('label', {for: id}, ...text))};
}

// A server time ("2026-11-28T15:20:33.123Z") in the viewer's zone: "2026-11-28 16:20:33".
export function formatTime(text) {
  if (!text) return '—';
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) return String(text);
  const two = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ` +
         `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

// The same time in UTC, for the title a pointer shows on hover.
function utcTitle(text) {
  const date = new Date(text);
  if (!text || Number.isNaN(date.getTime())) return text ? String(text) : '';
  return date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

// Fills `node` with a server time in the viewer's zone, UTC on hover.
export function showTime(node, text) {
  node.textContent = formatTime(text);
  const title = utcTitle(text);
  if (title) node.title = title;
}

// A <time> element for a server time, in the viewer's zone with UTC on hover.
export function timeNode(text) {
  const node = el('time', text ? {datetime: text} : {});
  showTime(node, text);
  return node;
}

// A button that copies `text`; `what` names it for screen readers after the visible "Copy"
// (the visible text starts the accessible name, WCAG 2.5.3).
export function copyButton(text, what, testid) {
  const state = el('span', {}, 'Copy · 复制');
  const button = el('button', {type: 'button', class: 'link', dataset: testid ? {testid} : undefined}, state,
                    el('span', {class: 'visually-hidden'}, ' ' + what));
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text);
      state.textContent = 'Copied · 已复制';
    } catch (_) {
      state.textContent = 'Copy failed · 复制失败';
    }
    setTimeout(() => { state.textContent = 'Copy · 复制'; }, 2000);
  });
  return button;
}

// Runs `work` (a promise); shows `node` as busy only when it takes longer than 300 ms, so fast
// answers do not flicker.
export async function withProgress(node, work) {
  const timer = setTimeout(() => { node.hidden = false; }, 300);
  try {
    return await work;
  } finally {
    clearTimeout(timer);
    node.hidden = true;
  }
}

// The English part of a control's label (or of a fieldset's legend): "URL" of "URL 地址".
function fieldName(control) {
  const label = (control.labels && control.labels[0]) || control.querySelector('legend');
  return label && label.firstChild ? label.firstChild.textContent.trim() : '';
}

// Shows an API refusal in `status`, naming the field it is about. The server's messages start
// with the parameter they refuse ("url is longer than...", "events: unknown event type..."), so
// `controls` ({parameter: control or fieldset}) finds the control to mark invalid and focus.
export function showRefusal(status, answer, controls) {
  for (const control of Object.values(controls)) control.removeAttribute('aria-invalid');
  const parameter = /^[A-Za-z]+/.exec(answer.errMsg || '');
  const control = parameter && Object.hasOwn(controls, parameter[0]) ? controls[parameter[0]] : null;
  const name = control ? fieldName(control) : '';
  say(status, (name ? name + ': ' : '') + describe(answer), 'error');
  if (!control) return;
  control.setAttribute('aria-invalid', 'true');
  (control.matches('fieldset') ? control.querySelector('input') : control).focus();
}

// The state of what the server may turn off by itself (a webhook policy, a build trigger):
// enabled, disabled by a person, or disabled by the server with its reason; and the failures
// in a row that lead there.
export function enabledState(item) {
  const failures = Number(item.consecutiveFailures) || 0;
  return el('div', {dataset: {testid: 'enabled-state'}},
    item.enabled ? el('span', {class: 'badge state-succeeded'}, 'enabled · 已启用')
      : el('span', {class: 'badge ' + (item.disabledReason ? 'state-failed' : 'state-cancelled')},
           'disabled · 已停用'),
    !item.enabled && item.disabledReason ? el('div', {class: 'muted'}, item.disabledReason) : null,
    !item.enabled && !item.disabledReason ? el('div', {class: 'muted'}, 'turned off by hand · 手动停用') : null,
    failures ? el('div', {class: 'status warn'}, `${failures} failed in a row · 连续失败 ${failures} 次`) : null);
}

// A modal form in `dialog` (one per view, so its ids are unique): `fields` are its controls and
// `act()` sends the request, answering the envelope. A refusal shows inside the dialog, naming
// the field of `controls` it is about; on success the dialog closes and `done(answer)` runs.
export function formDialog(dialog, {title, fields, submitText, act, done, controls = {}, submitAttrs = {}}) {
  const status = statusLine('dialog-status');
  const submit = el('button', {type: 'submit', class: 'primary', dataset: {testid: 'dialog-submit'},
                               ...submitAttrs}, submitText);
  const form = el('form', {method: 'dialog'},
    el('h3', {id: 'dialog-title'}, title), ...fields,
    el('div', {class: 'row'}, submit,
       el('button', {type: 'button', onclick: () => dialog.close()}, 'Cancel · 取消'), status));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    say(status, 'Working… 处理中…');
    const answer = await act();
    if (!ok(answer)) {
      showRefusal(status, answer, controls);
      return;
    }
    dialog.close();
    done(answer);
  });
  dialog.setAttribute('aria-labelledby', 'dialog-title');
  dialog.replaceChildren(form);
  dialog.showModal();
  return submit;
}
