// A build's log as it grows, into a <pre>: fetch + ReadableStream of buildLog?follow=1 (the raw
// text; the server keeps the response open while the build runs and ends it when the build ends).
import {authHeaders, describe, q} from './api.js';

// Streams build `id`'s log into `pre` (emptied first). `report(text, kind)` says how it goes;
// `onEnd()` runs once the whole log is in. Returns an AbortController that stops it quietly.
export function followLog(id, pre, report, onEnd) {
  const abort = new AbortController();
  pre.textContent = '';
  pre.dataset.buildId = id;
  pre.dataset.state = 'following';
  report('following… 跟踪中…');
  const fail = (text) => {
    if (abort.signal.aborted) return;
    report(text, 'error');
    pre.dataset.state = 'error';
  };
  (async () => {
    let response;
    try {
      response = await fetch('/api/project/buildLog?' + q({id, follow: '1'}),
                             {signal: abort.signal,
                              headers: Object.assign({Accept: 'text/plain'}, authHeaders())});
    } catch (error) {
      fail('Log unavailable: ' + error.message);
      return;
    }
    const type = response.headers.get('Content-Type') || '';
    if (!response.ok || type.includes('application/json')) {
      // An envelope: an error, or a server that answers the whole log at once.
      const text = await response.text();
      let data = null;
      try { data = JSON.parse(text); } catch (_) { data = null; }
      if (!data || data.code !== 10000) {
        fail('Log unavailable: ' + (data ? describe(data) : `HTTP ${response.status}`));
        return;
      }
      pre.textContent = typeof data.content === 'string' ? data.content
        : (data.content && (data.content.text || data.content.logs)) || '';
    } else {
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      try {
        for (;;) {
          const {value, done} = await reader.read();
          if (done) break;
          const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
          pre.append(decoder.decode(value, {stream: true}));
          if (atBottom) pre.scrollTop = pre.scrollHeight;
        }
        pre.append(decoder.decode());
      } catch (error) {
        fail('Log interrupted: ' + error.message);
        return;
      }
    }
    report('end of log · 日志结束');
    pre.dataset.state = 'done';
    if (onEnd) onEnd();
  })();
  return abort;
}
