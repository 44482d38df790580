/**
 * owl-agent in the real chain: `owl-upstream run`, `owl-relay run` and
 * `owl-agent run` from their CLIs, real processes killed with SIGKILL.
 *
 * Every sample is numbered: the plugin (a sh script in the agent's plugin
 * dir) adds one to a counter file on each run and prints `{"seq": N}`, so
 * the store must hold each N once (counted by unique values across every
 * series of the metric, whichever relay carried it). A run whose output was
 * in the agent's memory when it was killed (plugin output read, batch not
 * yet durable) may be lost: that is at most the runs around the kill, and
 * the check allows exactly that window and nothing else.
 */
import { readFileSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { fetchAgentStatus, type AgentStatus } from '../../agent/index.js';
import {
  addRelay,
  OwlProcess,
  startRelayCli,
  startUpstreamCli,
  type UpstreamCli,
} from '../helpers/owl-cli.js';
import { eventually } from '../helpers/agent-client.js';
import { tempDir } from '../helpers/relay-harness.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { callApi, type ApiTarget } from '../helpers/upstream-api.js';
import { closedPort } from '../helpers/upstream-check.js';
import { UPLINK_PATH } from '../../protocol/index.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const ZONE_TOKEN = 'zone-token-0123456789';
const UUID = '0f6b1c2e-4a5d-4e6f-8a9b-0c1d2e3f4a5b';
const LONG = process.env['OWL_LONG'] === '1';
/** The outage: the relay down 60 s (counted in plugin runs, one a second). */
const OUTAGE_RUNS = 60;
const COUNTER = { name: 'counter', plugin: 'counter.sh', exec_interval: 1 };

/** Poll `check` every 100 ms (it asks other processes) until it holds, within `ms`. */
function waitFor(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  return eventually(check, ms, what, 100);
}

interface Rig {
  dir: string;
  pluginDir: string;
  stateDir: string;
  counterFile: string;
  up: UpstreamCli;
}

async function rig(t: ExecutionContext, services = [COUNTER], zone = 'zone-a'): Promise<Rig> {
  const tmp = tempDir('owl-agent-chain-');
  t.teardown(tmp.remove);
  const dir = tmp.path;
  const pluginDir = join(dir, 'plugins');
  mkdirSync(pluginDir);
  const counterFile = join(dir, 'counter');
  // Plugins take no state path from the network: this one keeps its counter beside the plugin dir.
  writeFileSync(
    join(pluginDir, 'counter.sh'),
    `#!/bin/sh\nf=${JSON.stringify(counterFile)}\nn=$(cat "$f" 2>/dev/null || echo 0)\nn=$((n + 1))\necho "$n" > "$f"\necho "{\\"seq\\": $n}"\n`,
  );
  chmodSync(join(pluginDir, 'counter.sh'), 0o755);
  const up = await startUpstreamCli(join(dir, 'upstream'));
  t.teardown(() => up.proc.kill());
  const r = await callApi(up.api, 'POST', '/api/v1/hosts', { uuid: UUID, zone, services });
  if (r.status !== 201) throw new Error(`POST /api/v1/hosts: ${r.status} ${JSON.stringify(r.body)}`);
  return { dir, pluginDir, stateDir: join(dir, 'agent'), counterFile, up };
}

function counter(r: Rig): number {
  try {
    return Number(readFileSync(r.counterFile, 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
}

async function startAgent(t: ExecutionContext, r: Rig, config: Record<string, unknown>): Promise<OwlProcess> {
  const file = join(r.dir, 'agent.json');
  const base = {
    stateDir: r.stateDir,
    pluginDir: r.pluginDir,
    token: ZONE_TOKEN,
    collectInterval: 0,
    discovery: { portsInterval: 0, assetsInterval: 0 },
  };
  writeFileSync(file, JSON.stringify({ ...base, ...config }));
  // The host this test registered (an agent keeps the uuid in its state dir once made).
  mkdirSync(r.stateDir, { recursive: true });
  writeFileSync(join(r.stateDir, 'uuid'), UUID);
  const agent = OwlProcess.start('agent', ['run', '--config', file]);
  t.teardown(() => {
    if (!t.passed) t.log(agent.log.map((l) => JSON.stringify(l)).join('\n'), agent.stderrTail);
  });
  await agent.waitLog((l) => l.msg === 'owl-agent running', '"owl-agent running" line');
  return agent;
}

async function agentStatus(r: Rig): Promise<AgentStatus> {
  return (await fetchAgentStatus(r.stateDir)) as AgentStatus;
}

/** Every stored value of counter.seq for the host, across all its series (one per zone it came through). */
async function storedValues(api: ApiTarget): Promise<number[]> {
  const q = await callApi(api, 'GET', `/api/v1/query?metric=counter.seq&tag.uuid=${UUID}&from=0`);
  if (q.status !== 200) throw new Error(`query: ${q.status} ${JSON.stringify(q.body)}`);
  return (q.body as Array<{ values: number[] }>).flatMap((s) => s.values);
}

/** Stop the agent (SIGTERM), wait for the last samples in the store; returns the last value made. */
async function stopAndDrain(r: Rig, agent: OwlProcess): Promise<number> {
  await agent.stop();
  const last = counter(r);
  await waitFor(
    async () => Math.max(0, ...(await storedValues(r.up.api))) >= last - 1,
    60_000,
    'the last samples stored',
  );
  return last;
}

/** Each value once; the only ones missing are those `allowedGap` accepts. */
function checkExactlyOnce(
  t: ExecutionContext,
  values: number[],
  last: number,
  allowedGap: (v: number) => boolean,
): void {
  t.is(new Set(values).size, values.length, 'no value stored twice');
  const have = new Set(values);
  const missing: number[] = [];
  for (let v = 1; v <= last; v++) if (!have.has(v)) missing.push(v);
  t.deepEqual(
    missing.filter((v) => !allowedGap(v)),
    [],
    `missing ${JSON.stringify(missing)} of 1..${last}`,
  );
  t.true(missing.length <= 4, `missing ${JSON.stringify(missing)}`);
  t.true(values.every((v) => v >= 1 && v <= last));
}

test('cached config with no relay, relay down 60 s, agent kill -9 while resending: every sample stored once', async (t) => {
  t.timeout(LONG ? 300_000 : 180_000);
  const r = await rig(t);
  const token = await addRelay(r.up.api, 'zone-a');
  const agentPort = await closedPort();
  const relayOpts = {
    stateDir: join(r.dir, 'relay'),
    relayId: 'zone-a',
    token,
    upstreamUrl: `ws://127.0.0.1:${r.up.uplinkPort}${UPLINK_PATH}`,
    zoneToken: ZONE_TOKEN,
    agentPort,
  };
  // The host's config was cached by an earlier run: plugins start with no relay reachable.
  mkdirSync(r.stateDir, { recursive: true });
  writeFileSync(join(r.stateDir, 'host.json'), JSON.stringify({ uuid: UUID, services: [COUNTER] }));
  let agent = await startAgent(t, r, { relays: [`127.0.0.1:${agentPort}`] });
  await waitFor(
    async () => (await agentStatus(r)).buffer.samples >= 3,
    20_000,
    'samples buffered with no relay',
  );
  t.is((await agentStatus(r)).relay.relay, null);

  let relay = await startRelayCli(relayOpts);
  await waitFor(async () => (await storedValues(r.up.api)).length >= 3, 30_000, 'first samples stored');

  await relay.proc.kill();
  const downAt = counter(r);
  await waitFor(() => counter(r) >= downAt + OUTAGE_RUNS, OUTAGE_RUNS * 1000 + 20_000, 'the outage');
  t.true((await agentStatus(r)).buffer.batches >= OUTAGE_RUNS - 5, 'the outage is buffered');

  const from = agent.log.length;
  relay = await startRelayCli(relayOpts);
  await agent.waitLog((l) => l.msg === 'connected to relay', 'reconnect after the outage', 60_000, from);
  await agent.kill(); // SIGKILL while the backlog is being resent
  const killedAt = counter(r);
  agent = await startAgent(t, r, { relays: [`127.0.0.1:${agentPort}`] });
  await waitFor(() => counter(r) >= killedAt + 5, 30_000, 'runs after the restart');
  const last = await stopAndDrain(r, agent);
  const values = await storedValues(r.up.api);
  checkExactlyOnce(t, values, last, (v) => Math.abs(v - killedAt) <= 2 || v >= last - 1);
  await relay.proc.stop();
});

test('failover between two real relays, and back to the nearest once it returns: every sample stored once', async (t) => {
  t.timeout(180_000);
  const r = await rig(t);
  const relays = [];
  for (const id of ['zone-a', 'zone-b']) {
    const token = await addRelay(r.up.api, id);
    relays.push({
      stateDir: join(r.dir, id),
      relayId: id,
      token,
      upstreamUrl: `ws://127.0.0.1:${r.up.uplinkPort}${UPLINK_PATH}`,
      zoneToken: ZONE_TOKEN,
      agentPort: await closedPort(),
    });
  }
  let near = await startRelayCli(relays[0]!);
  const far = await startRelayCli(relays[1]!);
  t.teardown(() => far.proc.kill());
  // zone-b's relay is 150 ms away: its HELLO answer comes late.
  const farProxy = await TcpProxy.start(far.agentPort);
  t.teardown(() => farProxy.close());
  farProxy.setReplyDelay(150);
  const nearLabel = `127.0.0.1:${relays[0]!.agentPort}`;
  const farLabel = `127.0.0.1:${farProxy.port}`;
  const agent = await startAgent(t, r, { relays: [farLabel, nearLabel], relayProbeInterval: 1 });
  await waitFor(async () => (await agentStatus(r)).relay.relay === nearLabel, 20_000, 'on the nearest relay');
  await waitFor(async () => (await storedValues(r.up.api)).length >= 3, 30_000, 'first samples stored');

  await near.proc.kill();
  await waitFor(
    async () => (await agentStatus(r)).relay.relay === farLabel,
    30_000,
    'failed over to the far relay',
  );
  const onFar = counter(r);
  await waitFor(() => counter(r) >= onFar + 3, 20_000, 'runs while on the far relay');

  near = await startRelayCli(relays[0]!);
  await waitFor(
    async () => (await agentStatus(r)).relay.relay === nearLabel,
    30_000,
    'back on the nearest relay',
  );
  const back = counter(r);
  await waitFor(() => counter(r) >= back + 3, 20_000, 'runs after moving back');
  const last = await stopAndDrain(r, agent);
  const q = await callApi(
    r.up.api,
    'GET',
    `/api/v1/query?metric=counter.seq&tag.uuid=${UUID}&tag.zone=zone-b&from=0`,
  );
  t.true((q.body as unknown[]).length > 0, 'some samples travelled through the far relay');
  checkExactlyOnce(t, await storedValues(r.up.api), last, (v) => v >= last - 1);
  const host = (await callApi(r.up.api, 'GET', `/api/v1/hosts/${UUID}`)).body as { agent?: string };
  t.regex(host.agent ?? '', /^owl-agent\//, 'the upstream knows what the host runs');
  await near.proc.stop();
});

test('against a v3 server side: the agent in v3 mode talks to the upstream’s v3 listener and its data arrives', async (t) => {
  t.timeout(120_000);
  const r = await rig(t, [COUNTER], 'direct');
  const started = r.up.proc.log.find((l) => l.msg === 'upstream started')!;
  const agents = started['agents'] as Array<{ port: number }>;
  const agent = await startAgent(t, r, {
    relays: [{ address: `127.0.0.1:${agents[0]!.port}`, protocol: 'v3' }],
  });
  // No cached config: the plugin runs once the v3 HOSTCONFIGRESP arrived.
  await waitFor(async () => (await storedValues(r.up.api)).length >= 3, 30_000, 'samples stored through v3');
  t.is((await agentStatus(r)).relay.mode, 'v3');
  const cli = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(REPO, 'agent', 'cli.ts'), 'status', '--state-dir', r.stateDir],
    {
      cwd: REPO,
      encoding: 'utf8',
    },
  );
  t.is(cli.status, 0, cli.stderr);
  t.regex(cli.stdout, new RegExp(`^relay +127\\.0\\.0\\.1:${agents[0]!.port} \\(v3\\)$`, 'm'));
  t.regex(cli.stdout, /^plugin +counter \(counter\.sh\): ok at /m);
  const values = await storedValues(r.up.api);
  t.is(new Set(values).size, values.length);
  await agent.stop();
});

test('a relay that stops answering (a silent partition) is left after the ACK timeout, never taken for v3; nothing lost', async (t) => {
  t.timeout(180_000);
  const r = await rig(t);
  const token = await addRelay(r.up.api, 'zone-a');
  const relay = await startRelayCli({
    stateDir: join(r.dir, 'relay'),
    relayId: 'zone-a',
    token,
    upstreamUrl: `ws://127.0.0.1:${r.up.uplinkPort}${UPLINK_PATH}`,
    zoneToken: ZONE_TOKEN,
  });
  const proxy = await TcpProxy.start(relay.agentPort);
  t.teardown(() => proxy.close());
  const agent = await startAgent(t, r, { relays: [`127.0.0.1:${proxy.port}`], ackTimeout: 10 });
  await waitFor(async () => (await storedValues(r.up.api)).length >= 3, 30_000, 'first samples stored');
  const from = agent.log.length;
  proxy.cutSilently();
  const lost = await agent.waitLog((l) => l.msg === 'relay connection lost', 'the ACK timeout', 30_000, from);
  t.is(lost['code'], 'OWL_ERR_IDLE_TIMEOUT');
  t.regex(String(lost['reason']), /no ACK within 10000 ms/);
  // Reconnects meet a silent door; the relay answered HELLO before, so no answer is not "a v3 peer".
  await waitFor(
    async () => /no HELLO/.test((await agentStatus(r)).relay.lastError ?? ''),
    40_000,
    'a HELLO timeout',
  );
  proxy.heal();
  const healed = agent.log.length;
  await agent.waitLog((l) => l.msg === 'connected to relay', 'reconnect after the partition', 90_000, healed);
  t.deepEqual(
    agent.log.filter((l) => l.msg === 'connected to relay').map((l) => l['mode']),
    agent.log.filter((l) => l.msg === 'connected to relay').map(() => 'v4'),
  );
  const back = counter(r);
  await waitFor(() => counter(r) >= back + 3, 20_000, 'runs after the partition');
  const last = await stopAndDrain(r, agent);
  checkExactlyOnce(t, await storedValues(r.up.api), last, (v) => v >= last - 1);
  await relay.proc.stop();
});
