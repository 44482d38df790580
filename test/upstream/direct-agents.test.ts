/**
 * Agents and v3 proxies talking to the upstream's own agent endpoint (the
 * relay's agent code, no relay in between): a v3 agent is served and stored
 * under zone `direct`; a v3 proxy (td-proxy) is known by its source address
 * and served its zone's inventory; anyone else asking for an inventory is
 * refused.
 */
import test from 'ava';
import { ErrorCode, PacketType, type Service } from '../../protocol/index.js';
import { eventually, TestAgent } from '../helpers/agent-client.js';
import { RawPeer } from '../helpers/agent-peer.js';
import { api, startUpstream } from '../helpers/upstream-harness.js';
import { captureLog, hostView, manualClock, query, withUpstream } from '../helpers/upstream-fixture.js';
import { v3Sample } from '../helpers/v3-sample.js';

const UUID = 'c4ca4238a0b923820dcc509a6f75849b';
const PROXIED = 'c81e728d9d4c2f636f067f89cc14862c';
const T = 1_700_000_000_000;
const PROXY = '127.0.0.2';

test('a v3 agent talking to the upstream directly: HOSTCONFIG, CLIENTVERSION, HOSTHB and SERIESDATA, stored with zone direct', async (t) => {
  const clock = manualClock(T);
  const { up } = await withUpstream(t, {}, { now: clock.now });
  await api(up, 'PUT', '/api/v1/version', { version: '3.4.0' });
  const agent = await TestAgent.connect(up.agentAddresses[0]?.port ?? 0);
  t.teardown(() => agent.destroy());

  agent.send(PacketType.HOSTCONFIG, {
    uuid: UUID,
    ip: '10.9.0.5',
    hostname: 'db-1',
    os: 'linux',
    kernel: '6.1',
  });
  const resp = await agent.next(PacketType.HOSTCONFIGRESP);
  t.like(resp.body, { uuid: UUID, ip: '10.9.0.5', proxy: 'direct', services: [] });
  t.like(await hostView(up, UUID), { zone: 'direct', hostname: 'db-1', registeredAtMs: T });

  agent.send(PacketType.CLIENTVERSION, null);
  t.deepEqual((await agent.next(PacketType.CLIENTVERSIONRESP)).body, { version: '3.4.0' });

  clock.set(T + 30_000);
  agent.send(PacketType.HOSTHB, { uuid: UUID });
  const ts = Math.floor(T / 1000);
  for (let i = 0; i < 20; i++) {
    agent.send(
      PacketType.SERIESDATA,
      v3Sample({
        uuid: UUID,
        ip: '10.9.0.5',
        timestamp: ts + i,
        service_name: 'disk',
        metric: 'used',
        value: i * 1.5,
      }),
    );
  }
  await eventually(async () => (await up.store.stats()).points === 20, 10_000, '20 points stored');
  const series = await query(up, 'disk.used');
  t.is(series.length, 1);
  t.deepEqual(series[0]?.tags, { uuid: UUID, ip: '10.9.0.5', zone: 'direct' });
  t.deepEqual(
    series[0]?.values,
    Array.from({ length: 20 }, (_, i) => i * 1.5),
  );
  t.is((await hostView(up, UUID))?.lastSeenMs, T + 30_000, 'HOSTHB stamped with the upstream clock');

  // A config change is pushed to the directly connected agent.
  const cpu: Service = { name: 'cpu', plugin: 'cpu', exec_interval: 30 };
  t.is((await api(up, 'PUT', `/api/v1/hosts/${UUID}/services`, [cpu])).status, 200);
  t.deepEqual((await agent.next(PacketType.HOSTCONFIGRESP, 2000)).body.services, [cpu]);
});

test('a v4 agent resending a SERIESBATCH directly, across an upstream restart, is stored once', async (t) => {
  const { up, dir } = await withUpstream(t);
  const batch = (value: number): Parameters<RawPeer['send']>[1] => ({
    session: 'boot-1',
    seq: 7,
    uuid: UUID,
    samples: [{ metric: 'load', service_name: 'os', value, timestamp_ms: T }],
  });
  const peer = await RawPeer.connect(up.agentAddresses[0]?.port ?? 0);
  t.teardown(() => peer.destroy());
  await peer.hello(undefined, UUID);
  await peer.send(PacketType.SERIESBATCH, batch(1) as never);
  await peer.until((p) => p.acks().length === 1);
  t.deepEqual(peer.acks()[0], { session: 'boot-1', seq: 7 });
  peer.destroy();
  await up.stop();

  // The ACK was lost with the connection; the agent resends to a fresh upstream process.
  const again = await startUpstream(`${dir}/up`);
  t.teardown(() => again.stop());
  const retry = await RawPeer.connect(again.agentAddresses[0]?.port ?? 0);
  t.teardown(() => retry.destroy());
  await retry.hello(undefined, UUID);
  await retry.send(PacketType.SERIESBATCH, batch(999) as never);
  await retry.until((p) => p.acks().length === 1);
  const series = await query(again, 'os.load');
  t.deepEqual(series[0]?.values, [1], 'the resent batch was not stored again');
  t.is(series[0]?.tags['zone'], 'direct');
});

test('a v3 proxy (known by address) gets its zone devices and ports and updates its zone inventory', async (t) => {
  const { up } = await withUpstream(t, { v3Proxies: { [PROXY]: 'zone-b' } });
  const devices = [{ id: 1, ip: '10.2.0.1', snmp_version: '2c', snmp_community: 'public', snmp_port: 161 }];
  const ports = [{ id: 1, ip: '10.2.0.5', port: 22, status: 0 }];
  t.is((await api(up, 'PUT', '/api/v1/zones/zone-b/devices', devices)).status, 200);
  t.is((await api(up, 'PUT', '/api/v1/zones/zone-b/ports', ports)).status, 200);
  await api(up, 'PUT', '/api/v1/zones/zone-a/devices', [{ id: 9, ip: '10.1.0.1' }]);

  const proxy = await RawPeer.connect(up.agentAddresses[0]?.port ?? 0, { localAddress: PROXY });
  t.teardown(() => proxy.destroy());
  await proxy.send(PacketType.GETDEVICES, { proxy: PROXY });
  await proxy.send(PacketType.GETPORTS, { proxy: PROXY });
  await proxy.until(
    (p) => p.countOf(PacketType.GETDEVICESRESP) === 1 && p.countOf(PacketType.GETPORTSRESP) === 1,
  );
  t.deepEqual(proxy.received.find((p) => p.type === PacketType.GETDEVICESRESP)?.body, devices);
  t.deepEqual(proxy.received.find((p) => p.type === PacketType.GETPORTSRESP)?.body, ports);

  // What it polled comes back as updates, stored in zone-b's inventory.
  await proxy.send(PacketType.UPDATEDEVICES, [
    { id: 1, ip: '10.2.0.1', interfaces: { '1': { index: 1, status: 2 } } },
  ]);
  await proxy.send(PacketType.UPDATEPORTS, [{ id: 1, ip: '10.2.0.5', port: 22, status: 1 }]);
  // And a host behind it registers in zone-b; its samples are tagged zone-b.
  await proxy.send(PacketType.HOSTCONFIG, { uuid: PROXIED, ip: '10.2.0.5' });
  await proxy.send(PacketType.SERIESDATA, {
    uuid: PROXIED,
    ip: '10.2.0.5',
    timestamp: Math.floor(T / 1000),
    service_name: 'cpu',
    metric: 'user',
    value: 3,
  });
  await proxy.until((p) => p.countOf(PacketType.HOSTCONFIGRESP) === 1);
  await eventually(
    async () =>
      ((await api(up, 'GET', '/api/v1/zones/zone-b/ports')).body as { status?: number }[])[0]?.status === 1,
    10_000,
    'UPDATEPORTS stored',
  );
  t.deepEqual((await api(up, 'GET', '/api/v1/zones/zone-b/devices')).body, [
    { ...devices[0], interfaces: { '1': { index: 1, status: 2 } } },
  ]);
  t.deepEqual((await api(up, 'GET', '/api/v1/zones/zone-a/devices')).body, [{ id: 9, ip: '10.1.0.1' }]);
  t.is((await hostView(up, PROXIED))?.zone, 'zone-b');
  await eventually(async () => (await query(up, 'cpu.user')).length === 1, 10_000, 'sample stored');
  t.is((await query(up, 'cpu.user'))[0]?.tags['zone'], 'zone-b');
});

test('GETDEVICES / GETPORTS from an address that is not a v3 proxy are refused with OWL_ERR_UNEXPECTED_PACKET', async (t) => {
  const log = captureLog();
  const { up } = await withUpstream(t, { v3Proxies: { [PROXY]: 'zone-b' } }, { logger: log.logger });
  await api(up, 'PUT', '/api/v1/zones/zone-b/devices', [{ id: 1, ip: '10.2.0.1' }]);
  const port = up.agentAddresses[0]?.port ?? 0;

  // A v4 session learns why it is closed.
  const v4 = await RawPeer.connect(port, { localAddress: '127.0.0.1' });
  t.teardown(() => v4.destroy());
  await v4.hello(undefined);
  await v4.send(PacketType.GETDEVICES, { proxy: PROXY });
  await v4.waitClosed();
  t.deepEqual(
    v4.errors().map((e) => e.code),
    [ErrorCode.UNEXPECTED_PACKET],
  );
  t.is(v4.countOf(PacketType.GETDEVICESRESP), 0);

  // A v3 peer (first packet v3) only ever receives v3 packets: closed, the code goes to the log.
  for (const [source, type] of [
    ['127.0.0.3', PacketType.GETPORTS],
    ['127.0.0.1', PacketType.GETDEVICES],
  ] as const) {
    const v3 = await RawPeer.connect(port, { localAddress: source });
    t.teardown(() => v3.destroy());
    await v3.send(type, { proxy: PROXY });
    await v3.waitClosed();
    t.deepEqual(v3.received, [], `nothing sent to ${source}`);
    t.true(
      log.lines.some(
        (l) =>
          l['msg'] === 'agent connection error' &&
          l['code'] === ErrorCode.UNEXPECTED_PACKET &&
          l['agent'] === source,
      ),
      `log line for ${source}`,
    );
  }
});
