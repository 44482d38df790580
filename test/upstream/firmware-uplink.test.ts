/**
 * The FIRMWARE channel of a real upstream (in process, real WebSocket listener) with scripted
 * relays speaking the real uplink wire format (test/helpers/upstream-uplink-client.ts):
 * FIRMWARE_OFFER after WELCOME with the list for the relay's zone, and again only to the relays
 * whose list a publish or withdraw changed; the rollout percentage picks a stable subset of
 * relays; chunks reassemble to the exact bundle (sha256 = id); a bad range, an unknown bundle,
 * one offered to another zone only, a withdrawn one give FIRMWARE_ERROR; too many chunk requests
 * in flight close the link; unit reports show in the status, logged once per change, and survive
 * a restart.
 */
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import {
  FIRMWARE_MAX_CHUNK_BYTES,
  inRollout,
  UplinkCloseCode,
  type FirmwareUnitReport,
  type UplinkFirmwareOffer,
} from '../../protocol/index.js';
import type { Upstream } from '../../upstream/index.js';
import { MAX_AGENT_RUNGS, offersFor, type Publication } from '../../upstream/firmware/index.js';
import { eventually } from '../helpers/agent-client.js';
import { captureLog } from '../helpers/upstream-fixture.js';
import { startUpstream } from '../helpers/upstream-harness.js';
import { callApi, type ApiTarget } from '../helpers/upstream-api.js';
import { tempDir } from '../helpers/relay-harness.js';
import { UplinkTestClient } from '../helpers/upstream-uplink-client.js';
import { testBundle, testKey, type TestBundle, type TestKey } from '../helpers/firmware-upstream-bundles.js';

const target = (up: Upstream): ApiTarget => ({ port: up.apiAddress.port, token: up.apiToken });
const base = (up: Upstream): string => `ws://127.0.0.1:${up.uplinkAddress.port}`;

interface Rig {
  dir: string;
  up: Upstream;
  api: ApiTarget;
  key: TestKey;
  tokens: Map<string, string>;
}

async function rig(t: ExecutionContext, relays: string[], state?: string): Promise<Rig> {
  const dir = tempDir('owl-fw-uplink-');
  t.teardown(() => dir.remove());
  const up = await startUpstream(state ?? join(dir.path, 'up'));
  t.teardown(() => up.stop());
  const api = target(up);
  const tokens = new Map<string, string>();
  for (const id of relays) {
    const r = await callApi(api, 'POST', '/api/v1/relays', { id });
    tokens.set(id, (r.body as { token: string }).token);
  }
  return { dir: dir.path, up, api, key: testKey(dir.path), tokens };
}

async function connect(t: ExecutionContext, r: Rig, relay: string): Promise<UplinkTestClient> {
  const { client } = await UplinkTestClient.open(
    base(r.up),
    relay,
    r.tokens.get(relay) as string,
    `spool-${relay}`,
  );
  t.teardown(() => client.terminate());
  return client;
}

async function publish(r: Rig, b: TestBundle, zones: string, percent = 100): Promise<void> {
  const res = await callApi(r.api, 'POST', `/api/v1/firmware?zones=${zones}&percent=${percent}`, b.bytes);
  if (res.status >= 300) throw new Error(`publish: ${res.status} ${JSON.stringify(res.body)}`);
}

/** An offer list as [program, arch, version] triples. */
const triples = (o: UplinkFirmwareOffer): string[][] => o.bundles.map((b) => [b.program, b.arch, b.version]);

/** One sample of the upstream's /metrics (0 when absent). */
async function metric(up: Upstream, series: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${up.metricsAddress?.port ?? 0}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

const offerCount = (c: UplinkTestClient): number =>
  c.received.filter((m) => m.type === 'FIRMWARE_OFFER').length;

test('FIRMWARE_OFFER after WELCOME: the newest per program and arch for the zone; again only where the list changed', async (t) => {
  const r = await rig(t, ['zone-a', 'zone-b']);
  const relay09 = await testBundle(r.dir, r.key, { program: 'owl-relay', version: '0.9.0' });
  const relay10 = await testBundle(r.dir, r.key, { program: 'owl-relay', version: '1.0.0' });
  const agent20 = await testBundle(r.dir, r.key, { program: 'owl-agent', version: '2.0.0' });
  const agentArm = await testBundle(r.dir, r.key, { program: 'owl-agent', version: '2.0.0', arch: 'arm64' });
  await publish(r, relay09, '*');
  await publish(r, relay10, 'zone-a');
  await publish(r, agent20, '*', 30);
  await publish(r, agentArm, 'zone-b');

  const a = await connect(t, r, 'zone-a');
  const b = await connect(t, r, 'zone-b');
  const offerA = (await a.next('FIRMWARE_OFFER')).body;
  t.deepEqual(triples(offerA), [
    ['owl-agent', 'amd64', '2.0.0'],
    ['owl-relay', 'amd64', '1.0.0'],
  ]);
  t.like(offerA.bundles[0], { bundle: agent20.id, size: agent20.bytes.length, percent: 30 });
  t.deepEqual(triples((await b.next('FIRMWARE_OFFER')).body), [
    ['owl-agent', 'amd64', '2.0.0'],
    ['owl-agent', 'arm64', '2.0.0'],
    ['owl-relay', 'amd64', '0.9.0'],
  ]);

  // A newer relay bundle for zone-a: zone-a gets a new list, zone-b's is unchanged.
  const relay11 = await testBundle(r.dir, r.key, { program: 'owl-relay', version: '1.1.0' });
  await publish(r, relay11, 'zone-a');
  const newA = (await a.next('FIRMWARE_OFFER')).body;
  t.deepEqual(newA.bundles.find((x) => x.program === 'owl-relay')?.bundle, relay11.id);
  const agentArm21 = await testBundle(r.dir, r.key, {
    program: 'owl-agent',
    version: '2.1.0',
    arch: 'arm64',
  });
  await publish(r, agentArm21, 'zone-b');
  const newB = (await b.next('FIRMWARE_OFFER')).body;
  t.is(
    newB.bundles.find((x) => x.arch === 'arm64')?.version,
    '2.1.0',
    'the next list zone-b got is this one',
  );
  t.is(offerCount(b), 0);
  t.is(offerCount(a), 0, 'zone-a was not sent a list that did not change');

  // Withdrawn: zone-a falls back to 1.0.0.
  t.is((await callApi(r.api, 'DELETE', `/api/v1/firmware/${relay11.id}`)).status, 200);
  t.is(
    (await a.next('FIRMWARE_OFFER')).body.bundles.find((x) => x.program === 'owl-relay')?.version,
    '1.0.0',
  );
});

test('rollout: a stable subset of relays at a percentage, which only grows as it rises', (t) => {
  const pub = (percent: number): Publication => ({
    bundle: 'ab'.repeat(32),
    program: 'owl-relay',
    arch: 'amd64',
    version: '1.0.0',
    size: 10,
    minVersion: '0.0.0',
    zones: ['*'],
    percent,
    publishedAt: 1,
    updatedAt: 1,
  });
  const relays = Array.from({ length: 1000 }, (_, i) => `relay-${i}`);
  const chosen = (percent: number): string[] =>
    relays.filter((id) => offersFor([pub(percent)], id).length === 1);
  const at30 = chosen(30);
  t.true(at30.length > 220 && at30.length < 380, `${at30.length} of 1000 at 30 %`);
  t.deepEqual(chosen(30), at30, 'the same relays every time');
  const at60 = chosen(60);
  t.true(
    at30.every((id) => at60.includes(id)),
    'raising the percentage only adds relays',
  );
  t.is(chosen(100).length, 1000);
  // A relay outside the rollout of the newest still gets the older release.
  const older = { ...pub(100), bundle: 'cd'.repeat(32), version: '0.9.0' };
  const outside = relays.find((id) => !at30.includes(id)) as string;
  t.is(offersFor([pub(30), older], outside)[0]?.version, '0.9.0');
  t.is(offersFor([pub(30), older], at30[0] as string)[0]?.version, '1.0.0');
});

test('agent bundles are offered as a ladder: newest first, down to the newest every agent takes, at most MAX_AGENT_RUNGS', (t) => {
  let n = 0;
  const agent = (version: string, percent: number, arch: Publication['arch'] = 'amd64'): Publication => ({
    bundle: (++n).toString(16).padStart(2, '0').repeat(32),
    program: 'owl-agent',
    arch,
    version,
    size: 10,
    minVersion: '0.0.0',
    zones: ['*'],
    percent,
    publishedAt: n,
    updatedAt: n,
  });
  const versions = (list: Publication[]): string[] =>
    offersFor(list, 'zone-a')
      .filter((o) => o.arch === 'amd64')
      .map((o) => `${o.version}@${o.percent}`);
  const v1 = agent('1.0.0', 100);
  const v2 = agent('2.0.0', 100);
  const v3 = agent('3.0.0', 10);
  t.deepEqual(versions([v1, v2]), ['2.0.0@100'], 'a full rollout hides what it replaces');
  t.deepEqual(versions([v3, v1, v2]), ['3.0.0@10', '2.0.0@100'], 'a partial one keeps the full one under it');
  t.deepEqual(versions([v3]), ['3.0.0@10'], 'no full one: the partial ones alone');
  const parts = ['3.1.0', '3.2.0', '3.3.0', '3.4.0'].map((v) => agent(v, 20));
  t.deepEqual(
    versions([v2, v3, ...parts]),
    ['3.4.0@20', '3.3.0@20', '3.2.0@20', '2.0.0@100'],
    `past ${MAX_AGENT_RUNGS} rungs: the newest and the full one`,
  );
  // Each arch has its ladder; relay bundles stay one per arch.
  const arm = agent('1.5.0', 100, 'arm64');
  const all = offersFor([v1, v2, v3, arm, ...parts], 'zone-a');
  t.is(all.filter((o) => o.arch === 'arm64').length, 1);
  t.true(all.length <= 16, "within FIRMWARE_OFFER's 16 entries");
});

test('rollout over live links: each relay is offered the relay bundle exactly when inRollout says so', async (t) => {
  const ids = ['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7'];
  const r = await rig(t, ids);
  const b = await testBundle(r.dir, r.key, { program: 'owl-relay', version: '1.0.0' });
  await publish(r, b, '*', 50);
  for (const id of ids) {
    const c = await connect(t, r, id);
    const offer = (await c.next('FIRMWARE_OFFER')).body;
    t.is(offer.bundles.length, inRollout(b.id, id, 50) ? 1 : 0, id);
  }
});

test('chunks reassemble to the exact bundle; bad range, unknown, other zone and withdrawn bundles give FIRMWARE_ERROR', async (t) => {
  const r = await rig(t, ['zone-a']);
  const b = await testBundle(r.dir, r.key, { program: 'owl-agent', version: '1.0.0', padBytes: 700_000 });
  const elsewhere = await testBundle(r.dir, r.key, { program: 'owl-relay', version: '1.0.0' });
  await publish(r, b, 'zone-a');
  await publish(r, elsewhere, 'zone-b');
  const c = await connect(t, r, 'zone-a');
  await c.next('FIRMWARE_OFFER');
  const size = b.bytes.length;
  const chunk = 256 * 1024;
  const parts: Buffer[] = [];
  let id = 0;
  for (let offset = 0; offset < size; offset += chunk) {
    c.send({ type: 'FIRMWARE_CHUNK_REQ', body: { id: ++id, bundle: b.id, offset, length: chunk } });
    const got = await c.next('FIRMWARE_CHUNK', (m) => m.body.id === id);
    t.is(got.body.offset, offset);
    t.is(got.body.data.length, Math.min(chunk, size - offset));
    parts.push(Buffer.from(got.body.data));
  }
  t.is(createHash('sha256').update(Buffer.concat(parts)).digest('hex'), b.id);
  c.send({ type: 'FIRMWARE_CHUNK_REQ', body: { id: ++id, bundle: b.id, offset: size, length: 10 } });
  t.is((await c.next('FIRMWARE_CHUNK', (m) => m.body.id === id)).body.data.length, 0, 'at the end: no bytes');
  c.send({
    type: 'FIRMWARE_CHUNK_REQ',
    body: { id: ++id, bundle: b.id, offset: size - 5, length: FIRMWARE_MAX_CHUNK_BYTES },
  });
  t.deepEqual(
    Buffer.from((await c.next('FIRMWARE_CHUNK', (m) => m.body.id === id)).body.data),
    b.bytes.subarray(size - 5),
  );

  const error = async (bundle: string, offset: number): Promise<string> => {
    c.send({ type: 'FIRMWARE_CHUNK_REQ', body: { id: ++id, bundle, offset, length: 100 } });
    const e = await c.next('FIRMWARE_ERROR', (m) => m.body.id === id);
    t.is(e.body.bundle, bundle);
    return e.body.code;
  };
  t.is(await error(b.id, size + 1), 'OWL_ERR_FIRMWARE_BAD_RANGE');
  t.is(await error('f'.repeat(64), 0), 'OWL_ERR_FIRMWARE_UNKNOWN_BUNDLE');
  t.is(await error(elsewhere.id, 0), 'OWL_ERR_FIRMWARE_UNKNOWN_BUNDLE', 'offered to zone-b only');
  t.is((await callApi(r.api, 'DELETE', `/api/v1/firmware/${b.id}`)).status, 200);
  t.deepEqual((await c.next('FIRMWARE_OFFER')).body.bundles, []);
  t.is(await error(b.id, 0), 'OWL_ERR_FIRMWARE_UNKNOWN_BUNDLE', 'withdrawn');
  t.false(c.closed, 'chunk errors do not close the link');
  t.is(await metric(r.up, 'owl_upstream_firmware_sent_bytes_total{relay="zone-a"}'), size + 5);
  t.is(await metric(r.up, 'owl_upstream_firmware_chunk_errors_total{code="OWL_ERR_FIRMWARE_BAD_RANGE"}'), 1);
  t.is(
    await metric(r.up, 'owl_upstream_firmware_chunk_errors_total{code="OWL_ERR_FIRMWARE_UNKNOWN_BUNDLE"}'),
    3,
  );
});

test('a relay with too many chunk requests in flight is closed with a protocol error', async (t) => {
  const r = await rig(t, ['zone-a']);
  const b = await testBundle(r.dir, r.key, { program: 'owl-relay', version: '1.0.0', padBytes: 3_000_000 });
  await publish(r, b, '*');
  const c = await connect(t, r, 'zone-a');
  await c.next('FIRMWARE_OFFER');
  for (let i = 0; i < 16; i++)
    c.send({
      type: 'FIRMWARE_CHUNK_REQ',
      body: {
        id: i + 1,
        bundle: b.id,
        offset: (i % 2) * FIRMWARE_MAX_CHUNK_BYTES,
        length: FIRMWARE_MAX_CHUNK_BYTES,
      },
    });
  t.is(await c.waitClosed(), UplinkCloseCode.PROTOCOL_ERROR);
  const error = c.received.find((m) => m.type === 'ERROR');
  t.is(error?.type === 'ERROR' ? error.body.code : undefined, 'OWL_ERR_UPLINK_PROTOCOL');
});

const relayUnit = (
  state: string,
  t: number,
  extra: Partial<FirmwareUnitReport> = {},
): FirmwareUnitReport => ({
  program: 'owl-relay',
  version: '1.0.0',
  arch: 'amd64',
  state,
  t,
  ...extra,
});

test('unit reports: shown in the status, logged once per change, kept across a restart', async (t) => {
  const dir = tempDir('owl-fw-reports-');
  t.teardown(() => dir.remove());
  const state = join(dir.path, 'up');
  const { logger, lines } = captureLog();
  let up = await startUpstream(state, {}, { logger });
  const api = target(up);
  const token = ((await callApi(api, 'POST', '/api/v1/relays', { id: 'zone-a' })).body as { token: string })
    .token;
  const { client } = await UplinkTestClient.open(base(up), 'zone-a', token, 'spool-a');
  const agent: FirmwareUnitReport = {
    program: 'owl-agent',
    uuid: '5d41402abc4b2a76b9719d911017c592',
    version: '2.0.0',
    arch: 'arm64',
    state: 'trial',
    pendingVersion: '2.1.0',
    download: { bundle: 'a'.repeat(64), version: '2.1.0', bytes: 100, size: 400 },
    lastFailure: {
      code: 'OWL_ERR_FIRMWARE_UNHEALTHY',
      reason: 'exited at start',
      version: '2.0.5',
      at: 1000,
    },
    refused: {
      bundle: 'b'.repeat(64),
      version: '1.0.0',
      code: 'OWL_ERR_FIRMWARE_DOWNGRADE',
      message: 'older',
      at: 2000,
    },
    t: 3000,
  };
  client.send({ type: 'FIRMWARE_REPORT', body: { units: [relayUnit('committed', 1), agent] } });
  // The same again (a reconnect's full report): no new log lines.
  client.send({ type: 'FIRMWARE_REPORT', body: { units: [relayUnit('committed', 2), agent] } });
  client.send({
    type: 'FIRMWARE_REPORT',
    body: { units: [relayUnit('trial', 3, { pendingVersion: '1.1.0' })] },
  });
  const status = async (): Promise<Array<Record<string, unknown>>> =>
    (
      (await callApi(target(up), 'GET', '/api/v1/firmware/status')).body as {
        units: Array<Record<string, unknown>>;
      }
    ).units;
  await eventually(
    async () => (await status()).find((u) => u['unit'] === 'zone-a')?.['state'] === 'trial',
    10_000,
    'the trial report in the status',
  );
  const units = await status();
  t.like(units[0], {
    unit: 'zone-a',
    kind: 'relay',
    relay: 'zone-a',
    relayConnected: true,
    version: '1.0.0',
    state: 'trial',
    pendingVersion: '1.1.0',
  });
  t.like(units[1], { unit: agent.uuid, kind: 'agent', relay: 'zone-a', ...agent });
  const logged = (msg: string): number => lines.filter((l) => l['msg'] === msg).length;
  t.is(logged('firmware state'), 3, 'relay committed, agent trial, relay trial');
  t.is(logged('firmware update failed'), 1);
  t.is(logged('firmware bundle refused'), 1);
  t.is(await metric(up, 'owl_upstream_firmware_units{program="owl-relay",state="trial"}'), 1);
  t.is(await metric(up, 'owl_upstream_firmware_units{program="owl-agent",state="trial"}'), 1);

  client.terminate();
  await up.stop();
  up = await startUpstream(state);
  t.teardown(() => up.stop());
  const after = await status();
  t.like(after[0], { unit: 'zone-a', state: 'trial', relayConnected: false });
  t.like(after[1], { unit: agent.uuid, state: 'trial', lastFailure: agent.lastFailure });
});
