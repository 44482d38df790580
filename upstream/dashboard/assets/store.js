// The store's figures (GET /api/v1/stats), with the ingest rate between two refreshes, and the
// sinks it forwards to (GET /api/v1/sinks): state, lag, what they accepted, failures.
import { apiGet } from './api.js';
import { badge, count, duration, h, table } from './dom.js';

const FIGURES = [
  ['series', 'Series', 'distinct series stored'],
  ['points', 'Points', 'distinct (series, timestamp) points stored'],
  ['rate', 'Ingest', 'samples per second written from relay batches, between the last two refreshes'],
  ['hosts', 'Hosts', 'registered hosts'],
  ['relaysConnected', 'Relays connected', 'live uplinks'],
  ['batches', 'Batches', 'relay batches handled since the upstream started'],
  ['samples', 'Samples', 'points written from relay batches since the upstream started'],
  ['duplicates', 'Duplicates', 'batches acknowledged as already stored'],
  ['rejected', 'Rejected', 'batches acknowledged as rejected'],
];

export function storeView(root) {
  const values = new Map();
  const grid = h(
    'dl',
    { className: 'figures', id: 'stats' },
    FIGURES.map(([key, label, title]) => {
      const dd = h('dd', { dataset: { stat: key } }, '…');
      values.set(key, dd);
      return h('div', { title }, h('dt', {}, label), dd);
    }),
  );
  const sinks = table('sinks', [
    'Sink',
    'State',
    'Type',
    'URL',
    'Lag',
    'Behind',
    'Sent',
    'Failures',
    'Last error',
  ]);
  const sinksNote = h('p', { className: 'muted' }, 'No sinks configured: samples stay in this store.');
  root.append(h('h1', {}, 'Store'), grid, h('h2', {}, 'Sinks'), sinksNote, sinks.el);
  let last;
  return {
    async refresh() {
      const stats = await apiGet('stats');
      const now = performance.now();
      for (const [key] of FIGURES) if (key !== 'rate') values.get(key).textContent = count(stats[key]);
      const rate = last === undefined ? undefined : ((stats.samples - last.samples) * 1000) / (now - last.at);
      values.get('rate').textContent =
        rate === undefined ? '…' : `${count(Math.max(0, Math.round(rate)))} /s`;
      last = { samples: stats.samples, at: now };
      showSinks(await apiGet('sinks'), sinks.body, sinksNote, sinks.el);
    },
  };
}

const STATE = { up: 'good', down: 'bad', 'stopped-auth': 'bad' };

function showSinks(list, body, note, el) {
  note.hidden = list.length > 0;
  el.hidden = list.length === 0;
  body.replaceChildren(
    ...list.map((s) =>
      h(
        'tr',
        { dataset: { sink: s.name, state: s.state } },
        h('td', {}, s.name),
        h(
          'td',
          {},
          badge(s.state === 'stopped-auth' ? 'credentials refused' : s.state, STATE[s.state] ?? 'muted'),
        ),
        h('td', {}, s.type),
        h('td', {}, s.url),
        h('td', { className: 'num' }, s.lagRecords === 0 ? '—' : duration(s.lagSeconds * 1000)),
        h('td', { className: 'num' }, `${count(s.lagRecords)} records`),
        h('td', { className: 'num' }, count(s.sent)),
        h('td', { className: 'num' }, count(s.failures)),
        h('td', {}, s.lastError === null ? '' : `${s.lastError.status}: ${s.lastError.message}`),
      ),
    ),
  );
}
