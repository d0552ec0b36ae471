// The API client of the web pages. Every /api answer is the envelope {code, errMsg, content}; a
// transport failure or a body that is not the envelope becomes one with code -1, so callers
// handle a single shape. A 401 asks the page for a sign-in and sends the request again.

// The sign-in is an HttpOnly, SameSite=Strict session cookie the server sets (POST
// /api/session/new): the page never holds the password or the session, and a reload stays
// signed in. Requests go with X-Requested-With, so a 401 carries no Basic challenge and the
// browser shows no dialog of its own: the page's form asks instead.
const OPERATOR_KEY = 'market.operator';

let askForSignIn = null;  // () => Promise, resolved once signed in

// `handler` shows the page's sign-in and resolves once it succeeded.
export function onUnauthorized(handler) {
  askForSignIn = handler;
}

function basicHeader(user, password) {
  const bytes = new TextEncoder().encode(user + ':' + password);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return 'Basic ' + btoa(binary);
}

// The headers every request of the pages carries: no Basic challenge.
export function authHeaders() {
  return {'X-Requested-With': 'XMLHttpRequest'};
}

// Signs in: the server checks the password and answers whoami's content with the session
// cookie. The envelope either way: its errMsg says why a sign-in failed.
export async function signIn(user, password) {
  try {
    const response = await fetch('/api/session/new', {
      method: 'POST',
      headers: {Accept: 'application/json', ...authHeaders(), Authorization: basicHeader(user, password)}});
    const {text, data} = await parsed(response);
    if (data && typeof data.code === 'number') return data;
    return {code: -1, errMsg: `HTTP ${response.status}: ${text.slice(0, 200)}`, content: null};
  } catch (error) {
    return {code: -1, errMsg: 'network error: ' + error.message, content: null};
  }
}

// Ends the session and clears its cookie.
export async function signOut() {
  try {
    await fetch('/api/session/delete', {method: 'POST', headers: authHeaders()});
  } catch (_) {
    // The page reloads either way; an unreachable server keeps nothing of this tab.
  }
}

// fetch with the session cookie; a 401 asks the page for a sign-in and sends the request again.
// `body`: URLSearchParams (sent form-encoded), a plain object (sent as JSON, for lists and
// booleans a form cannot carry) or undefined. Throws on a transport failure.
async function send(method, path, body) {
  const init = {method, headers: {Accept: 'application/json'}};
  if (body instanceof URLSearchParams) {
    init.body = body.toString();
    init.headers['Content-Type'] = 'application/x-www-form-urlencoded;charset=UTF-8';
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  for (;;) {
    Object.assign(init.headers, authHeaders());
    const response = await fetch(path, init);
    if (response.status !== 401 || !askForSignIn) return response;
    await askForSignIn();
  }
}

async function parsed(response) {
  const text = await response.text();
  try {
    return {text, data: JSON.parse(text)};
  } catch (_) {
    return {text, data: null};
  }
}

export async function api(method, path, body) {
  let response;
  try {
    response = await send(method, path, body);
  } catch (error) {
    return {code: -1, errMsg: 'network error: ' + error.message, content: null, status: 0};
  }
  const {text, data} = await parsed(response);
  if (!data || typeof data !== 'object' || typeof data.code !== 'number') {
    return {code: -1, errMsg: `HTTP ${response.status}: ${text.slice(0, 200)}`, content: null,
            status: response.status};
  }
  data.status = response.status;
  return data;
}

// The registry section answers Harbor's shapes, not the envelope: an array (with the total in
// X-Total-Count) or an object, and {code, msg} from the tag delete. One answer shape here:
// {ok, status, data, total, message, code}; `message` is the server's own words.
export async function registryCall(method, path, form) {
  let response;
  try {
    response = await send(method, path, form);
  } catch (error) {
    return {ok: false, status: 0, data: null, total: 0, message: 'network error: ' + error.message};
  }
  const {text, data} = await parsed(response);
  const total = Number(response.headers.get('X-Total-Count') || 0);
  const envelope = data && typeof data === 'object' && !Array.isArray(data) && typeof data.code === 'number';
  if (response.ok && (!envelope || data.code === 0 || data.code === 10000)) {
    return {ok: true, status: response.status, data, total, message: ''};
  }
  const message = envelope ? `${data.errMsg || data.msg} (${data.code})`
    : `HTTP ${response.status}: ${text.slice(0, 200)}`;
  return {ok: false, status: response.status, data, total, message, code: envelope ? data.code : -1};
}

export const ok = (answer) => answer.code === 10000;
export const describe = (answer) => `${answer.errMsg || 'error'} (${answer.code})`;
export const q = (params) => new URLSearchParams(params).toString();

// The operator name the pages record changes under (with authentication off), kept across visits.
export function savedOperator() {
  try {
    return localStorage.getItem(OPERATOR_KEY) || '';
  } catch (_) {
    return '';  // storage may be off; the field still works
  }
}

export function saveOperator(name) {
  try { localStorage.setItem(OPERATOR_KEY, name); } catch (_) { /* storage may be off */ }
}
