/**
 * The zone schedule against a real snmpd: samples every interval, the
 * interface table reported once, one log line when the device goes silent
 * and one when it answers again (however many polls fail between), no rate
 * across the restart, and a device removed from the zone stops being polled.
 */
import test from 'ava';
import { SYSTEM_TIMERS, type BatchSample, type NetDevice, type Port } from '../../protocol/index.js';
import { ZonePoller, type NetDeviceV4 } from '../../relay/zone/index.js';
import { eventually } from '../helpers/agent-client.js';
import { tempDir } from '../helpers/relay-harness.js';
import { Snmpd, SNMP_COMMUNITY } from '../helpers/snmpd.js';

class Collect {
  samples: BatchSample[] = [];
  devices: NetDevice[][] = [];
  ports: Port[][] = [];
  lines: { level: string; msg: string; obj: Record<string, unknown> }[] = [];
  readonly sink = {
    samples: async (s: BatchSample[]) => void this.samples.push(...s),
    devices: async (d: NetDevice[]) => void this.devices.push(d),
    ports: async (p: Port[]) => void this.ports.push(p),
  };
  readonly log = {
    info: (obj: object, msg: string) =>
      void this.lines.push({ level: 'info', msg, obj: obj as Record<string, unknown> }),
    warn: (obj: object, msg: string) =>
      void this.lines.push({ level: 'warn', msg, obj: obj as Record<string, unknown> }),
  };
  count(metric: string, value?: number): number {
    return this.samples.filter((s) => s.metric === metric && (value === undefined || s.value === value))
      .length;
  }
}

test('a device polled on its interval through a silence and a restart: one line per change, no spike', async (t) => {
  const dir = tempDir('owl-zone-');
  const snmpd = await Snmpd.start(dir.path);
  const c = new Collect();
  const zone = new ZonePoller({
    sink: c.sink,
    log: c.log,
    timers: SYSTEM_TIMERS,
    concurrency: 4,
    portIntervalMs: 60_000,
    portTimeoutMs: 1000,
    portConcurrency: 4,
  });
  t.teardown(async () => {
    zone.close();
    await snmpd.stop();
    dir.remove();
  });
  const device: NetDeviceV4 = {
    id: 7,
    uuid: 'sw-7',
    ip: '127.0.0.1',
    snmp_version: '2c',
    snmp_community: SNMP_COMMUNITY,
    snmp_port: snmpd.port,
    update_interval: 0.2,
    snmp_timeout_ms: 150,
    snmp_retries: 0,
  };
  zone.setDevices([device]);
  await eventually(() => c.count('if.inOctets') > 0, 10_000, 'rates after priming');
  t.is(c.devices.length, 1, 'the interface table went up once');
  const update = c.devices[0]?.[0];
  t.is(update?.uuid, 'sw-7');
  t.is(update?.snmp_community, undefined, 'no credentials in the inventory update');
  t.truthy(Object.values(update?.interfaces ?? {}).find((i) => i.name === 'lo'));

  // The upstream merges the reported table into the inventory and sends it back: no restart.
  zone.setDevices([{ ...device, interfaces: update?.interfaces ?? null }]);
  const rates = c.count('if.inOctets');
  await eventually(() => c.count('if.inOctets') > rates, 10_000, 'rates go on');
  t.is(c.lines.filter((l) => l.msg.startsWith('device counters primed')).length, 1, 'not primed again');

  await snmpd.stop();
  await eventually(() => c.count('snmp.up', 0) >= 3, 10_000, 'three silent polls');
  const before = c.samples.length;
  await snmpd.start();
  await eventually(
    () =>
      c.count('snmp.up', 1) > 0 &&
      c.samples.slice(before).some((s) => s.metric === 'snmp.up' && s.value === 1),
    10_000,
    'answering again',
  );
  await eventually(
    () => c.samples.slice(before).some((s) => s.metric === 'if.inOctets'),
    10_000,
    'rates again',
  );

  const msgs = c.lines.map((l) => l.msg);
  t.is(msgs.filter((m) => m === 'device silent').length, 1, 'one line for the silence');
  t.is(msgs.filter((m) => m === 'device answering').length, 2, 'one line at start, one on return');
  t.false(JSON.stringify(c.lines).includes(SNMP_COMMUNITY), 'the community is never logged');
  // Across the restart, octet rates stay plausible for loopback (no 2^64-sized spike).
  const maxRate = Math.max(...c.samples.filter((s) => s.metric === 'if.inOctets').map((s) => s.value));
  t.true(maxRate < 1e10, `largest inOctets rate ${maxRate}`);

  // Replace the device by another: the first one's polls stop while the other's go on.
  const upOf = (id: string) =>
    c.samples.filter((x) => x.metric === 'snmp.up' && x.tags?.['device'] === id).length;
  zone.setDevices([{ ...device, id: 8, uuid: 'sw-8' }]);
  const first = upOf('sw-7');
  await eventually(() => upOf('sw-8') >= 3, 10_000, 'three polls of the new device');
  t.is(upOf('sw-7'), first, 'the removed device is not polled');
  t.deepEqual(
    zone.status().map((d) => d.device),
    ['sw-8'],
  );
});
