// The Retention view (/retention): tag retention rule sets (admins create, change and delete
// them and start dry runs and runs; everyone signed in reads), their runs, and a run's decision
// for every tag with the reason.
import {api, describe, ok, q} from './api.js';
import {bilingual, el, labelled, say, statusLine, textInput, timeNode} from './dom.js';

const POLL_MS = 1000;

const th = (en, zh) => el('th', {scope: 'col'}, ...bilingual(en, zh));

export function retentionView(session) {
  return {
    title: 'Retention',
    render(container) {
      let stopped = false;
      let timer = null;
      const status = statusLine('retention-status');
      const setsBody = el('tbody', {dataset: {testid: 'retention-sets'}});
      const runsBody = el('tbody', {dataset: {testid: 'retention-runs'}});
      const itemsBody = el('tbody', {dataset: {testid: 'retention-items'}});
      const detailHeading = el('h3', {id: 'retention-detail-heading', dataset: {testid: 'retention-detail-heading'}},
                               ...bilingual('Run detail', '运行详情'));
      const detail = el('section', {class: 'card', hidden: true, dataset: {testid: 'retention-detail'},
                                    'aria-labelledby': 'retention-detail-heading'},
        detailHeading,
        el('table', {}, el('caption', {class: 'visually-hidden'}, 'Tags of the run'),
          el('thead', {}, el('tr', {}, th('Repository', '仓库'), th('Tag', '标签'), th('Action', '动作'),
                                   th('Reason', '原因'), th('Error', '错误'))),
          itemsBody));

      const refusal = session.can('admin');
      const fields = {
        cluster: textInput('retention-cluster', {required: true, placeholder: 'default_cluster'}),
        name: textInput('retention-name', {required: true, placeholder: 'nightly'}),
        schedule: textInput('retention-schedule', {placeholder: '0 3 * * *  ·  every 1d'}),
        rules: el('textarea', {id: 'retention-rules', dataset: {testid: 'retention-rules'}, rows: 3,
                               spellcheck: 'false', required: true},
                  '[{"repositories": "*", "keepLatest": 10}]'),
      };
      const create = el('form', {class: 'toolbar filters', dataset: {testid: 'retention-new'}},
        labelled('retention-cluster', 'Cluster', '集群', fields.cluster),
        labelled('retention-name', 'Name', '名称', fields.name),
        labelled('retention-schedule', 'Schedule (UTC)', '计划（UTC）', fields.schedule),
        labelled('retention-rules', 'Rules (JSON)', '规则（JSON）', fields.rules),
        el('button', {type: 'submit', disabled: Boolean(refusal), title: refusal || undefined,
                      dataset: {testid: 'retention-create'}}, 'Create · 创建'));
      create.addEventListener('submit', async (event) => {
        event.preventDefault();
        const answer = await api('POST', '/api/retention/new', {
          cluster: fields.cluster.value.trim(), name: fields.name.value.trim(),
          schedule: fields.schedule.value.trim(), rules: fields.rules.value, operator: session.operator()});
        if (!ok(answer)) return say(status, describe(answer), 'error');
        say(status, `Created rule set ${answer.content.name}. · 已创建。`, 'ok');
        loadSets();
      });

      container.append(
        el('section', {class: 'card', 'aria-labelledby': 'retention-heading'},
          el('h2', {id: 'retention-heading'}, ...bilingual('Tag retention', '标签保留')),
          el('p', {class: 'muted'}, 'A dry run lists what a run would delete; a run deletes it. ' +
                                    'Tags of each project\'s latest successful build are always kept.'),
          status, create,
          el('table', {}, el('caption', {class: 'visually-hidden'}, 'Rule sets'),
            el('thead', {}, el('tr', {}, th('Cluster', '集群'), th('Name', '名称'), th('Schedule', '计划'),
                                     th('Next run', '下次运行'), th('Actions', '操作'))),
            setsBody)),
        el('section', {class: 'card', 'aria-labelledby': 'retention-runs-heading'},
          el('h3', {id: 'retention-runs-heading'}, ...bilingual('Runs', '运行记录')),
          el('table', {}, el('caption', {class: 'visually-hidden'}, 'Runs'),
            el('thead', {}, el('tr', {}, th('Run', '运行'), th('Rule set', '规则集'), th('Kind', '类型'),
                                     th('State', '状态'), th('Kept', '保留'), th('Deleted', '删除'),
                                     th('Errors', '错误'), th('Bytes', '字节'))),
            runsBody)),
        detail);

      async function start(set, dry) {
        const answer = await api('POST', dry ? '/api/retention/dryrun' : '/api/retention/run',
                                 {id: set.id, operator: session.operator()});
        if (!ok(answer)) return say(status, describe(answer), 'error');
        say(status, `Run ${answer.content.id} queued. · 已排队。`, 'ok');
        loadRuns();
      }

      async function remove(set) {
        const answer = await api('POST', '/api/retention/delete', {id: set.id, operator: session.operator()});
        if (!ok(answer)) return say(status, describe(answer), 'error');
        loadSets();
      }

      async function showRun(id) {
        const answer = await api('GET', '/api/retention/runs/get?' + q({id}));
        if (!ok(answer)) return say(status, describe(answer), 'error');
        const run = answer.content;
        detailHeading.replaceChildren(...bilingual(`Run ${run.id} (${run.dryRun ? 'dry run' : 'run'}, ${run.state})`,
                                                   '运行详情'));
        itemsBody.replaceChildren(...run.items.map((item) =>
          el('tr', {dataset: {tag: item.tag, action: item.action}},
            el('td', {}, item.repository), el('td', {}, item.tag), el('td', {}, item.action),
            el('td', {}, item.reason), el('td', {}, item.error))));
        detail.hidden = false;
      }

      async function loadSets() {
        const answer = await api('GET', '/api/retention/list');
        if (stopped) return;
        if (!ok(answer)) return say(status, describe(answer), 'error');
        setsBody.replaceChildren(...answer.content.map((set) => {
          const button = (testid, text, act) => el('button', {
            type: 'button', disabled: Boolean(refusal), title: refusal || undefined,
            dataset: {testid: `${testid}-${set.id}`}, onclick: act}, text);
          return el('tr', {dataset: {set: set.id}},
            el('td', {}, set.cluster), el('td', {}, set.name), el('td', {}, set.schedule || '—'),
            el('td', {}, set.nextRunAt ? timeNode(set.nextRunAt) : '—'),
            el('td', {}, button('retention-dryrun', 'Dry run · 试运行', () => start(set, true)), ' ',
                         button('retention-run', 'Run · 运行', () => start(set, false)), ' ',
                         button('retention-delete', 'Delete · 删除', () => remove(set))));
        }));
      }

      async function loadRuns() {
        const answer = await api('GET', '/api/retention/runs');
        if (stopped) return;
        if (ok(answer)) {
          runsBody.replaceChildren(...answer.content.map((run) => el('tr', {dataset: {run: run.id, state: run.state}},
            el('td', {}, el('button', {type: 'button', class: 'link', dataset: {testid: `retention-open-${run.id}`},
                                       onclick: () => showRun(run.id)}, `#${run.id}`)),
            el('td', {}, run.ruleSet), el('td', {}, run.dryRun ? 'dry run · 试运行' : run.trigger),
            el('td', {}, run.state + (run.error ? `: ${run.error}` : '')),
            el('td', {}, String(run.totals.kept)), el('td', {}, String(run.totals.deleted)),
            el('td', {}, String(run.totals.errors)), el('td', {}, String(run.totals.bytesUnreferenced)))));
        }
        timer = setTimeout(loadRuns, POLL_MS);  // runs end in the background
      }

      loadSets();
      loadRuns();
      return () => {
        stopped = true;
        clearTimeout(timer);
      };
    },
  };
}
