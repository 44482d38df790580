/**
 * Agents follow: an owl-agent installed as v1 in its own slots (under the systemd stand-in) gets
 * v2 through its relay (the relay caches the bundle published to its zone; the agent cannot
 * reach the upstream), or from the upstream itself when it connects there directly (zone
 * `direct`), verifies it with its own pinned key, switches, restarts, commits once a batch is
 * acknowledged, and the upstream shows it. A v3 published to a share of agents that leaves this
 * one out is not taken: the agent takes v2, the newest rung of the ladder it is in. A plugin
 * numbers every sample, so the store must hold each number once across the restart.
 */
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SlotSet } from '../../firmware/index.js';
import { inRollout, UPLINK_PATH } from '../../protocol/index.js';
import { eventually } from '../helpers/agent-client.js';
import {
  bundleOf,
  firmwareCli,
  installFirst,
  programTree,
  signingKey,
  type SigningKey,
} from '../helpers/firmware-rig.js';
import { addRelay, startRelayCli, startUpstreamCli } from '../helpers/owl-cli.js';
import { tempDir } from '../helpers/relay-harness.js';
import { UnitRunner } from '../helpers/unit-runner.js';
import { callApi, type ApiTarget } from '../helpers/upstream-api.js';

const ZONE = 'zone-fw-agents';
const ZONE_TOKEN = 'zone-token-fw-agents';
const UUID = '7a1f7f3e-2b1c-4d5e-8f90-a1b2c3d4e5f6';
const COUNTER = { name: 'counter', plugin: 'counter.sh', exec_interval: 1 };

interface UnitRow {
  program: string;
  uuid?: string;
  version: string;
  state: string;
}

async function agentUnit(api: ApiTarget): Promise<UnitRow | undefined> {
  const r = await callApi(api, 'GET', '/api/v1/firmware/status');
  if (r.status !== 200) throw new Error(`GET /api/v1/firmware/status: ${r.status}`);
  const body = r.body as { units?: UnitRow[] } | UnitRow[];
  const units = Array.isArray(body) ? body : (body.units ?? []);
  return units.find((u) => u.program === 'owl-agent' && u.uuid === UUID);
}

async function storedValues(api: ApiTarget): Promise<number[]> {
  const q = await callApi(api, 'GET', `/api/v1/query?metric=counter.seq&tag.uuid=${UUID}&from=0`);
  if (q.status !== 200) throw new Error(`query: ${q.status} ${JSON.stringify(q.body)}`);
  return (q.body as Array<{ values: number[] }>).flatMap((s) => s.values);
}

/** A bundle of agent `version` whose rollout at `percent` leaves UUID out (percent found per bundle). */
async function publishLeavingOut(
  t: ExecutionContext,
  api: ApiTarget,
  dir: string,
  key: SigningKey,
  zone: string,
  version: string,
): Promise<void> {
  const file = await bundleOf(
    programTree(join(dir, 'trees'), 'agent', version),
    join(dir, `agent-${version}.owlfw`),
    key,
    { program: 'owl-agent', version, minVersion: '1.0.0' },
  );
  const id = createHash('sha256').update(readFileSync(file)).digest('hex');
  const percent = [50, 30, 10, 5, 1].find((p) => !inRollout(id, UUID, p));
  if (percent === undefined) return t.log(`bundle ${id} takes the host at 1 %: no partial rollout`);
  await firmwareCli(api, ['publish', file, '--zones', zone, '--percent', String(percent)]);
}

async function agentFollows(t: ExecutionContext, via: 'relay' | 'direct'): Promise<void> {
  t.timeout(300_000);
  const scratch = tempDir('owl-fw-agent-');
  t.teardown(() => scratch.remove());
  const dir = scratch.path;
  const up = await startUpstreamCli(join(dir, 'upstream'));
  t.teardown(() => up.proc.kill());
  const zone = via === 'relay' ? ZONE : 'direct';
  const hostAdded = await callApi(up.api, 'POST', '/api/v1/hosts', {
    uuid: UUID,
    zone,
    services: [COUNTER],
  });
  t.is(hostAdded.status, 201);
  const key = signingKey(join(dir, 'keys'));
  const relay =
    via === 'direct'
      ? undefined
      : await startRelayCli({
          stateDir: join(dir, 'relay'),
          relayId: ZONE,
          token: await addRelay(up.api, ZONE),
          upstreamUrl: `ws://127.0.0.1:${up.uplinkPort}${UPLINK_PATH}`,
          zoneToken: ZONE_TOKEN,
        });
  if (relay !== undefined) t.teardown(() => relay.proc.kill());
  const agentPort = relay?.agentPort ?? up.agentPort;

  const pluginDir = join(dir, 'plugins');
  mkdirSync(pluginDir, { recursive: true });
  const counterFile = join(dir, 'counter');
  writeFileSync(
    join(pluginDir, 'counter.sh'),
    `#!/bin/sh\nf=${JSON.stringify(counterFile)}\nn=$(cat "$f" 2>/dev/null || echo 0)\nn=$((n + 1))\necho "$n" > "$f"\necho "{\\"seq\\": $n}"\n`,
  );
  chmodSync(join(pluginDir, 'counter.sh'), 0o755);
  const root = join(dir, 'opt-owl-agent');
  installFirst(root, programTree(join(dir, 'trees'), 'agent', '1.0.0'), '1.0.0');
  const stateDir = join(dir, 'agent');
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(join(stateDir, 'uuid'), UUID);
  const config = join(dir, 'agent.json');
  writeFileSync(
    config,
    JSON.stringify({
      relays: [`127.0.0.1:${agentPort}`],
      token: ZONE_TOKEN,
      stateDir,
      pluginDir,
      collectInterval: 0,
      discovery: { portsInterval: 0, assetsInterval: 0 },
      firmware: { root, keys: [key.publicKeyFile], checkIntervalMs: 2000 },
    }),
  );
  const agent = new UnitRunner({ program: 'owl-agent', root, args: ['run', '--config', config] });
  t.teardown(() => agent.stop(true));
  t.teardown(() => {
    if (t.passed) return;
    t.log(agent.history(30));
    t.log(
      (relay ?? up).proc.log
        .slice(-30)
        .map((l) => JSON.stringify(l))
        .join('\n'),
    );
  });
  await agent.start();
  await eventually(
    async () => (await agentUnit(up.api))?.version === '1.0.0',
    60_000,
    `v1 reported (${via})`,
  );
  await eventually(async () => (await storedValues(up.api)).length >= 2, 60_000, 'first samples stored');

  const v2 = await bundleOf(
    programTree(join(dir, 'trees'), 'agent', '2.0.0'),
    join(dir, 'agent-2.0.0.owlfw'),
    key,
    {
      program: 'owl-agent',
      version: '2.0.0',
      minVersion: '1.0.0',
    },
  );
  // First a v3 to a share of agents that leaves this one out: it is not taken.
  await publishLeavingOut(t, up.api, dir, key, zone, '3.0.0');
  await firmwareCli(up.api, ['publish', v2, '--zones', zone]);
  const v2Start = await agent.waitStart('2.0.0', 120_000);
  t.regex(v2Start.prestart, /trial/);
  t.is(agent.starts[0]?.exit, 'code 75', 'v1 exited 75 after the switch');
  await eventually(
    async () => {
      const u = await agentUnit(up.api);
      return u?.version === '2.0.0' && u.state === 'committed';
    },
    90_000,
    `v2 committed, reported (${via})`,
  );
  t.is(new SlotSet({ root }).state().state, 'committed');

  // Every number the plugin made while both versions ran is stored once.
  await agent.stop();
  const last = Number(readFileSync(counterFile, 'utf8').trim());
  await eventually(
    async () => Math.max(0, ...(await storedValues(up.api))) >= last - 1,
    60_000,
    'last stored',
  );
  const values = await storedValues(up.api);
  t.is(new Set(values).size, values.length, 'no sample stored twice');
  const missing: number[] = [];
  for (let v = 1; v < last; v++) if (!values.includes(v)) missing.push(v);
  t.deepEqual(missing, [], 'no sample lost across the update');
  t.deepEqual(
    agent.starts.map((s) => s.version),
    ['1.0.0', '2.0.0'],
    'v2 only: the v3 rollout left this agent out',
  );
}

test('an agent in slots takes v2 from its relay, restarts on it, commits after an acknowledged batch, and loses no sample', async (t) => {
  await agentFollows(t, 'relay');
});

test('an agent connected straight to the upstream (zone direct) takes v2 from it the same way', async (t) => {
  await agentFollows(t, 'direct');
});
