// What started a build and the tags it pushed besides its own, for the build lists (the builds
// view and a project's history). Builds without them (null or absent) show nothing.
import {el} from './dom.js';

const shortRef = (ref) => String(ref || '').replace(/^refs\/(heads|tags)\//, '');
const shortSha = (sha) => String(sha || '').slice(0, 7);
const shortDigest = (digest) => String(digest || '').replace(/^sha256:/, '').slice(0, 12);

// "git push main @ abc1234", "git tag v1.2 @ abc1234", "started by hand", "rebuilt because base
// r/base/app:1 changed (1a2b… → 3c4d…)", ...
export function describeTrigger(trigger) {
  const at = (ref, sha) => [shortRef(ref), sha ? '@ ' + shortSha(sha) : ''].filter(Boolean).join(' ');
  switch (trigger.kind) {
    case 'git-push': {
      const tag = String(trigger.ref || '').startsWith('refs/tags/');
      return `git ${tag ? 'tag' : 'push'} ${at(trigger.ref, trigger.sha)}`.trim();
    }
    case 'start': {
      const where = at(trigger.ref, trigger.sha);
      return 'started by hand' + (where ? ': ' + where : '');
    }
    case 'base-image': {
      const digests = trigger.newDigest ? ` (${shortDigest(trigger.oldDigest) || '—'} → ${shortDigest(trigger.newDigest)})` : '';
      return `rebuilt because base ${trigger.baseImage || 'image'} changed${digests}`;
    }
    default: return String(trigger.kind || 'trigger');
  }
}

// Lines to put under a build's tag: its trigger and its extra tags; [] when it has neither.
export function buildOrigin(build) {
  const lines = [];
  const trigger = build.trigger;
  if (trigger && typeof trigger === 'object') {
    const title = [trigger.triggerId ? `trigger ${trigger.triggerId}` : '', trigger.sha || '',
                   trigger.delivery ? `delivery ${trigger.delivery}` : ''].filter(Boolean).join(' · ');
    lines.push(el('div', {class: 'muted', title: title || undefined, dataset: {testid: 'build-trigger'}},
                  describeTrigger(trigger)));
  }
  const extra = Array.isArray(build.extraTags) ? build.extraTags.filter((tag) => tag) : [];
  if (extra.length) {
    lines.push(el('div', {class: 'muted', dataset: {testid: 'build-extra-tags'}},
                  'also tagged · 附加标签 ', ...extra.flatMap((tag, i) => [i ? ', ' : '', el('code', {}, String(tag))])));
  }
  return lines;
}
