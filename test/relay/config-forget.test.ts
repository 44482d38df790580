/**
 * A relay forgets a host's cached config when the upstream says the relay's
 * zone no longer serves it: CONFIG_PUSH `host: null` (the host was moved to
 * another zone or deleted), and, for a relay that missed the push, the
 * refresh's answer (HOSTCONFIG_RESP `host: null`, CONFIG_ERROR
 * OWL_ERR_FORBIDDEN_ZONE). Forgotten means: gone from memory and RocksDB
 * (also after a relay restart), and an agent's HOSTCONFIG goes upstream and
 * is answered only if the upstream answers. During an outage the cache still
 * answers the hosts it has. Real upstream, real relays, v3 agents.
 */
import test, { type ExecutionContext } from 'ava';
import { PacketType, type Service } from '../../protocol/index.js';
import type { Relay } from '../../relay/index.js';
import type { Upstream } from '../../upstream/index.js';
import { eventually, TestAgent } from '../helpers/agent-client.js';
import { startRelay } from '../helpers/relay-harness.js';
import { api } from '../helpers/upstream-harness.js';
import { addRelay, withUpstream } from '../helpers/upstream-fixture.js';

const UUID = '9bf31c7ff062936a96d3c8bd1f8f2ff3';
const GONE = '45c48cce2e2d7fbdea1afc51c7c6ad26';
const OTHER = 'c74d97b01eae257e44aa9d5bade97baf';
const CPU: Service = { name: 'cpu', plugin: 'cpu', exec_interval: 60 };

interface ZoneRelay {
  relay: Relay;
  port: number;
  dir: string;
  token: string;
}

async function zoneRelay(t: ExecutionContext, up: Upstream, root: string, id: string): Promise<ZoneRelay> {
  const token = await addRelay(up, id);
  const dir = `${root}/${id}`;
  const { relay, port } = await startRelay(up.uplinkUrl, dir, { relayId: id, token });
  t.teardown(() => relay.stop());
  await eventually(() => relay.uplink.state === 'connected', 10_000, `${id} connected`);
  return { relay, port, dir, token };
}

/** Stop `z`'s relay and start it again on the same state dir (and upstream URL). */
async function restart(t: ExecutionContext, z: ZoneRelay, url: string, id: string): Promise<ZoneRelay> {
  await z.relay.stop();
  const { relay, port } = await startRelay(url, z.dir, { relayId: id, token: z.token });
  t.teardown(() => relay.stop());
  return { ...z, relay, port };
}

async function agent(t: ExecutionContext, port: number): Promise<TestAgent> {
  const a = await TestAgent.connect(port);
  t.teardown(() => a.destroy());
  return a;
}

/**
 * Ask through `a` for `uuid`, then for `known` (which the relay answers): when the answer for
 * `known` is in, a cached answer for `uuid` would have been too. Returns what came for `uuid`.
 */
async function askBoth(a: TestAgent, uuid: string, known: string): Promise<unknown[]> {
  a.send(PacketType.HOSTCONFIG, { uuid, ip: '10.1.0.5' });
  a.send(PacketType.HOSTCONFIG, { uuid: known, ip: '10.1.0.6' });
  await a.until((x) => x.received.some((p) => p.type === PacketType.HOSTCONFIGRESP && p.body.uuid === known));
  const answers = a.received.filter((p) => p.type === PacketType.HOSTCONFIGRESP);
  a.received.length = 0;
  return answers.filter((p) => p.type === PacketType.HOSTCONFIGRESP && p.body.uuid === uuid);
}

const cached = async (relay: Relay, uuid: string): Promise<boolean> =>
  (await relay.cache.getHost(uuid)) !== null;

/** Wait until the relay's RocksDB holds `n` hosts (getHost shows writes before they reach the disk). */
async function stored(relay: Relay, n: number): Promise<void> {
  await eventually(async () => (await relay.cache.hostCount()) === n, 5000, `${n} hosts on disk`);
}

test('a host moved to another zone is forgotten by the old zone relay: not answered from its cache, not on its disk after a restart; an outage changes nothing', async (t) => {
  const { up, dir } = await withUpstream(t);
  let a = await zoneRelay(t, up, dir, 'zone-a');
  const b = await zoneRelay(t, up, dir, 'zone-b');
  const old = await agent(t, a.port);
  for (const uuid of [UUID, OTHER]) {
    old.send(PacketType.HOSTCONFIG, { uuid, ip: '10.1.0.5' });
    t.like((await old.next(PacketType.HOSTCONFIGRESP)).body, { uuid, proxy: 'zone-a' });
  }
  await eventually(
    async () => (await cached(a.relay, UUID)) && (await cached(a.relay, OTHER)),
    5000,
    'cached',
  );
  await stored(a.relay, 2);

  t.is((await api(up, 'PUT', `/api/v1/hosts/${UUID}/zone`, { zone: 'zone-b' })).status, 200);
  await eventually(async () => !(await cached(a.relay, UUID)), 5000, 'zone-a forgot the moved host');
  await eventually(async () => cached(b.relay, UUID), 5000, 'zone-b cached it');
  await stored(a.relay, 1);
  t.true(await cached(a.relay, OTHER), 'the others stay');

  // The old zone's agent: forwarded upstream (refused: another zone's host), never answered.
  t.deepEqual(await askBoth(old, UUID, OTHER), []);
  t.is(await a.relay.hostConfig({ uuid: UUID, ip: '10.1.0.5' }, '10.1.0.5:40000'), null);
  t.false(await cached(a.relay, UUID), 'a refused answer caches nothing');
  // The new zone's agent gets it.
  const moved = await agent(t, b.port);
  moved.send(PacketType.HOSTCONFIG, { uuid: UUID, ip: '10.2.0.5' });
  t.like((await moved.next(PacketType.HOSTCONFIGRESP)).body, { uuid: UUID, proxy: 'zone-b' });

  // Forgotten on disk too: a restarted relay does not have it.
  a = await restart(t, a, up.uplinkUrl, 'zone-a');
  t.false(await cached(a.relay, UUID));
  t.is(await a.relay.cache.hostCount(), 1);

  // Upstream outage: the cache still answers the host it has, and nothing for the forgotten one.
  await up.stop();
  await eventually(() => a.relay.uplink.state !== 'connected', 10_000, 'uplink down');
  const during = await agent(t, a.port);
  t.deepEqual(await askBoth(during, UUID, OTHER), []);
  t.is(await a.relay.hostConfig({ uuid: UUID }, '10.1.0.5:40000'), null);
  t.like(await a.relay.hostConfig({ uuid: OTHER }, '10.1.0.6:40000'), { uuid: OTHER, proxy: 'zone-a' });
});

test('a deleted host is forgotten by its relay (memory and disk); added again, it is pushed to the waiting agent', async (t) => {
  const { up, dir } = await withUpstream(t, { autoRegister: false });
  let a = await zoneRelay(t, up, dir, 'zone-a');
  for (const uuid of [UUID, OTHER]) {
    t.is((await api(up, 'POST', '/api/v1/hosts', { uuid, zone: 'zone-a' })).status, 201);
    await eventually(async () => cached(a.relay, uuid), 5000, 'the add is pushed and cached');
  }
  const ag = await agent(t, a.port);
  ag.send(PacketType.HOSTCONFIG, { uuid: UUID, ip: '10.1.0.5' });
  const first = (await ag.next(PacketType.HOSTCONFIGRESP)).body;
  t.like(first, { uuid: UUID, services: [] });
  // Added without an ip, the host's refresh answer carries the one the agent gave: a change the
  // relay passes on to the agent. Let it land first, or it would look like an answer to the ask
  // after the delete.
  t.not(first?.ip, '10.1.0.5', 'the first answer is the cached one');
  await ag.until((x) =>
    x.received.some((p) => p.type === PacketType.HOSTCONFIGRESP && p.body?.ip === '10.1.0.5'),
  );
  ag.received.length = 0;

  t.is((await api(up, 'DELETE', `/api/v1/hosts/${UUID}`)).status, 200);
  await eventually(async () => !(await cached(a.relay, UUID)), 5000, 'forgotten');
  await stored(a.relay, 1);
  // Upstream answers null (unknown, autoRegister off): nothing for the agent.
  t.deepEqual(await askBoth(ag, UUID, OTHER), []);
  t.is(await a.relay.hostConfig({ uuid: UUID }, '10.1.0.5:40000'), null);

  a = await restart(t, a, up.uplinkUrl, 'zone-a');
  await eventually(() => a.relay.uplink.state === 'connected', 10_000, 'reconnected');
  t.false(await cached(a.relay, UUID), 'gone from disk');
  t.is(await a.relay.cache.hostCount(), 1);

  // An agent that asked for it is attached: the operator adding it again reaches it at once.
  const waiting = await agent(t, a.port);
  t.deepEqual(await askBoth(waiting, UUID, OTHER), []);
  t.is((await api(up, 'POST', '/api/v1/hosts', { uuid: UUID, zone: 'zone-a', services: [CPU] })).status, 201);
  // (The refresh of the other host may bring it an update too: look for this host's.)
  const forUuid = (p: (typeof waiting.received)[number]): boolean =>
    p.type === PacketType.HOSTCONFIGRESP && (p.body as { uuid?: string } | null)?.uuid === UUID;
  await waiting.until((x) => x.received.some(forUuid), 2000);
  t.like(waiting.received.find(forUuid)?.body, { uuid: UUID, services: [CPU] });
  t.true(await cached(a.relay, UUID));
});

test('a relay that missed the push (down during the move and the delete) forgets on the refresh: FORBIDDEN_ZONE, host null', async (t) => {
  const { up, dir } = await withUpstream(t, { autoRegister: false });
  let a = await zoneRelay(t, up, dir, 'zone-a');
  await addRelay(up, 'zone-b');
  for (const uuid of [UUID, GONE, OTHER]) {
    t.is((await api(up, 'POST', '/api/v1/hosts', { uuid, zone: 'zone-a' })).status, 201);
    await eventually(async () => cached(a.relay, uuid), 5000, 'cached');
  }
  await a.relay.stop();
  t.is((await api(up, 'PUT', `/api/v1/hosts/${UUID}/zone`, { zone: 'zone-b' })).status, 200);
  t.is((await api(up, 'DELETE', `/api/v1/hosts/${GONE}`)).status, 200);
  a = await restart(t, a, up.uplinkUrl, 'zone-a');
  await eventually(() => a.relay.uplink.state === 'connected', 10_000, 'reconnected');
  t.is(await a.relay.cache.hostCount(), 3, 'nothing was pushed to a relay that was down');

  // The first HOSTCONFIG is still answered from the cache (the relay cannot know yet); its
  // refresh upstream is refused (moved) or answered null (deleted), and the host is forgotten.
  const ag = await agent(t, a.port);
  for (const uuid of [UUID, GONE]) {
    ag.send(PacketType.HOSTCONFIG, { uuid, ip: '10.1.0.5' });
    t.like((await ag.next(PacketType.HOSTCONFIGRESP)).body, { uuid });
  }
  await eventually(
    async () => !(await cached(a.relay, UUID)) && !(await cached(a.relay, GONE)),
    5000,
    'forgotten on refresh',
  );
  await stored(a.relay, 1);
  for (const uuid of [UUID, GONE]) {
    t.deepEqual(await askBoth(ag, uuid, OTHER), [], uuid);
    t.is(await a.relay.hostConfig({ uuid }, '10.1.0.5:40000'), null, uuid);
  }
});
