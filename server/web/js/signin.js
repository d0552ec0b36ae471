// The sign-in form every page shows when the server requires authentication: user name and
// password, sent once to /api/session/new, which answers with a session cookie the page never
// sees. Never the browser's own Basic dialog (see api.js). API tokens are for programs.
import {describe, ok, onUnauthorized, signIn} from './api.js';
import {bilingual, el, setStatus} from './dom.js';

function field(id, en, zh, attrs) {
  return el('div', {class: 'field'},
            el('label', {for: id}, ...bilingual(en, zh)),
            el('input', {id, dataset: {testid: id}, spellcheck: 'false', required: true, ...attrs}));
}

function buildForm() {
  return el('form', {id: 'login-form', class: 'card login', dataset: {testid: 'login-form'}, hidden: true},
    el('h2', {}, ...bilingual('Sign in', '登录')),
    el('p', {class: 'help'},
       'This server requires authentication: sign in with your user name and password. · ' +
       '服务器需要认证：请用用户名和密码登录。'),
    el('div', {class: 'fields'},
       field('login-user', 'User', '用户名', {autocomplete: 'username'}),
       field('login-password', 'Password', '密码', {type: 'password', autocomplete: 'current-password'})),
    el('div', {class: 'row'},
       el('button', {type: 'submit', class: 'primary', dataset: {testid: 'login-button'}}, 'Sign in · 登录'),
       el('span', {id: 'login-status', class: 'status', role: 'status', 'aria-live': 'polite',
                   dataset: {testid: 'login-status'}})));
}

// Puts the form before `anchor` (hidden) and makes every 401 of api() show it. `onShown()` runs
// when it appears; `onSignedIn(me)` after each sign-in, with the whoami answer
// ({name, role, authentication, registry}).
export function installSignIn(anchor, {onShown, onSignedIn} = {}) {
  const form = buildForm();
  anchor.before(form);
  let pending = null;
  onUnauthorized(() => {
    if (pending) return pending;  // concurrent 401s share one form
    pending = new Promise((resolve) => {
      form.hidden = false;
      if (onShown) onShown();
      form.querySelector('#login-user').focus();
      form.onsubmit = async (event) => {
        event.preventDefault();
        const user = form.querySelector('#login-user').value.trim();
        const password = form.querySelector('#login-password');
        setStatus('login-status', 'Checking… 验证中…');
        const answer = await signIn(user, password.value);
        if (!ok(answer)) {
          setStatus('login-status', `Sign-in failed: ${describe(answer)} · 登录失败`, 'error');
          return;
        }
        password.value = '';
        setStatus('login-status', '');
        form.hidden = true;
        pending = null;
        if (onSignedIn) onSignedIn(answer.content);
        resolve();
      };
    });
    return pending;
  });
}
