/**
 * The smoke chain on extracted packages: an upstream and a relay started from their package trees
 * (their shipped config or template, then flags for loopback listeners on free ports and temp
 * state dirs), a v3 agent frame into the relay, the sample read back through the upstream's API.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodePacket, PacketType, UPLINK_PATH } from '../../protocol/index.js';
import { eventually, TestAgent } from '../helpers/agent-client.js';
import { addRelay } from '../helpers/owl-cli.js';
import { callApi, type ApiTarget } from '../helpers/upstream-api.js';
import { v3Sample } from '../helpers/v3-sample.js';
import { launcher, PackagedProcess, portOf, programTree } from './packages.js';

export interface PackagedUpstream {
  proc: PackagedProcess;
  uplinkPort: number;
  api: ApiTarget;
}

/** The upstream of the package extracted at `root`, on its shipped /etc/owl/upstream.json. */
export async function startPackagedUpstream(root: string, stateDir: string): Promise<PackagedUpstream> {
  const proc = PackagedProcess.spawn(
    'packaged owl-upstream',
    launcher(root, 'upstream'),
    [
      'run',
      '--config',
      join(root, 'etc', 'owl', 'upstream.json'),
      '--state-dir',
      stateDir,
      '--uplink',
      '127.0.0.1:0',
      '--agents',
      '127.0.0.1:0',
      '--api',
      '127.0.0.1:0',
      '--metrics',
      '127.0.0.1:0',
    ],
    root,
  );
  const started = await proc.waitLog((l) => l.msg === 'upstream started', '"upstream started" line', 60_000);
  const token = readFileSync(join(stateDir, 'api-token'), 'utf8').trim();
  return {
    proc,
    uplinkPort: portOf(started['uplink'], 'uplink'),
    api: { port: portOf(started['api'], 'api'), token },
  };
}

export interface PackagedRelay {
  proc: PackagedProcess;
  agentPort: number;
  metricsPort: number;
}

/** How a relay of an extracted package is run: its launcher, or its node under an emulator. */
export interface RelayCommand {
  command: string;
  /** Before `run …`. */
  args: string[];
  env?: NodeJS.ProcessEnv;
}

export function relayLauncher(root: string): RelayCommand {
  return { command: launcher(root, 'relay'), args: [] };
}

/**
 * The relay of the package extracted at `root`: a config made from the package's template as
 * postinst makes /etc/owl/relay.json, then the relay id, token and listeners as flags.
 */
export async function startPackagedRelay(
  root: string,
  run: RelayCommand,
  o: {
    stateDir: string;
    configDir: string;
    relayId: string;
    token: string;
    uplinkPort: number;
    startMs?: number;
  },
): Promise<PackagedRelay> {
  const template = readFileSync(join(programTree(root, 'relay'), 'share', 'relay.json.template'), 'utf8');
  const config = join(o.configDir, 'relay.json');
  writeFileSync(config, template.replace('@RELAY_ID@', o.relayId));
  const proc = PackagedProcess.spawn(
    'packaged owl-relay',
    run.command,
    [
      ...run.args,
      'run',
      '--config',
      config,
      '--state-dir',
      o.stateDir,
      '--token',
      o.token,
      '--upstream',
      `ws://127.0.0.1:${o.uplinkPort}${UPLINK_PATH}`,
      '--listen',
      '127.0.0.1:0',
      '--v3-allow',
      '127.0.0.0/8',
      '--metrics',
      '127.0.0.1:0',
    ],
    root,
    run.env,
  );
  const started = await proc.waitLog(
    (l) => l.msg === 'relay started',
    '"relay started" line',
    o.startMs ?? 60_000,
  );
  const listen = started['listen'] as unknown[] | undefined;
  return {
    proc,
    agentPort: portOf(listen?.[0], 'agent listener'),
    metricsPort: portOf(started['metrics'], 'metrics listener'),
  };
}

/** Register relay `id` at the upstream; its uplink token. */
export function relayToken(up: PackagedUpstream, id: string): Promise<string> {
  return addRelay(up.api, id);
}

/** One v3 SERIESDATA sample (cpu.idle = value) from a HELLO-less agent on loopback. */
export async function sendSample(agentPort: number, uuid: string, value: number): Promise<void> {
  const agent = await TestAgent.connect(agentPort);
  const sample = v3Sample({ uuid, value, timestamp: Math.floor(Date.now() / 1000) });
  agent.sendRaw(encodePacket(PacketType.SERIESDATA, sample));
  agent.end();
}

/** The values of cpu.idle for `uuid` in the upstream's store. */
export async function storedValues(api: ApiTarget, uuid: string): Promise<number[]> {
  const q = await callApi(api, 'GET', `/api/v1/query?metric=cpu.idle&tag.uuid=${uuid}&from=0`);
  if (q.status !== 200) throw new Error(`query: ${q.status} ${JSON.stringify(q.body)}`);
  return (q.body as Array<{ values: number[] }>).flatMap((s) => s.values);
}

/** Until the upstream's store holds `value` for `uuid`. */
export async function sampleStored(api: ApiTarget, uuid: string, value: number, ms: number): Promise<void> {
  await eventually(
    async () => (await storedValues(api, uuid)).includes(value),
    ms,
    `cpu.idle=${value} stored`,
    200,
  );
}
