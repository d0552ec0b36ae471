// What one build trigger received (GET /api/triggers/deliveries): each signed request, newest
// first, with what it did: a queued build, the build an earlier delivery queued, or why nothing
// was built. Forged requests are not there, which is itself the answer to "why did my push do
// nothing" when the list stays empty.
import {api, describe, ok, q} from './api.js';
import {bilingual, el, say, statusLine, timeNode, withProgress} from './dom.js';

const OUTCOME_BADGE = {queued: 'state-succeeded', duplicate: 'state-queued', skipped: 'state-cancelled',
                       refused: 'state-failed'};

export function triggerDeliveries(projectOf) {
  const state = {trigger: null, seq: 0};
  const heading = el('h3', {id: 'trigger-deliveries-heading'});
  const notice = statusLine('trigger-deliveries-notice');
  const progress = el('span', {class: 'status', hidden: true}, 'Loading… 加载中…');
  const body = el('tbody', {dataset: {testid: 'trigger-deliveries'}});
  const table = el('table', {},
    el('caption', {class: 'visually-hidden'}, 'Received events'),
    el('thead', {}, el('tr', {},
      ...[['Received', '接收时间'], ['From', '来源'], ['Ref', '分支或标签'], ['Commit', '提交'],
          ['Outcome', '结果'], ['Build', '构建']]
        .map(([en, zh]) => el('th', {scope: 'col'}, ...bilingual(en, zh))))),
    body);
  const empty = el('p', {class: 'empty', hidden: true, dataset: {testid: 'trigger-deliveries-empty'}},
    'Nothing signed with this trigger’s secret has arrived. A push that does not show here had a wrong ' +
    'signature: the git host’s delivery log shows the 401. · 尚未收到带有正确签名的请求。');
  const node = el('div', {class: 'card', hidden: true, 'aria-labelledby': 'trigger-deliveries-heading',
                          dataset: {testid: 'trigger-deliveries-panel'}},
    el('div', {class: 'row'}, heading, progress,
       el('button', {type: 'button', onclick: () => load()}, 'Refresh · 刷新'),
       el('button', {type: 'button', onclick: () => hide()}, 'Close · 关闭')),
    notice, el('div', {class: 'table-wrap'}, table), empty);

  function row(delivery) {
    const buildLink = delivery.buildId
      ? el('a', {href: `/builds?${q({project: projectOf()})}`, 'data-route': true}, `#${delivery.buildId}`)
      : '—';
    return el('tr', {dataset: {delivery: delivery.id, outcome: delivery.outcome}},
      el('td', {}, timeNode(delivery.receivedAt)),
      el('td', {}, `${delivery.host} ${delivery.event}`,
         delivery.deliveryId ? el('div', {class: 'muted'}, el('code', {}, delivery.deliveryId)) : null),
      el('td', {}, delivery.ref ? el('code', {}, delivery.ref) : '—'),
      el('td', {}, delivery.sha ? el('code', {title: delivery.sha}, delivery.sha.slice(0, 12)) : '—'),
      el('td', {}, el('span', {class: 'badge ' + (OUTCOME_BADGE[delivery.outcome] || '')}, delivery.outcome),
         delivery.reason ? el('div', {class: 'muted'}, delivery.reason) : null),
      el('td', {}, buildLink));
  }

  async function load() {
    const trigger = state.trigger;
    if (!trigger) return;
    const seq = ++state.seq;
    const answer = await withProgress(progress, api('GET', '/api/triggers/deliveries?' + q({id: trigger.id})));
    if (seq !== state.seq || state.trigger !== trigger) return;
    if (!ok(answer)) {
      say(notice, `Could not read what ${trigger.name} received: ${describe(answer)}`, 'error');
      return;
    }
    say(notice, '');
    const deliveries = Array.isArray(answer.content) ? answer.content : [];
    body.replaceChildren(...deliveries.map(row));
    table.hidden = deliveries.length === 0;
    empty.hidden = deliveries.length !== 0;
  }

  function hide() {
    state.trigger = null;
    ++state.seq;
    node.hidden = true;
    body.replaceChildren();
  }

  return {
    node,
    show(trigger) {
      state.trigger = trigger;
      heading.replaceChildren(...bilingual(`Received by ${trigger.name}`, '接收记录'));
      node.hidden = false;
      load();
      node.scrollIntoView({block: 'nearest'});
    },
    hide,
  };
}
