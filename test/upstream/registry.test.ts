/**
 * Registry semantics at the real upstream (what the v3 server did): host
 * registration and refresh, services and metric auto-discovery with config
 * pushes, heartbeats and up/down on an injected clock, zone inventory, agent
 * versions, and the latency of a config change to an agent behind a relay.
 * Then the registry on its own over a real store: operator changes (add,
 * move, delete, services) interleaved with batches in flight lose nothing and
 * bring nothing back, in memory and after a reopen.
 */
import test, { type ExecutionContext } from 'ava';
import { BatchAckStatus, PacketType, type Service } from '../../protocol/index.js';
import { Registry, RocksSampleStore, type RegistryEvent } from '../../upstream/index.js';
import { eventually, TestAgent } from '../helpers/agent-client.js';
import { startRelay, tempDir } from '../helpers/relay-harness.js';
import { api, startUpstream } from '../helpers/upstream-harness.js';
import { addRelay, hostView, manualClock, query, withUpstream } from '../helpers/upstream-fixture.js';
import { agentRecord, sampleRecord, UplinkTestClient } from '../helpers/upstream-uplink-client.js';

const UUID = '8277e0910d750195b448797616e091ad';
const OTHER = 'e1671797c52e15f763380b45e841ec32';
const T = 1_700_000_000_000;

const CPU: Service = {
  name: 'cpu',
  plugin: 'cpu',
  exec_interval: 60,
  items: { user: { key: 'user', data_type: 'GAUGE' } },
};

test('HOSTCONFIG from an unknown UUID registers the host; a known host gets its ip, hostname, os and kernel refreshed', async (t) => {
  const clock = manualClock(T);
  const { up, base } = await withUpstream(t, {}, { now: clock.now });
  const { client } = await UplinkTestClient.open(base, 'zone-a', await addRelay(up, 'zone-a'), 's');

  const first = await client.hostConfig({
    uuid: UUID,
    ip: '10.1.0.5',
    hostname: 'web-5',
    os: 'linux',
    kernel: '5.10',
  });
  t.is(first.type, 'HOSTCONFIG_RESP');
  const host = first.type === 'HOSTCONFIG_RESP' ? first.body.host : null;
  t.like(host, { uuid: UUID, ip: '10.1.0.5', proxy: 'zone-a', services: [] });
  t.is(typeof host?.id, 'number');
  t.like(await hostView(up, UUID), {
    hostname: 'web-5',
    os: 'linux',
    kernel: '5.10',
    zone: 'zone-a',
    registeredAtMs: T,
    lastSeenMs: T,
    status: 'up',
  });

  clock.set(T + 5000);
  const second = await client.hostConfig({
    uuid: UUID,
    ip: '10.1.0.6',
    hostname: 'web-5b',
    os: 'linux-rt',
    kernel: '6.6',
  });
  t.is(second.type === 'HOSTCONFIG_RESP' ? second.body.host?.id : -1, host?.id, 'same host id');
  t.like(await hostView(up, UUID), {
    host: { ip: '10.1.0.6' },
    hostname: 'web-5b',
    os: 'linux-rt',
    kernel: '6.6',
    registeredAtMs: T,
    lastSeenMs: T + 5000,
  });
  // A request naming only the uuid changes nothing else.
  await client.hostConfig({ uuid: UUID });
  t.like(await hostView(up, UUID), {
    host: { ip: '10.1.0.6' },
    hostname: 'web-5b',
    os: 'linux-rt',
    kernel: '6.6',
  });
  t.is(((await api(up, 'GET', '/api/v1/hosts')).body as unknown[]).length, 1);
  await client.close();
});

test('with autoRegister false an unknown host gets host null and stays unknown; a known one is still served', async (t) => {
  const { up, base, dir } = await withUpstream(t);
  const token = await addRelay(up, 'zone-a');
  const { client } = await UplinkTestClient.open(base, 'zone-a', token, 's');
  t.is((await client.hostConfig({ uuid: UUID, ip: '10.1.0.5' })).type, 'HOSTCONFIG_RESP');
  await client.close();
  await up.stop();

  const strict = await startUpstream(`${dir}/up`, { autoRegister: false });
  t.teardown(() => strict.stop());
  const { client: c2 } = await UplinkTestClient.open(
    `ws://127.0.0.1:${strict.uplinkAddress.port}`,
    'zone-a',
    token,
    's',
  );
  const unknown = await c2.hostConfig({ uuid: OTHER, ip: '10.1.0.7' });
  t.deepEqual(unknown, { type: 'HOSTCONFIG_RESP', body: { id: unknown.body.id, uuid: OTHER, host: null } });
  t.is((await api(strict, 'GET', `/api/v1/hosts/${OTHER}`)).status, 404);
  const known = await c2.hostConfig({ uuid: UUID, ip: '10.1.0.5' });
  t.is(known.type === 'HOSTCONFIG_RESP' ? known.body.host?.uuid : '', UUID);
  t.is(((await api(strict, 'GET', '/api/v1/hosts')).body as unknown[]).length, 1);
  await c2.close();
});

test('HOSTCONFIGRESP carries the services set through the API, and the change is pushed to the relay', async (t) => {
  const { up, base } = await withUpstream(t);
  const { client } = await UplinkTestClient.open(base, 'zone-a', await addRelay(up, 'zone-a'), 's');
  await client.hostConfig({ uuid: UUID, ip: '10.1.0.5' });
  const put = await api(up, 'PUT', `/api/v1/hosts/${UUID}/services`, [CPU]);
  t.is(put.status, 200);
  const push = await client.next('CONFIG_PUSH');
  t.is(push.body.uuid, UUID);
  t.deepEqual(push.body.host?.services, [CPU]);
  const resp = await client.hostConfig({ uuid: UUID });
  t.deepEqual(resp.type === 'HOSTCONFIG_RESP' ? resp.body.host?.services : null, [CPU]);
  await client.close();
});

test('a flag:1 sample adds its metric to the service items (auto-discovery) and the change is pushed once', async (t) => {
  const { up, base } = await withUpstream(t);
  const { client } = await UplinkTestClient.open(base, 'zone-a', await addRelay(up, 'zone-a'), 's');
  await client.hostConfig({ uuid: UUID, ip: '10.1.0.5' });
  t.is((await api(up, 'PUT', `/api/v1/hosts/${UUID}/services`, [CPU])).status, 200);
  await client.next('CONFIG_PUSH');

  const ts = Math.floor(T / 1000);
  const sample = (
    metric: string,
    flag: number,
    service = 'cpu',
    value = 1,
  ): ReturnType<typeof sampleRecord> =>
    sampleRecord({ uuid: UUID, timestamp: ts, value, service, metric, flag });
  t.is(
    await client.sendBatch([
      { seq: 0, record: sample('steal', 1) },
      { seq: 1, record: sample('idle', 0) },
      { seq: 2, record: sample('whatever', 1, 'no-such-service') },
    ]),
    BatchAckStatus.STORED,
  );
  const push = await client.next('CONFIG_PUSH');
  const items = push.body.host?.services?.[0]?.items;
  t.deepEqual(items, {
    user: { key: 'user', data_type: 'GAUGE' },
    steal: { key: 'steal', data_type: 'GAUGE' },
  });
  t.deepEqual((await hostView(up, UUID))?.host.services?.[0]?.items, items);
  t.is((await query(up, 'cpu.steal')).length, 1, 'the discovering sample is stored too');

  // Discovering a metric already known changes nothing and pushes nothing.
  t.is(await client.sendBatch([{ seq: 3, record: sample('steal', 1, 'cpu', 2) }]), BatchAckStatus.STORED);
  await client.hostConfig({ uuid: UUID }); // a round trip after the batch: a push would be here by now
  t.false(client.received.some((m) => m.type === 'CONFIG_PUSH'));
  await client.close();
});

for (const [heartbeatMs, missed] of [
  [30_000, 3],
  [10_000, 2],
] as const) {
  test(`HOSTHB updates last-seen; down after ${missed} missed heartbeats of ${heartbeatMs} ms, never flapping at whole intervals`, async (t) => {
    const clock = manualClock(T);
    const overrides = heartbeatMs === 30_000 ? {} : { heartbeatMs, missedHeartbeats: missed };
    const { up, base } = await withUpstream(t, overrides, { now: clock.now });
    const { client } = await UplinkTestClient.open(base, 'zone-a', await addRelay(up, 'zone-a'), 's');
    await client.hostConfig({ uuid: UUID, ip: '10.1.0.5' });
    const status = async (): Promise<string | undefined> => (await hostView(up, UUID))?.status;
    let seq = 0;
    const heartbeat = (atMs: number): Promise<number> =>
      client.sendBatch([
        { seq: seq++, record: agentRecord(PacketType.HOSTHB, { uuid: UUID }, { receivedAtMs: atMs }) },
      ]);

    const seen = T + heartbeatMs;
    clock.set(seen);
    t.is(await heartbeat(seen), BatchAckStatus.STORED);
    t.is((await hostView(up, UUID))?.lastSeenMs, seen);
    // A late-delivered older heartbeat never moves last-seen back.
    t.is(await heartbeat(T + 1), BatchAckStatus.STORED);
    t.is((await hostView(up, UUID))?.lastSeenMs, seen);
    // A relay clock running an hour ahead cannot keep the host up past its death.
    t.is(await heartbeat(seen + 3_600_000), BatchAckStatus.STORED);
    t.is((await hostView(up, UUID))?.lastSeenMs, seen, 'clamped to the upstream clock');

    // Heartbeats due at whole intervals, a little late: still up at every one of them.
    for (let k = 1; k <= missed; k++) {
      clock.set(seen + k * heartbeatMs);
      t.is(await status(), 'up', `at exactly ${k} interval(s)`);
      clock.set(seen + k * heartbeatMs + heartbeatMs / 4);
      t.is(await status(), 'up', `a quarter interval after ${k}`);
    }
    clock.set(seen + (missed + 1) * heartbeatMs);
    t.is(await status(), 'down', `after ${missed} missed heartbeats`);
    t.is(
      ((await api(up, 'GET', '/api/v1/hosts')).body as { status: string }[])[0]?.status,
      'down',
      'the host list agrees',
    );

    // The next heartbeat brings it back.
    const back = seen + (missed + 1) * heartbeatMs;
    t.is(await heartbeat(back), BatchAckStatus.STORED);
    t.is(await status(), 'up');
    t.is((await hostView(up, UUID))?.lastSeenMs, back);
    await client.close();
  });
}

test('GETDEVICES / GETPORTS (INVENTORY_REQ) are answered with the asking relay zone items', async (t) => {
  const { up, base } = await withUpstream(t);
  const a = await UplinkTestClient.open(base, 'zone-a', await addRelay(up, 'zone-a'), 'sa');
  const b = await UplinkTestClient.open(base, 'zone-b', await addRelay(up, 'zone-b'), 'sb');
  const c = await UplinkTestClient.open(base, 'zone-c', await addRelay(up, 'zone-c'), 'sc');
  const devA = [{ id: 1, ip: '10.1.0.1', snmp_version: '2c', snmp_community: 'public' }];
  const devB = [
    { id: 2, ip: '10.2.0.1' },
    { id: 3, ip: '10.2.0.2' },
  ];
  const portsA = [{ id: 1, ip: '10.1.0.5', port: 22 }];
  const portsB = [{ id: 2, ip: '10.2.0.5', port: 443, status: 0 }];
  for (const [path, body] of [
    ['zones/zone-a/devices', devA],
    ['zones/zone-b/devices', devB],
    ['zones/zone-a/ports', portsA],
    ['zones/zone-b/ports', portsB],
  ] as const) {
    t.is((await api(up, 'PUT', `/api/v1/${path}`, body)).status, 200);
  }
  t.deepEqual(await a.client.inventory('devices'), devA);
  t.deepEqual(await b.client.inventory('devices'), devB);
  t.deepEqual(await a.client.inventory('ports'), portsA);
  t.deepEqual(await b.client.inventory('ports'), portsB);
  t.deepEqual(await c.client.inventory('devices'), [], 'a zone with nothing configured');
  await Promise.all([a.client.close(), b.client.close(), c.client.close()]);
});

test('UPDATEDEVICES, UPDATEPORTS, PORTDISCOVERYR and ASSESTDISCOVERY update the inventory (visible via the API)', async (t) => {
  const { up, base, dir } = await withUpstream(t);
  const { client } = await UplinkTestClient.open(base, 'zone-a', await addRelay(up, 'zone-a'), 's');
  await api(up, 'PUT', '/api/v1/zones/zone-a/devices', [
    { id: 1, ip: '10.1.0.1', snmp_community: 'public' },
    { id: 2, ip: '10.1.0.2' },
  ]);
  await api(up, 'PUT', '/api/v1/zones/zone-a/ports', [
    { id: 1, ip: '10.1.0.5', port: 22, status: 0 },
    { id: 2, ip: '10.1.0.5', port: 80, status: 0 },
  ]);
  const asset = {
    uuid: UUID,
    sn: 'SN-42',
    vender: 'Dell',
    cpus: [{ name: 'Xeon', model: 'E5' }],
    memorys: [{ size: '16 GB' }],
  };
  const status = await client.sendBatch([
    {
      seq: 0,
      record: agentRecord(PacketType.UPDATEDEVICES, [
        { id: 2, ip: '10.1.0.2', interfaces: { '1': { index: 1, name: 'eth0', status: 1 } } },
      ]),
    },
    { seq: 1, record: agentRecord(PacketType.UPDATEPORTS, [{ id: 2, ip: '10.1.0.5', port: 80, status: 1 }]) },
    {
      seq: 2,
      record: agentRecord(PacketType.PORTDISCOVERYR, {
        uuid: UUID,
        ports: [
          { port: 22, proc_name: 'sshd' },
          { port: 5432, proc_name: 'postgres' },
        ],
      }),
    },
    { seq: 3, record: agentRecord(PacketType.ASSESTDISCOVERY, asset) },
  ]);
  t.is(status, BatchAckStatus.STORED);
  const devices = [
    { id: 1, ip: '10.1.0.1', snmp_community: 'public' },
    { id: 2, ip: '10.1.0.2', interfaces: { '1': { index: 1, name: 'eth0', status: 1 } } },
  ];
  const ports = [
    { id: 1, ip: '10.1.0.5', port: 22, status: 0 },
    { id: 2, ip: '10.1.0.5', port: 80, status: 1 },
  ];
  const hostPorts = [
    { port: 22, proc_name: 'sshd' },
    { port: 5432, proc_name: 'postgres' },
  ];
  t.deepEqual((await api(up, 'GET', '/api/v1/zones/zone-a/devices')).body, devices);
  t.deepEqual((await api(up, 'GET', '/api/v1/zones/zone-a/ports')).body, ports);
  t.deepEqual((await api(up, 'GET', `/api/v1/hosts/${UUID}/ports`)).body, hostPorts);
  t.deepEqual((await api(up, 'GET', `/api/v1/hosts/${UUID}/asset`)).body, asset);
  t.deepEqual(await client.inventory('devices'), devices, 'the relay polls the updated list');
  await client.close();

  // Written with the batch: still there after a restart.
  await up.stop();
  const again = await startUpstream(`${dir}/up`);
  t.teardown(() => again.stop());
  t.deepEqual((await api(again, 'GET', '/api/v1/zones/zone-a/ports')).body, ports);
  t.deepEqual((await api(again, 'GET', `/api/v1/hosts/${UUID}/asset`)).body, asset);
});

test('latest agent version per platform: API PUT, then VERSION_REQ, CLIENTVERSION through a relay and directly', async (t) => {
  const { up, base, dir } = await withUpstream(t);
  const token = await addRelay(up, 'zone-a');
  const raw = await UplinkTestClient.open(base, 'zone-a', token, 's');
  t.is(await raw.client.version(), '', 'none set yet');
  t.is((await api(up, 'PUT', '/api/v1/version', { version: '3.2.0' })).status, 200);
  t.is((await api(up, 'PUT', '/api/v1/version', { version: '3.3.1', platform: 'windows' })).status, 200);
  t.is(await raw.client.version(), '3.2.0');
  t.is(await raw.client.version('windows'), '3.3.1');
  t.is(await raw.client.version('linux'), '3.2.0', 'a platform without its own falls back to the default');
  await raw.client.close();

  const { relay, port } = await startRelay(up.uplinkUrl, `${dir}/relay`, { relayId: 'zone-a', token });
  t.teardown(() => relay.stop());
  await eventually(() => relay.clientVersion() !== null, 10_000, 'relay learned the version');
  const viaRelay = await TestAgent.connect(port);
  t.teardown(() => viaRelay.destroy());
  viaRelay.send(PacketType.CLIENTVERSION, null);
  t.deepEqual((await viaRelay.next(PacketType.CLIENTVERSIONRESP)).body, { version: '3.2.0' });

  const direct = await TestAgent.connect(up.agentAddresses[0]?.port ?? 0);
  t.teardown(() => direct.destroy());
  direct.send(PacketType.CLIENTVERSION, null);
  t.deepEqual((await direct.next(PacketType.CLIENTVERSIONRESP)).body, { version: '3.2.0' });
});

test('a config change made through the API reaches a v3 agent behind a relay within 2 s', async (t) => {
  const { up, dir } = await withUpstream(t);
  const token = await addRelay(up, 'zone-a');
  const { relay, port } = await startRelay(up.uplinkUrl, `${dir}/relay`, { relayId: 'zone-a', token });
  t.teardown(() => relay.stop());
  await eventually(() => relay.uplink.state === 'connected', 10_000, 'uplink');
  const agent = await TestAgent.connect(port);
  t.teardown(() => agent.destroy());
  agent.send(PacketType.HOSTCONFIG, { uuid: UUID, ip: '10.1.0.5', hostname: 'web-5' });
  t.deepEqual((await agent.next(PacketType.HOSTCONFIGRESP)).body.services, []);

  const started = performance.now();
  const put = await api(up, 'PUT', `/api/v1/hosts/${UUID}/services`, [CPU]);
  t.is(put.status, 200);
  const pushed = await agent.next(PacketType.HOSTCONFIGRESP, 2000);
  const elapsed = performance.now() - started;
  t.deepEqual(pushed.body.services, [CPU]);
  t.true(elapsed < 2000, `config reached the agent in ${elapsed.toFixed(0)} ms`);
  t.log(`API PUT → agent HOSTCONFIGRESP: ${elapsed.toFixed(1)} ms`);
});

/**
 * A Registry over a real store on a temp dir, with UUID registered in zone-a at T and the clock
 * then at T + 60 s; `reopen` closes the store and opens both again.
 */
async function openRegistry(
  t: ExecutionContext,
): Promise<{ store: RocksSampleStore; registry: Registry; reopen: () => Promise<Registry> }> {
  const dir = tempDir('owl-registry-test-');
  let store = await RocksSampleStore.open({ location: dir.path });
  t.teardown(async () => {
    await store.close();
    dir.remove();
  });
  // Hosts register at T; heartbeats come up to a minute later.
  let now = T;
  const options = { autoRegister: true, heartbeatMs: 30_000, missedHeartbeats: 3, now: () => now };
  const registry = await Registry.open(store, options);
  await registry.hostConfig({ uuid: UUID, ip: '10.1.0.5' }, 'zone-a');
  now = T + 60_000;
  return {
    store,
    registry,
    reopen: async () => {
      await store.close();
      store = await RocksSampleStore.open({ location: dir.path });
      return Registry.open(store, options);
    },
  };
}

const heartbeat = (uuid: string, atMs: number): RegistryEvent =>
  ({ kind: 'heartbeat', uuid, atMs, ip: '' }) as RegistryEvent;
const portsEvent = (uuid: string): RegistryEvent => ({ kind: 'ports', uuid, ports: [{ port: 22 }] });
const assetEvent = (uuid: string): RegistryEvent => ({ kind: 'asset', uuid, asset: { uuid, sn: 'SN-1' } });

test('registry: a batch prepared after a delete was issued does not bring the host back', async (t) => {
  const { store, registry, reopen } = await openRegistry(t);
  const deleting = registry.deleteHost(UUID); // queued, not yet durable
  const batch = registry.prepare([heartbeat(UUID, T + 1000)]);
  t.false(
    batch.ops.some((op) => op.key === `host/${UUID}`),
    'the heartbeat of a deleted host writes no host record',
  );
  await store.write([], { meta: batch.ops });
  batch.apply();
  t.like(await deleting, { host: { uuid: UUID } });
  t.is(registry.host(UUID), undefined);
  t.is((await reopen()).host(UUID), undefined, 'and not after a reopen');
});

test('registry: a delete issued while a batch write is in flight is not undone when the batch applies', async (t) => {
  const { store, registry, reopen } = await openRegistry(t);
  const batch = registry.prepare([heartbeat(UUID, T + 1000), portsEvent(UUID), assetEvent(UUID)]);
  const writing = store.write([], { meta: batch.ops });
  const deleting = registry.deleteHost(UUID);
  await writing;
  batch.apply();
  await deleting;
  t.is(registry.host(UUID), undefined);
  t.deepEqual(registry.ports(UUID), []);
  t.is(registry.asset(UUID), undefined);
  const again = await reopen();
  t.is(again.host(UUID), undefined);
  t.deepEqual(again.ports(UUID), []);
  t.is(again.asset(UUID), undefined);
});

test('registry: operator changes made while a batch is in flight keep the batch changes, and the reverse', async (t) => {
  const { store, registry, reopen } = await openRegistry(t);
  const pushes: string[] = [];
  registry.onHostChanged = (r) => pushes.push(`${r.zone}:${r.host.services?.length ?? 0}`);

  const batch = registry.prepare([heartbeat(UUID, T + 5000)]);
  const writing = store.write([], { meta: batch.ops });
  const services = registry.setServices(UUID, [CPU]);
  const moving = registry.moveHost(UUID, 'zone-b');
  await writing;
  batch.apply();
  await Promise.all([services, moving]);
  // And the reverse: a batch prepared while operator writes are queued builds on them.
  const moved = registry.moveHost(UUID, 'zone-c');
  const later = registry.prepare([heartbeat(UUID, T + 9000)]);
  await store.write([], { meta: later.ops });
  later.apply();
  await moved;

  const expect = { lastSeenMs: T + 9000, zone: 'zone-c', host: { proxy: 'zone-c', services: [CPU] } };
  t.like(registry.host(UUID), expect);
  t.like((await reopen()).host(UUID), expect);
  t.deepEqual(
    pushes,
    ['zone-a:1', 'zone-b:1', 'zone-c:1'],
    'each change pushed once, to the zone of the time',
  );
});

test('registry: an operator change whose write fails is undone', async (t) => {
  const { store, registry } = await openRegistry(t);
  await registry.addHost({ uuid: OTHER, zone: 'zone-b' });
  const sorted = (): unknown[] => registry.list().sort((a, b) => a.host.uuid.localeCompare(b.host.uuid));
  const before = sorted();
  await store.close();
  await t.throwsAsync(registry.deleteHost(UUID));
  await t.throwsAsync(registry.moveHost(OTHER, 'zone-c'));
  await t.throwsAsync(registry.addHost({ uuid: 'third', zone: 'zone-a' }));
  t.deepEqual(sorted(), before);
});
