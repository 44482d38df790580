/**
 * The relay's SNMP poller against a real Debian snmpd on 127.0.0.1 (v2c and
 * v3 authPriv): rates checked against what snmpget reads from the same
 * agent, a Counter32 wrap, a restart (no spike), a silent device.
 */
import test from 'ava';
import { DevicePoller, SnmpSession, type SnmpDevice } from '../../relay/zone/index.js';
import { eventually } from '../helpers/agent-client.js';
import { tempDir } from '../helpers/relay-harness.js';
import { closedUdpPort, Snmpd, SNMP_COMMUNITY, SNMP_USER, TEST_COUNTER_OID } from '../helpers/snmpd.js';

const HC_IN_OCTETS_LO = '1.3.6.1.2.1.31.1.1.1.6.1';

function device(port: number, over: Partial<SnmpDevice> = {}): SnmpDevice {
  return {
    id: 'switch-1',
    address: '127.0.0.1',
    port,
    version: '2c',
    community: SNMP_COMMUNITY,
    intervalMs: 1000,
    timeoutMs: 1000,
    retries: 1,
    customOids: [{ name: 'testCounter', oid: TEST_COUNTER_OID }],
    ...over,
  };
}

async function withSnmpd(fn: (d: Snmpd) => Promise<void>): Promise<void> {
  const dir = tempDir('owl-snmpd-');
  const d = await Snmpd.start(dir.path);
  try {
    await fn(d);
  } finally {
    await d.stop();
    dir.remove();
  }
}

test.serial('v2c: the interface table and octet rates agree with snmpget on the same agent', async (t) => {
  await withSnmpd(async (snmpd) => {
    const poller = new DevicePoller(device(snmpd.port), new SnmpSession(device(snmpd.port)));
    const x0 = BigInt(await snmpd.snmpget([HC_IN_OCTETS_LO]));
    const first = await poller.poll();
    const x1 = BigInt(await snmpd.snmpget([HC_IN_OCTETS_LO]));
    t.true(first.up);
    t.true(first.primed, 'the first poll primes');
    t.false(
      first.samples.some((s) => s.metric === 'if.inOctets'),
      'no rate from one reading',
    );
    const lo = first.interfaces?.find((i) => i.name === 'lo');
    t.truthy(lo, 'lo is in the interface table');
    t.is(lo?.index, 1);
    t.is(lo?.status, 1, 'lo is up');
    const x2 = BigInt(await snmpd.snmpget([HC_IN_OCTETS_LO]));
    const second = await poller.poll();
    const x3 = BigInt(await snmpd.snmpget([HC_IN_OCTETS_LO]));
    t.false(second.primed);
    t.true(
      second.varbinds < first.varbinds,
      `the naming columns and 32-bit twins are not walked every poll (${first.varbinds} then ${second.varbinds} values)`,
    );
    t.is(second.interfaces, undefined, 'an unchanged table is not reported again');
    const at = (r: typeof first, metric: string): { value: number; t: number } => {
      const s = r.samples.find((x) => x.metric === metric && x.tags?.['ifIndex'] === '1');
      if (s === undefined) throw new Error(`no ${metric} for lo`);
      return { value: s.value, t: s.timestamp_ms ?? 0 };
    };
    const rate = at(second, 'if.inOctets').value;
    const elapsedS = (at(second, 'if.operStatus').t - at(first, 'if.operStatus').t) / 1000;
    const delta = rate * elapsedS;
    // The counter moved at least as much as snmpget saw between the polls, at most as much as around them.
    t.true(delta >= Number(x2 - x1) - 1, `delta ${delta} >= ${x2 - x1}`);
    t.true(delta <= Number(x3 - x0) + 1, `delta ${delta} <= ${x3 - x0}`);
    const up = second.samples.find((s) => s.metric === 'snmp.up');
    t.is(up?.value, 1);
    t.is(up?.tags?.['device'], 'switch-1');
  });
});

test.serial('v3 authPriv (SHA/AES) polls the same table; a wrong key gets nothing', async (t) => {
  await withSnmpd(async (snmpd) => {
    const v3 = device(snmpd.port, {
      version: '3',
      user: {
        name: SNMP_USER.name,
        level: 'authPriv',
        authProtocol: 'sha',
        authKey: SNMP_USER.authKey,
        privProtocol: 'aes',
        privKey: SNMP_USER.privKey,
      },
    });
    delete v3.community;
    const r = await new DevicePoller(v3, new SnmpSession(v3)).poll();
    t.true(r.up, r.error);
    t.true((r.interfaces ?? []).some((i) => i.name === 'lo'));
    const bad = { ...v3, timeoutMs: 300, retries: 0, user: { ...v3.user!, privKey: 'not-the-key-at-all' } };
    const refused = await new DevicePoller(bad, new SnmpSession(bad)).poll();
    t.false(refused.up);
    t.deepEqual(
      refused.samples.map((s) => [s.metric, s.value]),
      [['snmp.up', 0]],
    );
  });
});

test.serial(
  'a Counter32 wrap gives the true rate; a restart (sysUpTime back) primes again with no spike',
  async (t) => {
    await withSnmpd(async (snmpd) => {
      const d = device(snmpd.port);
      const poller = new DevicePoller(d, new SnmpSession(d));
      snmpd.setCounter(4_294_967_290n);
      const a = await poller.poll();
      t.false(a.samples.some((s) => s.metric === 'snmp.testCounter'));
      snmpd.setCounter(9n);
      const b = await poller.poll();
      const rate = b.samples.find((s) => s.metric === 'snmp.testCounter');
      const ta = a.samples.find((s) => s.metric === 'snmp.up')?.timestamp_ms ?? 0;
      const tb = b.samples.find((s) => s.metric === 'snmp.up')?.timestamp_ms ?? 0;
      t.truthy(rate);
      t.true(
        Math.abs((rate?.value ?? 0) * ((tb - ta) / 1000) - 15) < 1e-6,
        `15 counts over the wrap, got rate ${rate?.value}`,
      );

      // A restart shows as sysUpTime going back: let this agent's uptime pass what a fresh one
      // will have by its first poll.
      await eventually(async () => (await snmpd.uptime()) >= 500, 20_000, 'an uptime of 5 s', 200);
      t.true((await poller.poll()).up, 'a poll at that uptime');
      await snmpd.stop();
      const silent = await new DevicePoller(
        { ...d, timeoutMs: 300, retries: 0 },
        new SnmpSession({ ...d, timeoutMs: 300, retries: 0 }),
      ).poll();
      t.false(silent.up);
      await snmpd.start();
      snmpd.setCounter(100n);
      const c = await poller.poll();
      t.true(c.up, c.error);
      t.true(c.primed, 'the restart primes');
      t.deepEqual(
        c.samples.filter(
          (s) =>
            s.metric.startsWith('if.in') || s.metric.startsWith('if.out') || s.metric === 'snmp.testCounter',
        ),
        [],
        'no rate across the restart',
      );
    });
  },
);

test('a device that does not answer is up = 0 and nothing else, with the reason', async (t) => {
  const port = await closedUdpPort();
  const d = device(port, { timeoutMs: 200, retries: 1 });
  const r = await new DevicePoller(d, new SnmpSession(d)).poll();
  t.false(r.up);
  t.deepEqual(
    r.samples.map((s) => [s.metric, s.value]),
    [['snmp.up', 0]],
  );
  t.truthy(r.error);
});
