/**
 * Firmware delivery end to end, with real processes: `owl-upstream run`, `owl-relay run` installed
 * in A/B slots under a systemd stand-in (test/helpers/unit-runner.ts: the supervisor's prestart
 * before every start, restarts as the unit makes them), an agent sending samples through it the
 * whole time, and bundles published with `owl-upstream firmware publish`.
 */
import test, { type ExecutionContext } from 'ava';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SlotSet } from '../../firmware/index.js';
import { UPLINK_PATH } from '../../protocol/index.js';
import { eventually } from '../helpers/agent-client.js';
import {
  bundleOf,
  firmwareCli,
  installFirst,
  programTree,
  signingKey,
  type SigningKey,
} from '../helpers/firmware-rig.js';
import { LoadAgent } from '../helpers/load-agent.js';
import { addRelay, startUpstreamCli, upstreamStats, type UpstreamCli } from '../helpers/owl-cli.js';
import { tempDir } from '../helpers/relay-harness.js';
import { freeTcpPort } from '../helpers/tsdb.js';
import { UnitRunner } from '../helpers/unit-runner.js';
import { callApi, type ApiTarget } from '../helpers/upstream-api.js';

const ZONE_TOKEN = 'zone-token-fw';
const SAMPLES = 20;

interface Zone {
  dir: string;
  up: UpstreamCli;
  key: SigningKey;
  relayId: string;
  root: string;
  stateDir: string;
  agentPort: number;
  relay: UnitRunner;
  agent: LoadAgent;
}

/** A unit's row in `GET /api/v1/firmware/status`. */
interface UnitRow {
  program: string;
  relay?: string;
  uuid?: string;
  version: string;
  state: string;
  lastFailure?: { code: string; version: string; reason: string };
  refused?: { code: string; bundle?: string };
}

async function firmwareUnits(api: ApiTarget): Promise<UnitRow[]> {
  const r = await callApi(api, 'GET', '/api/v1/firmware/status');
  if (r.status !== 200) throw new Error(`GET /api/v1/firmware/status: ${r.status} ${JSON.stringify(r.body)}`);
  const body = r.body as { units?: UnitRow[] } | UnitRow[];
  return Array.isArray(body) ? body : (body.units ?? []);
}

async function relayUnit(api: ApiTarget, relayId: string): Promise<UnitRow | undefined> {
  return (await firmwareUnits(api)).find((u) => u.program === 'owl-relay' && u.relay === relayId);
}

/** Upstream, a relay installed as `v1` in slots under a unit runner, and a LoadAgent on it. */
async function startZone(t: ExecutionContext, relayId: string, healthTimeoutMs = 60_000): Promise<Zone> {
  t.timeout(300_000);
  const scratch = tempDir('owl-fw-e2e-');
  t.teardown(() => scratch.remove());
  const dir = scratch.path;
  const up = await startUpstreamCli(join(dir, 'upstream'));
  t.teardown(() => up.proc.kill());
  const key = signingKey(join(dir, 'keys'));
  const root = join(dir, 'opt-owl-relay');
  installFirst(root, programTree(join(dir, 'trees'), 'relay', '1.0.0'), '1.0.0');
  const stateDir = join(dir, 'relay-state');
  const agentPort = await freeTcpPort();
  const config = join(dir, 'relay.json');
  writeFileSync(
    config,
    JSON.stringify({
      reconnect: { maxMs: 1000 },
      firmware: { root, keys: [key.publicKeyFile], healthTimeoutMs },
    }),
  );
  const token = await addRelay(up.api, relayId);
  const relay = new UnitRunner({
    program: 'owl-relay',
    root,
    args: [
      'run',
      '--config',
      config,
      '--state-dir',
      stateDir,
      '--relay-id',
      relayId,
      '--token',
      token,
      '--upstream',
      `ws://127.0.0.1:${up.uplinkPort}${UPLINK_PATH}`,
      '--listen',
      `127.0.0.1:${agentPort}`,
      '--zone-token',
      ZONE_TOKEN,
      '--metrics',
      '127.0.0.1:0',
    ],
  });
  t.teardown(() => relay.stop(true));
  t.teardown(() => {
    if (!t.passed) t.log(relay.history(40));
  });
  await relay.start();
  await relay.waitLog((l) => l.msg === 'relay started', '"relay started"', 60_000);
  const agent = new LoadAgent({
    uuid: `fw-${relayId}`,
    session: 's1',
    samples: SAMPLES,
    window: 4,
    token: ZONE_TOKEN,
    reconnectMs: 100,
  });
  t.teardown(() => agent.close());
  await agent.connect(agentPort);
  return { dir, up, key, relayId, root, stateDir, agentPort, relay, agent };
}

/** Keep the agent sending a batch every `everyMs` until the returned stop() is called. */
function keepSending(t: ExecutionContext, agent: LoadAgent, everyMs = 50, maxBatches = 20_000): () => void {
  const timer = setInterval(() => {
    if (agent.limit < maxBatches) agent.sendUpTo(agent.limit + 1);
  }, everyMs);
  const stop = (): void => clearInterval(timer);
  // A failed test must not leave the interval keeping its worker alive.
  t.teardown(stop);
  return stop;
}

/** Stop sending, wait for every batch to be ACKed and stored: the store holds each sample once. */
async function allStoredOnce(t: ExecutionContext, z: Zone, stop: () => void): Promise<void> {
  stop();
  await z.agent.allAcked(120_000);
  const expected = z.agent.limit * SAMPLES;
  await eventually(
    async () => (await upstreamStats(z.up.api)).samples >= expected,
    120_000,
    'every sample stored',
  );
  t.is((await upstreamStats(z.up.api)).samples, expected, 'every acknowledged sample stored, each once');
}

async function publish(z: Zone, file: string, extra: string[] = []): Promise<void> {
  await firmwareCli(z.up.api, ['publish', file, '--zones', z.relayId, ...extra]);
}

test('a relay in slots takes v2 published upstream (killed mid-download), commits it, and a v3 that exits at start rolls back to v2, reported upstream', async (t) => {
  const z = await startZone(t, 'zone-fw-a');
  const stop = keepSending(t, z.agent);
  await eventually(
    async () => (await relayUnit(z.up.api, z.relayId))?.version === '1.0.0',
    30_000,
    'v1 reported',
  );

  // v2, padded so that its download takes many chunks; the relay is killed while it downloads.
  const v2 = await bundleOf(
    programTree(join(z.dir, 'trees'), 'relay', '2.0.0', { padBytes: 6 * 1024 * 1024 }),
    join(z.dir, 'relay-2.0.0.owlfw'),
    z.key,
    { program: 'owl-relay', version: '2.0.0', minVersion: '1.0.0' },
  );
  await publish(z, v2);
  const partDir = join(z.stateDir, 'firmware');
  await eventually(
    () => existsSync(partDir) && readdirSync(partDir).some((f) => f.endsWith('.part')),
    60_000,
    'a download under way',
  );
  const killedAt = z.relay.starts.length;
  await z.relay.current.proc.kill();
  const v2Start = await z.relay.waitStart('2.0.0', 120_000, killedAt);
  t.true(z.relay.starts.length >= killedAt + 2, 'restarted after the kill, then on the new slot');
  t.regex(v2Start.prestart, /trial/);
  await eventually(
    async () => {
      const u = await relayUnit(z.up.api, z.relayId);
      return u?.version === '2.0.0' && u.state === 'committed';
    },
    90_000,
    'v2 committed and reported upstream',
  );
  t.is(new SlotSet({ root: z.root }).state().state, 'committed');

  // v3 exits at start: after its allowed starts, prestart goes back to v2.
  const v3 = await bundleOf(
    programTree(join(z.dir, 'trees'), 'relay', '3.0.0', { behaviour: 'exits-at-start' }),
    join(z.dir, 'relay-3.0.0.owlfw'),
    z.key,
    { program: 'owl-relay', version: '3.0.0', minVersion: '1.0.0' },
  );
  const before = z.relay.starts.length;
  const publishedAt = Date.now();
  await publish(z, v3);
  await z.relay.waitStart('3.0.0', 120_000, before);
  const back = await z.relay.waitStart(
    '2.0.0',
    120_000,
    z.relay.starts.findIndex((s) => s.version === '3.0.0'),
  );
  t.log(`v3 published → rolled back to v2 in ${back.at - publishedAt} ms`);
  await eventually(
    async () => {
      const u = await relayUnit(z.up.api, z.relayId);
      return u?.version === '2.0.0' && u.lastFailure?.version === '3.0.0';
    },
    60_000,
    'the rollback reported upstream',
  );
  const u = await relayUnit(z.up.api, z.relayId);
  t.is(u?.lastFailure?.code, 'OWL_ERR_FIRMWARE_EXITED_AT_START');
  t.is(new SlotSet({ root: z.root }).state().state, 'rolled-back');
  t.true(back.at - publishedAt < 60_000, 'rolled back within the health timeout');

  await allStoredOnce(t, z, stop);
  t.deepEqual(
    z.agent.errors.filter((e) => !/OVERLOADED|closed/.test(e)),
    [],
  );
});

test('a tampered bundle, one signed with an unknown key and a downgrade are refused before a slot is touched, each reported upstream with its code', async (t) => {
  const z = await startZone(t, 'zone-fw-b');
  const stop = keepSending(t, z.agent, 100);
  const slotsBefore = readdirSync(z.root).sort();
  const stateBefore = readFileSync(join(z.root, 'update.json'), 'utf8');
  const trees = join(z.dir, 'trees');

  const tampered = await bundleOf(
    programTree(trees, 'relay', '2.0.0'),
    join(z.dir, 'tampered.owlfw'),
    z.key,
    {
      program: 'owl-relay',
      version: '2.0.0',
    },
  );
  const bytes = readFileSync(tampered);
  bytes[bytes.length - 10] = (bytes[bytes.length - 10] as number) ^ 0xff;
  writeFileSync(tampered, bytes);
  const otherKey = signingKey(join(z.dir, 'other-keys'));
  const unknownKey = await bundleOf(
    programTree(trees, 'relay', '2.1.0'),
    join(z.dir, 'other.owlfw'),
    otherKey,
    {
      program: 'owl-relay',
      version: '2.1.0',
    },
  );
  const downgrade = await bundleOf(programTree(trees, 'relay', '0.9.0'), join(z.dir, 'old.owlfw'), z.key, {
    program: 'owl-relay',
    version: '0.9.0',
  });

  for (const [file, code] of [
    [tampered, 'OWL_ERR_FIRMWARE_CORRUPT'],
    [unknownKey, 'OWL_ERR_FIRMWARE_UNKNOWN_KEY'],
    [downgrade, 'OWL_ERR_FIRMWARE_DOWNGRADE'],
  ] as const) {
    await publish(z, file);
    await eventually(
      async () => (await relayUnit(z.up.api, z.relayId))?.refused?.code === code,
      60_000,
      `${code} reported`,
    );
    await firmwareCli(z.up.api, ['withdraw', file]);
    t.deepEqual(readdirSync(z.root).sort(), slotsBefore, `${code}: no slot written`);
    t.is(readFileSync(join(z.root, 'update.json'), 'utf8'), stateBefore, `${code}: update state untouched`);
  }
  t.is(z.relay.starts.length, 1, 'the relay never restarted');
  t.is(z.relay.current.proc.exited, false);
  await allStoredOnce(t, z, stop);
});

test('kill -9 after the download, after the install and at the first start of the new version: a working version runs each time and the update completes', async (t) => {
  const z = await startZone(t, 'zone-fw-c');
  const stop = keepSending(t, z.agent, 100);
  const v2 = await bundleOf(
    programTree(join(z.dir, 'trees'), 'relay', '2.0.0', { padBytes: 2 * 1024 * 1024 }),
    join(z.dir, 'relay-2.0.0.owlfw'),
    z.key,
    { program: 'owl-relay', version: '2.0.0', minVersion: '1.0.0' },
  );
  // The new version's first start is killed as it is spawned, before it can commit.
  let v2Kills = 0;
  z.relay.onSpawn = (s) => {
    if (s.version !== '2.0.0' || v2Kills > 0) return;
    v2Kills++;
    void s.proc.kill();
  };
  await publish(z, v2);
  // Each step's log line, then SIGKILL there; the unit starts the relay again. After "installed"
  // the switch may have landed before the kill: then v2 comes next (and its first start dies).
  for (const step of ['firmware download finished', 'firmware installed']) {
    await z.relay.waitLog((l) => l.msg === step, step, 120_000, z.relay.starts.length - 1);
    await z.relay.current.proc.kill();
    const next = z.relay.starts.length;
    await z.relay.waitLog(
      (l) => l.msg === 'relay started',
      `a relay started after the kill at "${step}"`,
      120_000,
      next,
    );
  }
  await eventually(
    async () => {
      const u = await relayUnit(z.up.api, z.relayId);
      return u?.version === '2.0.0' && u.state === 'committed';
    },
    120_000,
    'v2 committed after the kills',
  );
  const v2Starts = z.relay.starts.filter((s) => s.version === '2.0.0');
  t.is(v2Kills, 1);
  t.is(v2Starts[0]?.exit, 'signal SIGKILL', 'the first start of v2 was killed');
  t.regex(v2Starts[1]?.prestart ?? '', /trial/, 'its second start was still the trial, and committed');
  t.true(
    z.relay.starts.every((s) => s.version === '1.0.0' || s.version === '2.0.0'),
    'every start ran a complete version',
  );
  await allStoredOnce(t, z, stop);
});

test('a v2 that runs but never becomes healthy is rolled back by the watchdog at its health timeout, reported upstream; its spooled samples still arrive', async (t) => {
  const z = await startZone(t, 'zone-fw-d', 8000);
  const stop = keepSending(t, z.agent, 100);
  const v2 = await bundleOf(
    programTree(join(z.dir, 'trees'), 'relay', '2.0.0', { behaviour: 'never-healthy' }),
    join(z.dir, 'relay-2.0.0.owlfw'),
    z.key,
    { program: 'owl-relay', version: '2.0.0' },
  );
  await publish(z, v2);
  const bad = await z.relay.waitStart('2.0.0', 120_000);
  const back = await z.relay.waitStart('1.0.0', 60_000, z.relay.starts.indexOf(bad) + 1);
  t.log(`v2 started → rolled back to v1 after ${back.at - bad.at} ms (health timeout 8000 ms + 5 s grace)`);
  t.true(back.at - bad.at >= 8000, 'not before the health timeout');
  t.true(
    z.relay.supervisorLines.some((l) => /rolled back 2\.0\.0/.test(l)),
    'the watchdog rolled it back',
  );
  await eventually(
    async () =>
      (await relayUnit(z.up.api, z.relayId))?.lastFailure?.code === 'OWL_ERR_FIRMWARE_HEALTH_TIMEOUT',
    60_000,
    'the health timeout reported upstream',
  );
  t.is((await relayUnit(z.up.api, z.relayId))?.version, '1.0.0');
  await allStoredOnce(t, z, stop);
});
