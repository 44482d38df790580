/**
 * Adding, moving and deleting hosts through the operator API (docs/api.md),
 * against a real upstream with real relays, v3 agents, raw uplinks and the
 * CLI as a child process: a pre-added host is served with autoRegister off,
 * a moved host's config goes to its new zone only, a deleted host is gone
 * durably (series kept) and is then treated as any unknown UUID.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BatchAckStatus, PacketType, type Service } from '../../protocol/index.js';
import { DIRECT_ZONE } from '../../upstream/index.js';
import { eventually, TestAgent } from '../helpers/agent-client.js';
import { startRelay } from '../helpers/relay-harness.js';
import { callApi } from '../helpers/upstream-api.js';
import { api, startUpstream } from '../helpers/upstream-harness.js';
import { addRelay, hostView, manualClock, query, withUpstream } from '../helpers/upstream-fixture.js';
import { agentRecord, sampleRecord, UplinkTestClient } from '../helpers/upstream-uplink-client.js';

const UUID = '9bf31c7ff062936a96d3c8bd1f8f2ff3';
const OTHER = 'c74d97b01eae257e44aa9d5bade97baf';
const T = 1_700_000_000_000;
const CLI = fileURLToPath(new URL('../../upstream/cli.ts', import.meta.url));
const run = promisify(execFile);

const CPU: Service = {
  name: 'cpu',
  plugin: 'cpu',
  exec_interval: 60,
  items: { user: { key: 'user', data_type: 'GAUGE' } },
};
const MEM: Service = { name: 'mem', plugin: 'mem', exec_interval: 30 };

function codeOf(body: unknown): unknown {
  return (body as { code?: unknown } | null)?.code;
}

function messageOf(body: unknown): string {
  return String((body as { message?: unknown } | null)?.message);
}

test('a host added through the API is listed and a v3 agent gets its preset services, with autoRegister off', async (t) => {
  const clock = manualClock(T);
  const { up, dir } = await withUpstream(t, { autoRegister: false }, { now: clock.now });
  const token = await addRelay(up, 'zone-a');
  const { relay, port } = await startRelay(up.uplinkUrl, `${dir}/relay`, { relayId: 'zone-a', token });
  t.teardown(() => relay.stop());
  await eventually(() => relay.uplink.state === 'connected', 10_000, 'uplink');

  const added = await api(up, 'POST', '/api/v1/hosts', {
    uuid: UUID,
    zone: 'zone-a',
    hostname: 'db-1',
    services: [CPU],
  });
  t.is(added.status, 201);
  const listed = (await api(up, 'GET', '/api/v1/hosts')).body as { host: { uuid: string } }[];
  t.deepEqual(listed, [added.body]);
  t.like(listed[0], {
    host: { uuid: UUID, proxy: 'zone-a', services: [CPU] },
    hostname: 'db-1',
    zone: 'zone-a',
    registeredAtMs: T,
    lastSeenMs: 0,
    status: 'unknown',
  });

  const agent = await TestAgent.connect(port);
  t.teardown(() => agent.destroy());
  clock.set(T + 1000);
  agent.send(PacketType.HOSTCONFIG, { uuid: UUID, ip: '10.1.0.9', hostname: 'db-1.real', os: 'linux' });
  const config = await agent.next(PacketType.HOSTCONFIGRESP, 2000);
  t.like(config.body, { uuid: UUID, proxy: 'zone-a', services: [CPU] });
  // HOSTCONFIG refreshed what the agent knows about itself and kept what the operator set.
  t.like(await hostView(up, UUID), {
    host: { ip: '10.1.0.9', services: [CPU] },
    hostname: 'db-1.real',
    os: 'linux',
    zone: 'zone-a',
    registeredAtMs: T,
    lastSeenMs: T + 1000,
    status: 'up',
  });

  // An agent already waiting behind the relay (refused: unknown, autoRegister off) gets its
  // config once the operator adds it: the add is pushed to the zone's relay.
  const waiting = await TestAgent.connect(port);
  t.teardown(() => waiting.destroy());
  waiting.send(PacketType.HOSTCONFIG, { uuid: OTHER, ip: '10.1.0.10' });
  const started = performance.now();
  t.is(
    (await api(up, 'POST', '/api/v1/hosts', { uuid: OTHER, zone: 'zone-a', services: [MEM] })).status,
    201,
  );
  const pushed = await waiting.next(PacketType.HOSTCONFIGRESP, 2000);
  t.like(pushed.body, { uuid: OTHER, services: [MEM] });
  t.log(`API POST → waiting agent HOSTCONFIGRESP: ${(performance.now() - started).toFixed(1)} ms`);
});

test('a host added without a zone is a direct host: a directly connected v3 agent is served (autoRegister off)', async (t) => {
  const { up } = await withUpstream(t, { autoRegister: false });
  const added = await api(up, 'POST', '/api/v1/hosts', { uuid: UUID, services: [CPU] });
  t.is(added.status, 201);
  t.like(added.body, { zone: DIRECT_ZONE, host: { proxy: DIRECT_ZONE } });
  const agent = await TestAgent.connect(up.agentAddresses[0]?.port ?? 0);
  t.teardown(() => agent.destroy());
  agent.send(PacketType.HOSTCONFIG, { uuid: UUID, ip: '127.0.0.1' });
  t.deepEqual((await agent.next(PacketType.HOSTCONFIGRESP)).body.services, [CPU]);
  // The direct agent is attached now: a services change is pushed to it.
  t.is((await api(up, 'PUT', `/api/v1/hosts/${UUID}/services`, [MEM])).status, 200);
  t.deepEqual((await agent.next(PacketType.HOSTCONFIGRESP, 2000)).body.services, [MEM]);
});

test('POST /hosts: 409 OWL_ERR_CONFLICT for an existing host; bad bodies get 400 naming the field and create nothing', async (t) => {
  const { up, base } = await withUpstream(t);
  const { client } = await UplinkTestClient.open(base, 'zone-a', await addRelay(up, 'zone-a'), 's');
  await client.hostConfig({ uuid: OTHER, ip: '10.1.0.5' }); // registered by itself
  t.is((await api(up, 'POST', '/api/v1/hosts', { uuid: UUID })).status, 201);
  for (const uuid of [UUID, OTHER]) {
    const dup = await api(up, 'POST', '/api/v1/hosts', { uuid, zone: 'zone-b', services: [CPU] });
    t.is(dup.status, 409, uuid);
    t.is(codeOf(dup.body), 'OWL_ERR_CONFLICT');
    t.regex(messageOf(dup.body), new RegExp(uuid));
  }
  t.like(
    await hostView(up, OTHER),
    { zone: 'zone-a', host: { services: [] } },
    'a refused add changes nothing',
  );

  const fresh = 'e4da3b7fbbce2345d7772b0674a318d5';
  for (const [body, field] of [
    [{}, /^uuid: /],
    [{ uuid: 5 }, /^uuid: /],
    [{ uuid: '' }, /^uuid: /],
    [{ uuid: 'has space' }, /^uuid: /],
    [{ uuid: 'x'.repeat(257) }, /^uuid: /],
    [{ uuid: fresh, zone: 7 }, /^zone: /],
    [{ uuid: fresh, zone: '' }, /^zone: /],
    [{ uuid: fresh, zone: 'zone/a' }, /^zone: /],
    [{ uuid: fresh, hostname: 42 }, /^hostname: /],
    [{ uuid: fresh, services: 'cpu' }, /\/services/],
    [{ uuid: fresh, services: [{ name: 'cpu' }] }, /\/services\/0\/plugin/],
    [
      { uuid: fresh, services: [{ ...CPU, items: { x: { key: 'x', data_type: 'NOPE' } } }] },
      /\/services\/0\/items/,
    ],
    [{ uuid: fresh, zones: 'zone-a' }, /^zones: unknown field/],
    [[{ uuid: fresh }], /^body: /],
    [null, /^body: /],
  ] as const) {
    const a = await api(up, 'POST', '/api/v1/hosts', body);
    t.is(a.status, 400, JSON.stringify(body));
    t.is(codeOf(a.body), 'OWL_ERR_BAD_FIELD', JSON.stringify(body));
    t.regex(messageOf(a.body), field, JSON.stringify(body));
  }
  const notJson = await callApi(
    { port: up.apiAddress.port, token: up.apiToken },
    'POST',
    '/api/v1/hosts',
    '{',
  );
  t.is(notJson.status, 400);
  t.is(codeOf(notJson.body), 'OWL_ERR_BAD_JSON');
  t.is((await hostView(up, fresh)) === undefined, true, 'nothing was created');
  t.is(((await api(up, 'GET', '/api/v1/hosts')).body as unknown[]).length, 2);
  await client.close();
});

test('after a move, config changes are pushed to the new zone only (the old zone is told to forget the host); the old zone can no longer fetch or update the host', async (t) => {
  const clock = manualClock(T);
  const { up, base } = await withUpstream(t, {}, { now: clock.now });
  const a = (await UplinkTestClient.open(base, 'zone-a', await addRelay(up, 'zone-a'), 'sa')).client;
  const b = (await UplinkTestClient.open(base, 'zone-b', await addRelay(up, 'zone-b'), 'sb')).client;
  await a.hostConfig({ uuid: UUID, ip: '10.1.0.5' });
  t.is((await hostView(up, UUID))?.zone, 'zone-a');

  const moved = await api(up, 'PUT', `/api/v1/hosts/${UUID}/zone`, { zone: 'zone-b' });
  t.is(moved.status, 200);
  t.like(moved.body, { zone: 'zone-b', host: { uuid: UUID, proxy: 'zone-b', ip: '10.1.0.5' } });
  // The move itself is pushed to the new zone, so its relay caches the config.
  t.like((await b.next('CONFIG_PUSH')).body, { uuid: UUID, host: { proxy: 'zone-b' } });

  t.is((await api(up, 'PUT', `/api/v1/hosts/${UUID}/services`, [CPU])).status, 200);
  t.deepEqual((await b.next('CONFIG_PUSH')).body.host?.services, [CPU]);
  // The old zone asks for it: refused as for any host of another zone. The answer comes after
  // anything the upstream sent this relay before, so a push to zone-a would be here by now.
  const refused = await a.hostConfig({ uuid: UUID, ip: '10.1.0.5' });
  t.is(refused.type, 'CONFIG_ERROR');
  t.is(refused.type === 'CONFIG_ERROR' ? refused.body.code : '', 'OWL_ERR_FORBIDDEN_ZONE');
  t.deepEqual(
    a.received.filter((m) => m.type === 'CONFIG_PUSH').map((m) => m.body),
    [{ uuid: UUID, host: null }],
    'the old zone got one push: forget the host; never its config',
  );
  const served = await b.hostConfig({ uuid: UUID, ip: '10.2.0.5' });
  t.like(served.body, { host: { proxy: 'zone-b', ip: '10.2.0.5', services: [CPU] } });

  // Heartbeats through the old zone no longer move last-seen; through the new one they do.
  clock.set(T + 10_000);
  const hb = (seq: number, atMs: number): { seq: number; record: ReturnType<typeof agentRecord> } => ({
    seq,
    record: agentRecord(PacketType.HOSTHB, { uuid: UUID }, { receivedAtMs: atMs }),
  });
  t.is(await a.sendBatch([hb(0, T + 5000)]), BatchAckStatus.STORED);
  t.is((await hostView(up, UUID))?.lastSeenMs, T);
  t.is(await b.sendBatch([hb(0, T + 6000)]), BatchAckStatus.STORED);
  t.is((await hostView(up, UUID))?.lastSeenMs, T + 6000);
  t.is((await hostView(up, UUID))?.zone, 'zone-b', 'reporting through a relay never moves a host');

  // Moving to the zone it is in is a no-op: nothing pushed.
  t.is((await api(up, 'PUT', `/api/v1/hosts/${UUID}/zone`, { zone: 'zone-b' })).status, 200);
  await b.hostConfig({ uuid: UUID });
  t.false(b.received.some((m) => m.type === 'CONFIG_PUSH'));

  for (const [body, status, code] of [
    [{ zone: 'bad zone' }, 400, 'OWL_ERR_BAD_FIELD'],
    [{}, 400, 'OWL_ERR_BAD_FIELD'],
    [{ zone: 'zone-a', extra: 1 }, 400, 'OWL_ERR_BAD_FIELD'],
    ['zone-a', 400, 'OWL_ERR_BAD_FIELD'],
  ] as const) {
    const r = await api(up, 'PUT', `/api/v1/hosts/${UUID}/zone`, body);
    t.is(r.status, status, JSON.stringify(body));
    t.is(codeOf(r.body), code);
  }
  const unknown = await api(up, 'PUT', `/api/v1/hosts/${OTHER}/zone`, { zone: 'zone-a' });
  t.is(unknown.status, 404);
  t.is(codeOf(unknown.body), 'OWL_ERR_NOT_FOUND');
  t.is((await hostView(up, UUID))?.zone, 'zone-b', 'refused moves change nothing');
  await Promise.all([a.close(), b.close()]);
});

test('a moved host: a services change reaches the v3 agent behind the new zone relay within 2 s, not the old relay', async (t) => {
  const { up, dir } = await withUpstream(t);
  const relays = [];
  for (const id of ['zone-a', 'zone-b']) {
    const r = await startRelay(up.uplinkUrl, `${dir}/${id}`, { relayId: id, token: await addRelay(up, id) });
    t.teardown(() => r.relay.stop());
    relays.push(r);
  }
  const [ra, rb] = relays as [(typeof relays)[0], (typeof relays)[0]];
  await eventually(
    () => ra.relay.uplink.state === 'connected' && rb.relay.uplink.state === 'connected',
    10_000,
    'uplinks',
  );
  const old = await TestAgent.connect(ra.port);
  t.teardown(() => old.destroy());
  old.send(PacketType.HOSTCONFIG, { uuid: UUID, ip: '10.1.0.5' });
  t.like((await old.next(PacketType.HOSTCONFIGRESP)).body, { proxy: 'zone-a', services: [] });

  t.is((await api(up, 'PUT', `/api/v1/hosts/${UUID}/zone`, { zone: 'zone-b' })).status, 200);
  const moved = await TestAgent.connect(rb.port);
  t.teardown(() => moved.destroy());
  moved.send(PacketType.HOSTCONFIG, { uuid: UUID, ip: '10.2.0.5' });
  t.like((await moved.next(PacketType.HOSTCONFIGRESP)).body, { proxy: 'zone-b', services: [] });

  // The relay may also pass on the move's own push (services still empty): wait for the change.
  const withCpu = (a: TestAgent): boolean =>
    a.received.some(
      (p) =>
        p.type === PacketType.HOSTCONFIGRESP && JSON.stringify(p.body.services) === JSON.stringify([CPU]),
    );
  const started = performance.now();
  t.is((await api(up, 'PUT', `/api/v1/hosts/${UUID}/services`, [CPU])).status, 200);
  await moved.until(withCpu, 2000);
  const elapsed = performance.now() - started;
  t.true(elapsed < 2000, `${elapsed.toFixed(0)} ms`);
  t.log(`API PUT → agent behind the new relay: ${elapsed.toFixed(1)} ms`);
  // The move told the old relay to forget the host: its agent is no longer answered from the
  // cache (the upstream refuses the old zone), and never gets the new config. A host of zone-a
  // asked after it is answered; a cached answer for the moved host would have come first.
  await eventually(async () => (await ra.relay.cache.getHost(UUID)) === null, 5000, 'old relay forgot');
  old.send(PacketType.HOSTCONFIG, { uuid: UUID, ip: '10.1.0.5' });
  old.send(PacketType.HOSTCONFIG, { uuid: OTHER, ip: '10.1.0.6' });
  t.like((await old.next(PacketType.HOSTCONFIGRESP)).body, { uuid: OTHER, proxy: 'zone-a' });
  t.false(
    old.received.some((p) => p.type === PacketType.HOSTCONFIGRESP),
    'nothing for the moved host through the old relay',
  );
  t.false(withCpu(old), 'nothing pushed through the old relay');
});

test('DELETE removes the host, its ports and asset durably (series kept); 404 the second time; the id is not reused', async (t) => {
  const { up, base, dir } = await withUpstream(t);
  const token = await addRelay(up, 'zone-a');
  const { client } = await UplinkTestClient.open(base, 'zone-a', token, 's');
  await client.hostConfig({ uuid: OTHER, ip: '10.1.0.6' });
  // The host to delete has the highest id: after a restart, the remaining records alone would
  // make its id the next one.
  const first = await client.hostConfig({ uuid: UUID, ip: '10.1.0.5' });
  const firstId = first.type === 'HOSTCONFIG_RESP' ? first.body.host?.id : undefined;
  t.is(typeof firstId, 'number');
  t.is(
    await client.sendBatch([
      { seq: 0, record: agentRecord(PacketType.PORTDISCOVERYR, { uuid: UUID, ports: [{ port: 22 }] }) },
      { seq: 1, record: agentRecord(PacketType.ASSESTDISCOVERY, { uuid: UUID, sn: 'SN-1' }) },
      { seq: 2, record: agentRecord(PacketType.PORTDISCOVERYR, { uuid: OTHER, ports: [{ port: 80 }] }) },
      { seq: 3, record: sampleRecord({ uuid: UUID, timestamp: T / 1000, value: 7 }) },
    ]),
    BatchAckStatus.STORED,
  );
  t.deepEqual((await api(up, 'GET', `/api/v1/hosts/${UUID}/ports`)).body, [{ port: 22 }]);

  t.deepEqual(await api(up, 'DELETE', `/api/v1/hosts/${UUID}`), {
    status: 200,
    body: { uuid: UUID, deleted: true },
  });
  // Its zone's relay is told to forget it (and only it).
  t.deepEqual((await client.next('CONFIG_PUSH')).body, { uuid: UUID, host: null });
  t.false(client.received.some((m) => m.type === 'CONFIG_PUSH'));
  const gone = async (u: typeof up): Promise<void> => {
    t.is((await api(u, 'GET', `/api/v1/hosts/${UUID}`)).status, 404);
    t.deepEqual(
      ((await api(u, 'GET', '/api/v1/hosts')).body as { host: { uuid: string } }[]).map((h) => h.host.uuid),
      [OTHER],
    );
    t.deepEqual((await api(u, 'GET', `/api/v1/hosts/${UUID}/ports`)).body, []);
    t.is((await api(u, 'GET', `/api/v1/hosts/${UUID}/asset`)).body, null);
    t.deepEqual(
      (await api(u, 'GET', `/api/v1/hosts/${OTHER}/ports`)).body,
      [{ port: 80 }],
      'others untouched',
    );
    t.deepEqual(
      (await query(u, 'cpu.user', { uuid: UUID })).map((s) => s.values),
      [[7]],
      'its series are kept',
    );
  };
  await gone(up);
  const second = await api(up, 'DELETE', `/api/v1/hosts/${UUID}`);
  t.is(second.status, 404);
  t.is(codeOf(second.body), 'OWL_ERR_NOT_FOUND');
  await client.close();

  await up.stop();
  const again = await startUpstream(`${dir}/up`);
  t.teardown(() => again.stop());
  await gone(again);
  t.is((await api(again, 'DELETE', `/api/v1/hosts/${UUID}`)).status, 404);

  // autoRegister (the default): the deleted host reporting again registers anew, with a new id.
  const { client: c2 } = await UplinkTestClient.open(
    `ws://127.0.0.1:${again.uplinkAddress.port}`,
    'zone-a',
    token,
    's2',
  );
  const back = await c2.hostConfig({ uuid: UUID, ip: '10.1.0.5' });
  t.like(back.body, { host: { uuid: UUID, services: [] } });
  const ids = ((await api(again, 'GET', '/api/v1/hosts')).body as { host: { id: number } }[]).map(
    (h) => h.host.id,
  );
  t.is(new Set(ids).size, 2, 'ids are unique');
  t.false(ids.includes(firstId as number), 'the deleted host id is not handed out again');
  await c2.close();
});

test('with autoRegister off a deleted host is refused like any unknown host, through a relay and directly', async (t) => {
  const { up, base } = await withUpstream(t, { autoRegister: false });
  const { client } = await UplinkTestClient.open(base, 'zone-a', await addRelay(up, 'zone-a'), 's');
  t.is((await api(up, 'POST', '/api/v1/hosts', { uuid: UUID, zone: 'zone-a' })).status, 201);
  t.like((await client.hostConfig({ uuid: UUID })).body, { host: { uuid: UUID } });
  t.is((await api(up, 'DELETE', `/api/v1/hosts/${UUID}`)).status, 200);
  const never = 'a1d0c6e83f027327d8461063f4ac58a6';
  const unknown = await client.hostConfig({ uuid: never });
  const deleted = await client.hostConfig({ uuid: UUID });
  t.deepEqual(deleted, { type: 'HOSTCONFIG_RESP', body: { id: deleted.body.id, uuid: UUID, host: null } });
  t.deepEqual({ ...unknown.body, id: 0, uuid: '' }, { ...deleted.body, id: 0, uuid: '' }, 'as for unknown');
  t.is((await hostView(up, UUID)) === undefined, true, 'not registered again');
  await client.close();

  // Directly: a direct host, added then deleted, gets no HOSTCONFIGRESP; a known host asked
  // after it on the same connection is answered, and answers come in order of the store writes.
  t.is((await api(up, 'POST', '/api/v1/hosts', { uuid: OTHER })).status, 201);
  t.is((await api(up, 'POST', '/api/v1/hosts', { uuid: UUID })).status, 201);
  t.is((await api(up, 'DELETE', `/api/v1/hosts/${UUID}`)).status, 200);
  const agent = await TestAgent.connect(up.agentAddresses[0]?.port ?? 0);
  t.teardown(() => agent.destroy());
  agent.send(PacketType.HOSTCONFIG, { uuid: UUID, ip: '127.0.0.1' });
  agent.send(PacketType.HOSTCONFIG, { uuid: OTHER, ip: '127.0.0.1' });
  t.is((await agent.next(PacketType.HOSTCONFIGRESP)).body.uuid, OTHER);
  t.deepEqual(
    agent.received.filter((p) => p.type === PacketType.HOSTCONFIGRESP),
    [],
    'nothing for the deleted host',
  );
  t.is((await hostView(up, UUID)) === undefined, true);
});

test('adding, moving and deleting hosts needs the API token (401) and changes nothing without it', async (t) => {
  const { up } = await withUpstream(t, { apiToken: 'operator-secret' });
  t.is((await api(up, 'POST', '/api/v1/hosts', { uuid: UUID, zone: 'zone-a' })).status, 201);
  const port = up.apiAddress.port;
  for (const token of [null, 'wrong', '']) {
    for (const [method, path, body] of [
      ['POST', '/api/v1/hosts', { uuid: OTHER }],
      ['PUT', `/api/v1/hosts/${UUID}/zone`, { zone: 'zone-b' }],
      ['DELETE', `/api/v1/hosts/${UUID}`, undefined],
    ] as const) {
      const a = await callApi({ port, token }, method, path, body);
      t.is(a.status, 401, `${method} ${path} with ${JSON.stringify(token)}`);
      t.is(codeOf(a.body), 'OWL_ERR_UNAUTHENTICATED');
    }
  }
  const hosts = (await api(up, 'GET', '/api/v1/hosts')).body as { host: { uuid: string }; zone: string }[];
  t.deepEqual(
    hosts.map((h) => [h.host.uuid, h.zone]),
    [[UUID, 'zone-a']],
  );
});

test('owl-upstream host add | move | delete | list go through the API', async (t) => {
  const { up } = await withUpstream(t);
  const flags = ['--api', `127.0.0.1:${up.apiAddress.port}`, '--token', up.apiToken];
  const cli = async (...args: string[]): Promise<unknown> =>
    JSON.parse((await run(process.execPath, ['--import', 'tsx', CLI, 'host', ...args, ...flags])).stdout);

  t.like(await cli('add', UUID, '--zone', 'zone-a', '--hostname', 'web-1'), {
    host: { uuid: UUID, proxy: 'zone-a' },
    hostname: 'web-1',
    zone: 'zone-a',
    status: 'unknown',
  });
  const failed = await t.throwsAsync(cli('add', UUID));
  t.regex(String((failed as unknown as { stderr: string }).stderr), /409.*OWL_ERR_CONFLICT/);
  t.is((failed as unknown as { code: number }).code, 1);
  t.like(await cli('move', UUID, 'zone-b'), { zone: 'zone-b', host: { proxy: 'zone-b' } });
  t.is((await hostView(up, UUID))?.zone, 'zone-b');
  t.deepEqual(
    ((await cli('list')) as { host: { uuid: string } }[]).map((h) => h.host.uuid),
    [UUID],
  );
  t.deepEqual(await cli('delete', UUID), { uuid: UUID, deleted: true });
  t.is(await hostView(up, UUID), undefined);
});
