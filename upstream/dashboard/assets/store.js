// The store's figures (GET /api/v1/stats), with the ingest rate between two refreshes.
import { apiGet } from './api.js';
import { count, h } from './dom.js';

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
  root.append(h('h1', {}, 'Store'), grid);
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
    },
  };
}
