// The Tokens view (/admin/tokens, admins): API tokens for programs. A new token is shown once,
// with a copy button (the server keeps only its digest); revoking asks to confirm in the row.
import {api, describe, ok, q} from './api.js';
import {bilingual, copyButton, el, labelled, say, statusLine, timeNode, withProgress} from './dom.js';
import {adminGate} from './admin_gate.js';

export function tokensView(session) {
  return {
    title: 'Tokens',
    render(container, params, navigate) {
      const state = {user: params.get('user') || '', stopped: false};
      const notice = statusLine('tokens-notice');
      const progress = el('span', {class: 'status', hidden: true}, 'Loading… 加载中…');
      const section = el('section', {class: 'card', 'aria-labelledby': 'tokens-heading'},
        el('h2', {id: 'tokens-heading'}, ...bilingual('API tokens', 'API 令牌'), ' ', progress), notice);
      container.append(section);

      const owner = el('input', {id: 'token-user', dataset: {testid: 'token-user'}, autocomplete: 'off',
                                 spellcheck: 'false', required: true, list: 'token-users'});
      const users = el('datalist', {id: 'token-users'});
      const label = el('input', {id: 'token-label', dataset: {testid: 'token-label'}, autocomplete: 'off',
                                 maxlength: 64, placeholder: 'ci, laptop…'});
      const createStatus = statusLine('token-create-status');
      const createForm = el('form', {class: 'toolbar', dataset: {testid: 'token-create'}},
        labelled('token-user', 'For user', '所属用户', owner), users,
        labelled('token-label', 'What it is for', '用途', label),
        el('button', {type: 'submit', class: 'primary'}, 'Create token · 创建令牌'), createStatus);
      // The secret, once: it leaves the page when the view does.
      const secretBox = el('div', {class: 'secret', hidden: true, dataset: {testid: 'token-secret-box'}});

      const filter = el('input', {id: 'tokens-filter', dataset: {testid: 'tokens-filter'}, value: state.user,
                                  autocomplete: 'off', spellcheck: 'false', placeholder: 'exact · 精确匹配'});
      const filterForm = el('form', {class: 'toolbar filters'},
        labelled('tokens-filter', 'Only the tokens of', '仅显示用户', filter),
        el('button', {type: 'submit'}, 'Filter · 筛选'));
      const body = el('tbody', {dataset: {testid: 'tokens'}});
      const table = el('table', {},
        el('caption', {class: 'visually-hidden'}, 'API tokens'),
        el('thead', {}, el('tr', {},
          ...[['#', ''], ['User', '用户'], ['For', '用途'], ['Starts with', '前缀'], ['Created', '创建时间'],
              ['Status', '状态']].map(([en, zh]) => el('th', {scope: 'col'}, ...(zh ? bilingual(en, zh) : [en]))),
          el('th', {scope: 'col'}, el('span', {class: 'visually-hidden'}, 'Actions')))),
        body);
      const empty = el('p', {class: 'empty', dataset: {testid: 'tokens-empty'}, hidden: true},
                       'No tokens: create one above for a program (CI, a script). · 还没有令牌。');

      function row(token) {
        const status = token.revokedAt
          ? el('span', {}, el('span', {class: 'badge state-cancelled'}, 'revoked · 已吊销'), ' ', timeNode(token.revokedAt))
          : el('span', {class: 'badge state-succeeded'}, 'active · 有效');
        const actions = el('td', {class: 'actions-cell'});
        if (!token.revokedAt) {
          const revoke = el('button', {type: 'button', class: 'link danger', dataset: {testid: 'revoke-' + token.id},
                                       'aria-label': `Revoke · 吊销: token ${token.id}`}, 'Revoke · 吊销');
          revoke.addEventListener('click', () => confirmRevoke(token, actions));
          actions.append(revoke);
        }
        return el('tr', {dataset: {token: token.id}},
          el('td', {}, String(token.id)), el('td', {}, token.user), el('td', {}, token.label || '—'),
          el('td', {}, el('code', {}, token.prefix + '…')), el('td', {class: 'nowrap'}, timeNode(token.createdAt)),
          el('td', {}, status), actions);
      }

      function confirmRevoke(token, cell) {
        const confirm = el('button', {type: 'button', class: 'danger', dataset: {testid: 'revoke-confirm'}},
                           `Revoke token ${token.id} · 确认吊销`);
        const keep = el('button', {type: 'button', onclick: load}, 'Keep · 保留');
        confirm.addEventListener('click', async () => {
          const answer = await api('POST', '/api/token/revoke', new URLSearchParams({id: token.id}));
          if (ok(answer)) say(notice, `Token ${token.id} of ${token.user} revoked: programs using it are refused now. · 已吊销。`, 'ok');
          else say(notice, `Could not revoke token ${token.id}: ${describe(answer)}`, 'error');
          load();
        });
        cell.replaceChildren(confirm, ' ', keep);
        confirm.focus();
      }

      async function load() {
        const [answer, people] = await withProgress(progress, Promise.all([
          api('GET', '/api/token/list' + (state.user ? '?' + q({user: state.user}) : '')),
          api('GET', '/api/user/list')]));
        if (state.stopped) return;
        if (!ok(answer)) {
          say(notice, 'Could not list the tokens: ' + describe(answer), 'error');
          return;
        }
        body.replaceChildren(...answer.content.map(row));
        table.hidden = answer.content.length === 0;
        empty.hidden = answer.content.length !== 0;
        if (ok(people)) users.replaceChildren(...people.content.map((user) => el('option', {value: user.name})));
      }

      createForm.addEventListener('submit', async (event) => {
        event.preventDefault();
        say(createStatus, 'Creating… 创建中…');
        const answer = await api('POST', '/api/token/new',
                                 new URLSearchParams({user: owner.value.trim(), label: label.value.trim()}));
        if (!ok(answer)) {
          say(createStatus, describe(answer), 'error');
          return;
        }
        say(createStatus, '');
        const token = answer.content;
        secretBox.replaceChildren(
          el('p', {}, el('strong', {}, `Token ${token.id} for ${token.user}: `),
             'copy it now, it is shown only once. · 令牌只显示这一次，请立即复制。'),
          el('code', {class: 'secret-value', dataset: {testid: 'token-secret'}}, token.token), ' ',
          copyButton(token.token, `the token ${token.id}`, 'token-copy'),
          ' ', el('button', {type: 'button', onclick: () => { secretBox.hidden = true; secretBox.replaceChildren(); }},
                  'Done · 完成'));
        secretBox.hidden = false;
        label.value = '';
        load();
      });
      filterForm.addEventListener('submit', (event) => {
        event.preventDefault();
        state.user = filter.value.trim();
        navigate('/admin/tokens' + (state.user ? '?' + q({user: state.user}) : ''), {replace: true, render: false});
        load();
      });

      adminGate(session, notice, 'Tokens', () => {
        section.append(createForm, secretBox, filterForm, el('div', {class: 'table-wrap'}, table), empty);
        load();
      });
      return () => { state.stopped = true; };
    },
  };
}
