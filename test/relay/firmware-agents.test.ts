/**
 * The relay serving its zone's agents: a scripted v4 agent (real frames over TCP) that checks
 * (FWCHECK) gets FWOFFER for the cached bundle of its arch, fetches it with FWCHUNKREQ and gets
 * it byte-exact; its check reaches the upstream as a unit report under its HELLO uuid; an agent
 * that checked before the bundle landed gets the offer pushed.
 */
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AGENT_FIRMWARE_MAX_CHUNK_BYTES,
  FIRMWARE_FEATURE,
  inRollout,
  PacketType,
  type FirmwareCheck,
} from '../../protocol/index.js';
import { eventually, TestAgent } from '../helpers/agent-client.js';
import { RELAY_ID, RELAY_TOKEN, startRelay } from '../helpers/relay-harness.js';
import { UplinkReceiver } from '../helpers/uplink-receiver.js';
import { makeBundle, scratch, signingKey } from './firmware-fixture.js';

const ZONE_TOKEN = 'zone-token-1234';
const CHECK: FirmwareCheck = { program: 'owl-agent', arch: 'amd64', version: '1.0.0', state: 'committed' };

async function v4Agent(port: number, uuid: string): Promise<TestAgent> {
  const agent = await TestAgent.connect(port);
  agent.send(PacketType.HELLO, { version: 1, uuid, token: ZONE_TOKEN, agent: 'owl-agent/1.0.0' });
  const hello = await agent.next(PacketType.HELLO);
  if (!(hello.body.features ?? []).includes(FIRMWARE_FEATURE)) throw new Error('no firmware feature');
  return agent;
}

/** Fetch a whole bundle with FWCHUNKREQs of `length`, as an agent does. */
async function fetchBundle(agent: TestAgent, id: string, size: number, length: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let offset = 0, n = 1; offset < size; n++) {
    agent.send(PacketType.FWCHUNKREQ, { id: n, bundle: id, offset, length });
    const chunk = await agent.next(PacketType.FWCHUNK);
    if (chunk.body.data === undefined) throw new Error(`${chunk.body.code}: ${chunk.body.message}`);
    const data = Buffer.from(chunk.body.data, 'base64');
    parts.push(data);
    offset += data.length;
  }
  return Buffer.concat(parts);
}

test('a v4 agent is offered the cached bundle, fetches it byte-exact, and its check is reported upstream', async (t) => {
  const dir = scratch(t);
  const key = signingKey(join(dir, 'keys'));
  const file = await makeBundle(dir, key, { program: 'owl-agent', version: '2.0.0', filler: 500 * 1024 });
  const receiver = await UplinkReceiver.start({ relays: { [RELAY_ID]: RELAY_TOKEN } });
  t.teardown(() => receiver.close());
  receiver.holdChunks = true; // not cached yet while the first agent checks
  const stateDir = join(dir, 'state');
  const { relay, port } = await startRelay(receiver.url, stateDir, { zoneToken: ZONE_TOKEN });
  t.teardown(() => relay.stop());

  // Checked before the bundle is cached: nothing yet, then pushed when it lands.
  const early = await v4Agent(port, 'host-early');
  t.teardown(() => early.destroy());
  early.send(PacketType.FWCHECK, CHECK);
  t.deepEqual((await early.next(PacketType.FWOFFER)).body, { bundle: null });
  await eventually(
    () => receiver.lastReport(RELAY_ID, 'host-early') !== undefined,
    10_000,
    'the early report',
  );

  const offer = receiver.offerFirmware(file, { program: 'owl-agent', arch: 'amd64', version: '2.0.0' });
  await eventually(() => receiver.chunkRequests.length > 0, 10_000, 'the relay fetching');
  receiver.holdChunks = false;
  receiver.dropConnections(); // the held request is lost with its link; the relay asks again
  const pushed = await early.next(PacketType.FWOFFER, 30_000);
  t.deepEqual(pushed.body, { bundle: { id: offer.bundle, version: '2.0.0', size: offer.size } });
  t.true(existsSync(join(stateDir, 'firmware', `${offer.bundle}.owlfw`)));

  // A second agent checks and fetches it, at the largest chunk an agent may ask for.
  const agent = await v4Agent(port, 'host-b');
  t.teardown(() => agent.destroy());
  agent.send(PacketType.FWCHECK, {
    ...CHECK,
    lastFailure: { code: 'X', reason: 'y', version: '1.5.0', at: 1 },
  });
  const answer = await agent.next(PacketType.FWOFFER);
  t.deepEqual(answer.body, { bundle: { id: offer.bundle, version: '2.0.0', size: offer.size } });
  const bytes = await fetchBundle(agent, offer.bundle, offer.size, AGENT_FIRMWARE_MAX_CHUNK_BYTES);
  t.deepEqual(bytes, readFileSync(file));
  const served = await relay.metrics.firmwareBytesServed.get();
  t.is(served.values[0]?.value, offer.size);

  // Its check upstream: a unit report under its HELLO uuid.
  await eventually(() => receiver.lastReport(RELAY_ID, 'host-b') !== undefined, 10_000, 'the agent report');
  t.like(receiver.lastReport(RELAY_ID, 'host-b'), {
    program: 'owl-agent',
    uuid: 'host-b',
    version: '1.0.0',
    arch: 'amd64',
    state: 'committed',
    lastFailure: { code: 'X', reason: 'y', version: '1.5.0', at: 1 },
  });

  // Already on 2.0.0, or another arch: nothing offered. An unknown bundle: a coded answer.
  agent.send(PacketType.FWCHECK, { ...CHECK, version: '2.0.0' });
  t.deepEqual((await agent.next(PacketType.FWOFFER)).body, { bundle: null });
  agent.send(PacketType.FWCHECK, { ...CHECK, arch: 'arm64' });
  t.deepEqual((await agent.next(PacketType.FWOFFER)).body, { bundle: null });
  agent.send(PacketType.FWCHUNKREQ, { id: 99, bundle: 'a'.repeat(64), offset: 0, length: 10 });
  t.is((await agent.next(PacketType.FWCHUNK)).body.code, 'OWL_ERR_FIRMWARE_UNKNOWN_BUNDLE');
  agent.send(PacketType.FWCHUNKREQ, { id: 100, bundle: offer.bundle, offset: offer.size, length: 10 });
  t.is((await agent.next(PacketType.FWCHUNK)).body.code, 'OWL_ERR_FIRMWARE_BAD_RANGE');
  t.false(agent.closed);
});

test('an agent outside the rollout percentage is offered nothing', async (t) => {
  const dir = scratch(t);
  const key = signingKey(join(dir, 'keys'));
  const file = await makeBundle(dir, key, { program: 'owl-agent', version: '2.0.0' });
  const receiver = await UplinkReceiver.start({ relays: { [RELAY_ID]: RELAY_TOKEN } });
  t.teardown(() => receiver.close());
  const offer = receiver.offerFirmware(file, {
    program: 'owl-agent',
    arch: 'amd64',
    version: '2.0.0',
    percent: 1,
  });
  const stateDir = join(dir, 'state');
  const { relay, port } = await startRelay(receiver.url, stateDir, { zoneToken: ZONE_TOKEN });
  t.teardown(() => relay.stop());
  await eventually(() => relay.status().firmware.cached === 1, 10_000, 'the bundle cached');
  // Of 40 hosts at 1 %, those inRollout picks get it and the others do not.
  let offered = 0;
  for (let i = 0; i < 40; i++) {
    const uuid = `host-${i}`;
    const agent = await v4Agent(port, uuid);
    agent.send(PacketType.FWCHECK, CHECK);
    const answer = await agent.next(PacketType.FWOFFER);
    agent.destroy();
    t.is(answer.body.bundle !== null, inRollout(offer.bundle, uuid, 1), uuid);
    if (answer.body.bundle !== null) offered++;
  }
  t.true(offered < 40);
});

test('a ladder of agent bundles: each agent is offered the newest it is in the rollout of, the rest the full one', async (t) => {
  const dir = scratch(t);
  const key = signingKey(join(dir, 'keys'));
  const v2File = await makeBundle(dir, key, { program: 'owl-agent', version: '2.0.0' });
  const v3File = await makeBundle(dir, key, { program: 'owl-agent', version: '3.0.0' });
  const receiver = await UplinkReceiver.start({ relays: { [RELAY_ID]: RELAY_TOKEN } });
  t.teardown(() => receiver.close());
  const v3 = receiver.offerFirmware(v3File, {
    program: 'owl-agent',
    arch: 'amd64',
    version: '3.0.0',
    percent: 30,
  });
  const v2 = receiver.offerFirmware(v2File, { program: 'owl-agent', arch: 'amd64', version: '2.0.0' });
  const { relay, port } = await startRelay(receiver.url, join(dir, 'state'), { zoneToken: ZONE_TOKEN });
  t.teardown(() => relay.stop());
  await eventually(() => relay.status().firmware.cached === 2, 10_000, 'both bundles cached');
  const got = { v2: 0, v3: 0 };
  for (let i = 0; i < 30; i++) {
    const uuid = `ladder-host-${i}`;
    const agent = await v4Agent(port, uuid);
    agent.send(PacketType.FWCHECK, CHECK);
    const answer = await agent.next(PacketType.FWOFFER);
    const want = inRollout(v3.bundle, uuid, 30) ? v3 : v2;
    t.is(answer.body.bundle?.id, want.bundle, uuid);
    got[want === v3 ? 'v3' : 'v2']++;
    // An agent on 2.0.0 outside the v3 rollout is offered nothing: it has its rung.
    if (want === v2) {
      agent.send(PacketType.FWCHECK, { ...CHECK, version: '2.0.0' });
      t.is((await agent.next(PacketType.FWOFFER)).body.bundle, null, `${uuid} on 2.0.0`);
    }
    agent.destroy();
  }
  t.true(got.v2 > 0 && got.v3 > 0, `${got.v3} on the v3 rung, ${got.v2} on v2`);
});

test('a v3 session never gets firmware packets: its FWCHECK is dropped, the connection goes on', async (t) => {
  const dir = scratch(t);
  const key = signingKey(join(dir, 'keys'));
  const file = await makeBundle(dir, key, { program: 'owl-agent', version: '2.0.0' });
  const receiver = await UplinkReceiver.start({ relays: { [RELAY_ID]: RELAY_TOKEN }, version: '3.2' });
  t.teardown(() => receiver.close());
  receiver.offerFirmware(file, { program: 'owl-agent', arch: 'amd64', version: '2.0.0' });
  const { relay, port } = await startRelay(receiver.url, join(dir, 'state'), { zoneToken: ZONE_TOKEN });
  t.teardown(() => relay.stop());
  await eventually(
    () => relay.status().firmware.cached === 1 && relay.clientVersion() === '3.2',
    10_000,
    'cached, version known',
  );
  const v3 = await TestAgent.connect(port);
  t.teardown(() => v3.destroy());
  v3.send(PacketType.CLIENTVERSION, null); // a v3 packet first: a v3 session
  await v3.next(PacketType.CLIENTVERSIONRESP);
  v3.send(PacketType.FWCHECK, CHECK);
  v3.send(PacketType.CLIENTVERSION, null);
  // Handled in order: an FWOFFER would come before this answer.
  await v3.next(PacketType.CLIENTVERSIONRESP);
  t.deepEqual(
    v3.received.map((p) => p.type),
    [],
  );
  t.false(v3.closed);
  t.is(receiver.firmwareReports.filter((r) => r.uuid !== undefined).length, 0);
});
