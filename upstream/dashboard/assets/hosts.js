// Hosts: registry records with their status (up while heartbeats arrive), filtered by zone or text.
import { apiGet } from './api.js';
import { ago, badge, h, table } from './dom.js';

const STATUS = { up: 'good', down: 'bad', unknown: 'muted' };

function row(r) {
  const version = r.agentVersion || r.agent || r.version;
  return h(
    'tr',
    { dataset: { uuid: r.host.uuid, status: r.status } },
    h('th', { scope: 'row' }, r.hostname || h('span', { className: 'muted' }, '—')),
    h('td', { className: 'mono' }, r.host.uuid),
    h('td', {}, r.zone),
    h('td', {}, badge(r.status, STATUS[r.status] ?? 'muted')),
    h('td', {}, ago(r.lastSeenMs)),
    h('td', {}, version ?? h('span', { className: 'muted' }, '—')),
    h('td', { className: 'mono' }, r.host.ip ?? ''),
    h('td', {}, [r.os, r.kernel].filter(Boolean).join(' ')),
  );
}

export function hostsView(root) {
  let hosts = [];
  const zone = h(
    'select',
    { id: 'hosts-zone', 'aria-label': 'zone' },
    h('option', { value: '' }, 'all zones'),
  );
  const search = h('input', {
    id: 'hosts-search',
    type: 'search',
    placeholder: 'name or uuid',
    'aria-label': 'search',
  });
  const summary = h('span', { className: 'muted' });
  const { el, body } = table('hosts', ['Host', 'UUID', 'Zone', 'Status', 'Last seen', 'Agent', 'IP', 'OS']);
  const render = () => {
    const text = search.value.trim().toLowerCase();
    const shown = hosts.filter(
      (r) =>
        (zone.value === '' || r.zone === zone.value) &&
        (text === '' || r.host.uuid.toLowerCase().includes(text) || r.hostname.toLowerCase().includes(text)),
    );
    body.replaceChildren(...shown.map(row));
    const up = hosts.filter((r) => r.status === 'up').length;
    summary.textContent = `${shown.length} shown, ${up} of ${hosts.length} up`;
  };
  zone.addEventListener('change', render);
  search.addEventListener('input', render);
  root.append(h('h1', {}, 'Hosts'), h('div', { className: 'toolbar' }, zone, search, summary), el);
  return {
    async refresh() {
      hosts = (await apiGet('hosts')).sort(
        (a, b) =>
          a.zone.localeCompare(b.zone) ||
          (a.hostname || a.host.uuid).localeCompare(b.hostname || b.host.uuid),
      );
      const zones = [...new Set(hosts.map((r) => r.zone))].sort();
      const known = [...zone.options].slice(1).map((o) => o.value);
      if (zones.join('\n') !== known.join('\n'))
        zone.replaceChildren(
          zone.options[0],
          ...zones.map((z) => h('option', { value: z, selected: z === zone.value }, z)),
        );
      render();
    },
  };
}
