// Zones → relays: one row per zone (a relay's id is its zone; `direct` is the upstream's own
// agents), with the relay's uplink as its last RELAY_STATUS told it.
import { apiGet } from './api.js';
import { ago, badge, bytes, count, duration, h, table } from './dom.js';

function relayState(zone, relay) {
  if (zone === 'direct') return badge('upstream', 'muted');
  if (relay === undefined) return badge('no relay', 'muted');
  if (relay.revoked) return badge('revoked', 'bad');
  return relay.connected ? badge('connected', 'good') : badge('down', 'bad');
}

const dash = () => h('span', { className: 'muted' }, '—');

function row(zone, relay, hosts) {
  const status = relay?.live?.status;
  const spool = status?.spool;
  const drops = status === undefined ? undefined : Object.values(status.dropped).reduce((a, b) => a + b, 0);
  const up = hosts.filter((x) => x.status === 'up').length;
  return h(
    'tr',
    {
      dataset: {
        zone,
        ...(relay === undefined ? {} : { relay: relay.id, connected: String(relay.connected) }),
      },
    },
    h('th', { scope: 'row' }, zone),
    h('td', {}, relayState(zone, relay)),
    h(
      'td',
      { className: 'num', title: 'age of the oldest record the relay has not had acknowledged' },
      spool === undefined ? dash() : spool.oldestAgeMs === null ? '0 (empty)' : duration(spool.oldestAgeMs),
    ),
    h(
      'td',
      { className: 'num', title: spool ? `${count(spool.records)} records` : '' },
      spool ? bytes(spool.bytes) : dash(),
    ),
    h(
      'td',
      { className: 'num', title: status ? JSON.stringify(status.dropped) : '' },
      drops === undefined ? dash() : count(drops),
    ),
    h('td', {}, status?.version ?? dash()),
    h('td', { className: 'num' }, status ? count(status.agents) : dash()),
    h('td', { className: 'num' }, `${up} / ${hosts.length}`),
    h('td', {}, relay?.live ? ago(relay.live.connectedAtMs) : dash()),
    h('td', {}, relay?.store ? ago(relay.store.lastStoredAtMs) : dash()),
  );
}

export function relaysView(root) {
  const summary = h('p', { className: 'muted' });
  const { el, body } = table('relays', [
    'Zone',
    'Relay',
    'Uplink lag',
    'Backlog',
    'Drops',
    'Version',
    'Agents',
    'Hosts up',
    'Connected',
    'Last stored',
  ]);
  root.append(h('h1', {}, 'Zones and relays'), summary, el);
  return {
    async refresh() {
      const [relays, hosts] = await Promise.all([apiGet('relays'), apiGet('hosts')]);
      const zones = [...new Set([...relays.map((r) => r.id), ...hosts.map((x) => x.zone)])].sort();
      body.replaceChildren(
        ...zones.map((zone) =>
          row(
            zone,
            relays.find((r) => r.id === zone),
            hosts.filter((x) => x.zone === zone),
          ),
        ),
      );
      const connected = relays.filter((r) => r.connected).length;
      summary.textContent = `${zones.length} zones, ${connected} of ${relays.filter((r) => !r.revoked).length} relays connected.`;
    },
  };
}
