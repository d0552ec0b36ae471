// The Users view (/admin/users, admins): add a user, change a role, reset a password, delete.
// An admin's own role and user cannot be changed here (the server refuses it too), so the
// last admin cannot lock everyone out.
import {api, describe, ok} from './api.js';
import {bilingual, el, labelled, say, statusLine, timeNode, withProgress} from './dom.js';
import {adminGate} from './admin_gate.js';

const ROLES = ['viewer', 'developer', 'admin'];

function roleSelect(id, value, attrs = {}) {
  return el('select', {id, dataset: {testid: id}, ...attrs},
            ...ROLES.map((role) => el('option', {value: role, selected: role === value}, role)));
}

export function usersView(session) {
  return {
    title: 'Users',
    render(container) {
      const notice = statusLine('users-notice');
      const progress = el('span', {class: 'status', hidden: true}, 'Loading… 加载中…');
      const section = el('section', {class: 'card', 'aria-labelledby': 'users-heading'},
        el('h2', {id: 'users-heading'}, ...bilingual('Users', '用户'), ' ', progress), notice);
      container.append(section);
      let stopped = false;

      const name = el('input', {id: 'user-name', dataset: {testid: 'user-name'}, autocomplete: 'off',
                                spellcheck: 'false', required: true});
      const password = el('input', {id: 'user-password', dataset: {testid: 'user-password'},
                                    type: 'password', autocomplete: 'new-password', required: true,
                                    minlength: 8});
      const role = roleSelect('user-role', 'viewer');
      const addStatus = statusLine('user-add-status');
      const addForm = el('form', {class: 'toolbar', dataset: {testid: 'user-add'}},
        labelled('user-name', 'Name', '名称', name),
        labelled('user-role', 'Role', '角色', role),
        labelled('user-password', 'Password (8+ characters)', '密码（至少 8 位）', password),
        el('button', {type: 'submit', class: 'primary'}, 'Add user · 添加用户'), addStatus);
      const body = el('tbody', {dataset: {testid: 'users'}});
      const table = el('table', {},
        el('caption', {class: 'visually-hidden'}, 'Users'),
        el('thead', {}, el('tr', {},
          ...[['Name', '名称'], ['Role', '角色'], ['Created', '创建时间']].map(([en, zh]) =>
            el('th', {scope: 'col'}, ...bilingual(en, zh))),
          el('th', {scope: 'col'}, el('span', {class: 'visually-hidden'}, 'Actions')))),
        body);
      const empty = el('p', {class: 'empty', dataset: {testid: 'users-empty'}, hidden: true},
                       'No users in the database yet: add the first one above. · 还没有用户。');

      function row(user) {
        const self = session.me && user.name === session.me.name;
        const selfReason = 'You cannot change your own role or delete yourself; another admin can. · ' +
                           '不能修改自己的角色或删除自己。';
        const select = roleSelect('role-' + user.name, user.role,
                                  {'aria-label': `Role of ${user.name} · 角色`, disabled: self,
                                   title: self ? selfReason : undefined});
        select.addEventListener('change', async () => {
          const answer = await api('POST', '/api/user/role',
                                   new URLSearchParams({name: user.name, role: select.value}));
          if (ok(answer)) say(notice, `${user.name} is now ${select.value}. · 角色已修改。`, 'ok');
          else say(notice, `Could not change the role of ${user.name}: ${describe(answer)}`, 'error');
          load();
        });
        const actions = el('td', {class: 'actions-cell'});
        const reset = el('button', {type: 'button', class: 'link', dataset: {testid: 'reset-' + user.name},
                                    'aria-label': `Reset password · 重置密码: ${user.name}`},
                         'Reset password · 重置密码');
        reset.addEventListener('click', () => resetForm(user.name, actions));
        const remove = el('button', {type: 'button', class: 'link danger', dataset: {testid: 'delete-' + user.name},
                                     'aria-label': `Delete · 删除: ${user.name}`, disabled: self,
                                     title: self ? selfReason : undefined}, 'Delete · 删除');
        remove.addEventListener('click', () => confirmDelete(user.name, actions));
        actions.append(reset, ' ', remove);
        return el('tr', {dataset: {user: user.name}},
          el('td', {}, user.name), el('td', {}, select), el('td', {class: 'nowrap'}, timeNode(user.createdAt)),
          actions);
      }

      // The new password is typed into the row itself: no second page, no prompt().
      function resetForm(user, cell) {
        const id = 'new-password-' + user;
        const input = el('input', {id, type: 'password', autocomplete: 'new-password', minlength: 8,
                                   dataset: {testid: id}, required: true});
        const form = el('form', {class: 'inline-form'},
          labelled(id, `New password of ${user}`, '新密码', input),
          el('button', {type: 'submit', class: 'primary'}, 'Set · 设置'),
          el('button', {type: 'button', onclick: load}, 'Cancel · 取消'));
        form.addEventListener('submit', async (event) => {
          event.preventDefault();
          const answer = await api('POST', '/api/user/password',
                                   new URLSearchParams({name: user, password: input.value}));
          input.value = '';
          if (ok(answer)) {
            say(notice, `Password of ${user} changed; its sessions ended. · 密码已修改。`, 'ok');
            load();
          } else {
            say(notice, `Could not change the password of ${user}: ${describe(answer)}`, 'error');
          }
        });
        cell.replaceChildren(form);
        input.focus();
      }

      function confirmDelete(user, cell) {
        const id = 'delete-confirm-' + user;
        const typed = el('input', {id, dataset: {testid: 'delete-confirm'}, autocomplete: 'off', spellcheck: 'false'});
        const submit = el('button', {type: 'submit', class: 'danger', disabled: true,
                                     dataset: {testid: 'delete-submit'}}, 'Delete · 删除');
        const form = el('form', {class: 'inline-form'},
          labelled(id, `Type ${user} to delete it and its tokens`, '输入用户名以确认删除', typed),
          submit, el('button', {type: 'button', onclick: load}, 'Cancel · 取消'));
        typed.addEventListener('input', () => { submit.disabled = typed.value !== user; });
        form.addEventListener('submit', async (event) => {
          event.preventDefault();
          const answer = await api('POST', '/api/user/delete', new URLSearchParams({name: user}));
          if (ok(answer)) say(notice, `Deleted ${user} and its tokens. · 已删除。`, 'ok');
          else say(notice, `Could not delete ${user}: ${describe(answer)}`, 'error');
          load();
        });
        cell.replaceChildren(form);
        typed.focus();
      }

      async function load() {
        const answer = await withProgress(progress, api('GET', '/api/user/list'));
        if (stopped) return;
        if (!ok(answer)) {
          say(notice, 'Could not list the users: ' + describe(answer), 'error');
          return;
        }
        body.replaceChildren(...answer.content.map(row));
        table.hidden = answer.content.length === 0;
        empty.hidden = answer.content.length !== 0;
      }

      addForm.addEventListener('submit', async (event) => {
        event.preventDefault();
        say(addStatus, 'Adding… 添加中…');
        const answer = await api('POST', '/api/user/new', new URLSearchParams({
          name: name.value.trim(), role: role.value, password: password.value}));
        if (!ok(answer)) {
          say(addStatus, describe(answer), 'error');
          return;
        }
        password.value = '';
        name.value = '';
        say(addStatus, `Added ${answer.content.name} (${answer.content.role}). · 已添加。`, 'ok');
        load();
      });

      adminGate(session, notice, 'Users', () => {
        section.append(addForm, el('div', {class: 'table-wrap'}, table), empty);
        load();
      });
      return () => { stopped = true; };
    },
  };
}
