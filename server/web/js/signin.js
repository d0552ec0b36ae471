// The sign-in form every page shows when the server requires authentication: user and password,
// or an API token, checked with /api/whoami before the page goes on. Never the browser's own
// Basic dialog (see api.js).
import {basicHeader, clearCredentials, onUnauthorized, storeCredentials, whoamiWith} from './api.js';
import {bilingual, el, setStatus} from './dom.js';

function field(id, en, zh, attrs) {
  return el('div', {class: 'field'},
            el('label', {for: id}, ...bilingual(en, zh)),
            el('input', {id, dataset: {testid: id}, spellcheck: 'false', ...attrs}));
}

function buildForm() {
  return el('form', {id: 'login-form', class: 'card login', dataset: {testid: 'login-form'}, hidden: true},
    el('h2', {}, ...bilingual('Sign in', '登录')),
    el('p', {class: 'help'},
       'This server requires authentication. Use your user name and password, or an API token. · ' +
       '服务器需要认证：使用用户名和密码，或 API 令牌。'),
    el('div', {class: 'fields'},
       field('login-user', 'User', '用户名', {autocomplete: 'username'}),
       field('login-password', 'Password', '密码', {type: 'password', autocomplete: 'current-password'}),
       field('login-token', 'or API token', '或 API 令牌',
             {type: 'password', autocomplete: 'off', placeholder: 'mkt_…'})),
    el('div', {class: 'row'},
       el('button', {type: 'submit', class: 'primary', dataset: {testid: 'login-button'}}, 'Sign in · 登录'),
       el('span', {id: 'login-status', class: 'status', role: 'status', 'aria-live': 'polite',
                   dataset: {testid: 'login-status'}})));
}

// Puts the form before `anchor` (hidden) and makes every 401 of api() show it. `onShown()` runs
// when it appears; `onSignedIn(me)` after each sign-in, with the whoami answer
// ({name, role, authentication}).
export function installSignIn(anchor, {onShown, onSignedIn} = {}) {
  const form = buildForm();
  anchor.before(form);
  let pending = null;
  onUnauthorized(() => {
    if (pending) return pending;  // concurrent 401s share one form
    pending = new Promise((resolve) => {
      clearCredentials();
      form.hidden = false;
      if (onShown) onShown();
      form.querySelector('#login-user').focus();
      form.onsubmit = async (event) => {
        event.preventDefault();
        const token = form.querySelector('#login-token').value.trim();
        const user = form.querySelector('#login-user').value.trim();
        const password = form.querySelector('#login-password');
        const header = token ? 'Bearer ' + token : basicHeader(user, password.value);
        setStatus('login-status', 'Checking… 验证中…');
        const me = await whoamiWith(header);
        if (!me) {
          setStatus('login-status', 'Wrong user, password or token. · 用户名、密码或令牌错误。', 'error');
          return;
        }
        storeCredentials(header);
        password.value = '';
        form.querySelector('#login-token').value = '';
        setStatus('login-status', '');
        form.hidden = true;
        pending = null;
        if (onSignedIn) onSignedIn(me);
        resolve();
      };
    });
    return pending;
  });
}
