// Firmware: the published bundles (GET /api/v1/firmware) with the relays each is offered to, and
// every relay's and agent's firmware as its last report said (GET /api/v1/firmware/status):
// version, update state, download progress, last failure and last refusal.
import { apiGet } from './api.js';
import { ago, badge, bytes, h, table } from './dom.js';

const STATE = { committed: 'good', 'rolled-back': 'bad', 'rolling-back': 'bad' };

const dash = () => h('span', { className: 'muted' }, '—');

function publicationRow(p) {
  return h(
    'tr',
    { dataset: { bundle: p.bundle } },
    h('td', {}, p.program),
    h('td', {}, p.arch),
    h('th', { scope: 'row' }, p.version),
    h('td', {}, p.zones.join(', ')),
    h('td', { className: 'num' }, `${p.percent} %`),
    h('td', {}, p.offeredTo.length === 0 ? dash() : p.offeredTo.join(', ')),
    h('td', { className: 'num' }, bytes(p.size)),
    h('td', { className: 'mono', title: p.bundle }, p.bundle.slice(0, 12)),
    h('td', {}, ago(p.publishedAt)),
  );
}

/** `code: text (version, when)` of a failure or refusal, or a dash. */
function problem(p, text) {
  if (p === undefined) return dash();
  const when = new Date(p.at).toLocaleString();
  return h('span', { className: 'bad-text', title: `${p.code}: ${text} (${when})` }, `${p.code}: ${text}`);
}

function unitRow(u) {
  const d = u.download;
  return h(
    'tr',
    { dataset: { unit: u.unit, kind: u.kind, state: u.state } },
    h('th', { scope: 'row', className: u.kind === 'agent' ? 'mono' : '' }, u.unit),
    h('td', {}, u.kind === 'relay' ? 'relay' : `agent via ${u.relay}`),
    h('td', {}, u.arch ?? dash()),
    h('td', {}, u.version),
    h('td', {}, badge(u.state, STATE[u.state] ?? 'muted')),
    h('td', {}, u.pendingVersion ?? dash()),
    h(
      'td',
      { className: 'num', title: d ? `${d.bytes} of ${d.size} bytes of ${d.bundle}` : '' },
      d ? `${d.version}: ${Math.floor((100 * d.bytes) / Math.max(1, d.size))} %` : dash(),
    ),
    h('td', { dataset: { field: 'failure' } }, problem(u.lastFailure, u.lastFailure?.reason)),
    h('td', { dataset: { field: 'refused' } }, problem(u.refused, u.refused?.message)),
    h('td', {}, ago(u.reportedAt)),
  );
}

export function firmwareView(root) {
  const pubNote = h(
    'p',
    { className: 'muted' },
    'Nothing published: owl-upstream firmware publish BUNDLE --zones ZONES.',
  );
  const pubs = table('firmware-publications', [
    'Program',
    'Arch',
    'Version',
    'Zones',
    'Rollout',
    'Offered to',
    'Size',
    'Bundle',
    'Published',
  ]);
  const unitsNote = h('p', { className: 'muted' }, 'No relay or agent has reported its firmware yet.');
  const units = table('firmware-units', [
    'Unit',
    'Kind',
    'Arch',
    'Version',
    'State',
    'Pending',
    'Download',
    'Last failure',
    'Last refusal',
    'Reported',
  ]);
  root.append(
    h('h1', {}, 'Firmware'),
    h('h2', {}, 'Published'),
    pubNote,
    pubs.el,
    h('h2', {}, 'Relays and agents'),
    unitsNote,
    units.el,
  );
  return {
    async refresh() {
      const [list, status] = await Promise.all([apiGet('firmware'), apiGet('firmware/status')]);
      pubNote.hidden = list.length > 0;
      pubs.el.hidden = list.length === 0;
      pubs.body.replaceChildren(...list.map(publicationRow));
      unitsNote.hidden = status.units.length > 0;
      units.el.hidden = status.units.length === 0;
      units.body.replaceChildren(...status.units.map(unitRow));
    },
  };
}
