// What the admin views show before their content: nothing for an admin, else why not. Users and
// tokens exist only with authentication on; the audit is open to everyone with it off, as every
// route is.
import {say} from './dom.js';

// Waits for whoami, then runs `show()` when the viewer may use the view, else says why in
// `notice`. `needsAuthentication`: the view means nothing with authentication off.
export async function adminGate(session, notice, what, show, {needsAuthentication = true} = {}) {
  await session.ready;
  const me = session.me;
  if (!me) return;  // the console already says the server cannot be reached
  if (!me.authentication) {
    if (!needsAuthentication) {
      show();
      return;
    }
    say(notice, `${what} are managed when the server runs with authentication on (auth = true); ` +
        'create the first admin with `market-server user add NAME --role admin`. · ' +
        '开启认证后才能管理用户和令牌。');
    return;
  }
  const reason = session.can('admin');
  if (reason) {
    say(notice, `${what}: ${reason}`, 'error');
    return;
  }
  show();
}
