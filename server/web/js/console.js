// The console's entry: who is signed in (when the server requires it), the operator name
// otherwise, then the view of the current path.
import {api, describe, ok, saveOperator, savedOperator, signOut} from './api.js';
import {bilingual, byId, el} from './dom.js';
import {installSignIn} from './signin.js';
import {startRouter} from './router.js';
import {buildsView} from './builds_view.js';
import {projectsView} from './projects_view.js';
import {registryView} from './registry_view.js';
import {auditView} from './audit_view.js';
import {tokensView} from './tokens_view.js';
import {usersView} from './users_view.js';
import {webhooksView} from './webhooks_view.js';
import {retentionView} from './retention_view.js';

const RANK = {viewer: 1, developer: 2, admin: 3};

// What the views ask of the signed-in user: the name changes are recorded under, and whether a
// role allows an action ('' when it does, else the reason shown on the disabled control).
// `ready` settles once whoami answered: views ask for their data at the same time and wait
// for it only before showing what depends on the role.
const session = {
  me: null,
  ready: null,
  operator() {
    return this.me && this.me.authentication ? this.me.name : byId('operator').value.trim();
  },
  registry() {
    return (this.me && this.me.registry) || '';
  },
  can(role) {
    if (!this.me || !this.me.authentication || (RANK[this.me.role] || 0) >= RANK[role]) return '';
    return `Needs the ${role} role; you are ${this.me.role}. · 需要 ${role} 角色。`;
  },
};

function showUser(me) {
  session.me = me;
  // The admin pages' links, for whoever may use them: the audit is open with authentication
  // off (as every route is); users and tokens exist only with it on.
  const admin = !me.authentication || me.role === 'admin';
  byId('nav-audit').hidden = !admin;
  byId('nav-users').hidden = !(me.authentication && admin);
  byId('nav-tokens').hidden = !(me.authentication && admin);
  // Webhooks send requests where they say: developers and up manage them.
  byId('nav-webhooks').hidden = Boolean(session.can('developer'));
  if (!me.authentication) return;
  byId('operator-box').hidden = true;
  byId('signed-in').hidden = false;
  byId('signed-in-user').textContent = `${me.name} · ${me.role}`;
}

const notFound = {
  title: 'Not found',
  render(container) {
    container.append(el('section', {class: 'card'},
      el('h2', {}, ...bilingual('No such page', '页面不存在')),
      el('a', {href: '/', 'data-route': true}, 'All projects · 所有项目')));
  },
};

function start() {
  const message = byId('page-message');
  const operator = byId('operator');
  operator.value = savedOperator();
  operator.addEventListener('input', () => saveOperator(operator.value.trim()));
  byId('sign-out').addEventListener('click', async () => {
    await signOut();
    location.assign('/');
  });
  installSignIn(message, {onShown: () => { message.textContent = ''; }, onSignedIn: showUser});
  session.ready = api('GET', '/api/whoami').then((me) => {
    if (!ok(me)) {
      message.textContent = 'Could not reach the server: ' + describe(me);
      message.className = 'page-message error';
      document.body.dataset.state = 'error';
      return;
    }
    showUser(me.content);
    message.textContent = '';
    document.body.dataset.state = 'ready';
  });
  startRouter(byId('view'), {'/': projectsView(session), '/builds': buildsView(session),
                            '/registry': registryView(session), '/webhooks': webhooksView(session),
                            '/retention': retentionView(session),
                            '/admin/users': usersView(session),
                            '/admin/tokens': tokensView(session), '/admin/audit': auditView(session)},
              notFound);
}

start();
