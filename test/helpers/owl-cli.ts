/**
 * The real programs, started from their CLIs as an operator would:
 * `node --import tsx upstream/cli.ts run …` and `node --import tsx relay/cli.ts run …`,
 * on their default configs. Only what a test must set is passed as flags:
 * state dir, loopback listeners, relay id and token, zone token, upstream URL,
 * and the metrics listener when a test reads it; and, through a small
 * `--config` file, the relay's reconnect cap (1 s instead of 30 s: a test
 * that restarts the upstream waits for the relay at most that long). Their
 * pino JSON log (stdout) is kept line by line; the listening ports come from
 * their start lines.
 * Every process is SIGKILLed when this process exits, so none outlives a test
 * or a bench that failed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchStatus, type RelayStatus } from '../../relay/index.js';
import { eventually } from './agent-client.js';
import { callApi, type ApiTarget } from './upstream-api.js';
import { WatchedProcess } from './watched-process.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** One parsed pino line. */
export type LogLine = Record<string, unknown> & { level?: number; msg?: string; time?: number };

const running = new Set<OwlProcess>();
process.on('exit', () => {
  for (const p of running) if (!p.exited) p.proc.kill('SIGKILL');
});

export class OwlProcess extends WatchedProcess {
  /** Every stdout line parsed as JSON (lines that are not JSON are kept as `{msg: <line>}`). */
  readonly log: LogLine[] = [];

  private constructor(name: string, proc: ChildProcess) {
    super(name, proc);
    running.add(this);
    void this.exit.then(() => running.delete(this));
  }

  protected takeLines(lines: string[]): void {
    for (const line of lines) {
      if (line === '') continue;
      try {
        this.log.push(JSON.parse(line) as LogLine);
      } catch {
        this.log.push({ msg: line });
      }
    }
  }

  /** `node [nodeArgs] --import tsx <program>/cli.ts <args>` from the repository root. */
  static start(
    program: 'relay' | 'upstream' | 'agent',
    args: string[],
    nodeArgs: readonly string[] = [],
  ): OwlProcess {
    const argv = [...nodeArgs, '--import', 'tsx', join(REPO_ROOT, program, 'cli.ts'), ...args];
    return OwlProcess.spawn(`owl-${program}`, process.execPath, argv, REPO_ROOT);
  }

  /** Any program that logs pino JSON lines (an installed package's launcher): `command args` in `cwd`, `env` added. */
  static spawn(
    name: string,
    command: string,
    args: string[],
    cwd: string,
    env: NodeJS.ProcessEnv = {},
  ): OwlProcess {
    const proc = spawn(command, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return new OwlProcess(name, proc);
  }

  /** Wait for a log line (index >= `from`) that `match` accepts; returns it. */
  async waitLog(match: (line: LogLine) => boolean, what: string, ms = 30_000, from = 0): Promise<LogLine> {
    let i = from;
    return this.waitFor(
      () => {
        for (; i < this.log.length; i++) if (match(this.log[i] as LogLine)) return this.log[i] as LogLine;
        return undefined;
      },
      what,
      ms,
    );
  }

  /** Log lines at warn level or above, as `msg {fields}` strings (for failure messages and figures). */
  problems(): string[] {
    return this.log
      .filter((l) => (l.level ?? 0) >= 40)
      .map((l) => {
        const { level: _l, time: _t, pid: _p, hostname: _h, name: _n, msg, ...rest } = l;
        return `${String(msg)} ${JSON.stringify(rest)}`;
      });
  }

  /** Wait for the process to exit on its own, within `ms` (then it is SIGKILLed and this throws). */
  async waitExit(ms = 30_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        this.proc.kill('SIGKILL');
        reject(new Error(`${this.name} did not exit within ${ms} ms: ${this.stderrTail}`));
      }, ms);
    });
    try {
      await Promise.race([this.exit, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM (graceful stop) and wait for the exit; SIGKILL after `ms`. */
  async stop(ms = 20_000): Promise<void> {
    await this.stopBy(() => this.proc.kill('SIGTERM'), ms);
  }
}

/** The port of a listener address in a start line. */
export function portOf(address: unknown, what: string): number {
  const port = (address as { port?: unknown } | undefined)?.port;
  if (typeof port !== 'number') throw new Error(`no port for ${what} in the start line`);
  return port;
}

export interface UpstreamCli {
  proc: OwlProcess;
  stateDir: string;
  uplinkPort: number;
  /** The direct agents' listener (zone `direct`). */
  agentPort: number;
  api: ApiTarget;
  /** This process's clock (ms) when its start line was read: the upstream is listening. */
  startedAt: number;
}

/**
 * `owl-upstream run` on `stateDir`, every listener on 127.0.0.1 (the uplink on
 * `uplinkPort`, default any free port). Resolves once it logged "upstream started".
 * `nodeArgs` (diagnostics: `--cpu-prof`, …) go to node before the script; `options.config`: a
 * JSON config file (`--config`), under the flags above.
 */
export async function startUpstreamCli(
  stateDir: string,
  uplinkPort = 0,
  nodeArgs: readonly string[] = [],
  options: { config?: string } = {},
): Promise<UpstreamCli> {
  const proc = OwlProcess.start(
    'upstream',
    [
      'run',
      ...(options.config === undefined ? [] : ['--config', options.config]),
      '--state-dir',
      stateDir,
      '--uplink',
      `127.0.0.1:${uplinkPort}`,
      '--agents',
      '127.0.0.1:0',
      '--api',
      '127.0.0.1:0',
      '--metrics',
      '127.0.0.1:0',
    ],
    nodeArgs,
  );
  const started = await proc.waitLog((l) => l.msg === 'upstream started', '"upstream started" line');
  const startedAt = Date.now();
  const token = readFileSync(join(stateDir, 'api-token'), 'utf8').trim();
  return {
    proc,
    stateDir,
    uplinkPort: portOf(started['uplink'], 'uplink'),
    agentPort: portOf((started['agents'] as unknown[] | undefined)?.[0], 'agent listener'),
    api: { port: portOf(started['api'], 'api'), token },
    startedAt,
  };
}

export interface RelayCliOptions {
  stateDir: string;
  relayId: string;
  token: string;
  upstreamUrl: string;
  zoneToken: string;
  /** Serve /metrics on 127.0.0.1:<port>. */
  metricsPort?: number;
  /** CIDRs v3 agents (no HELLO) may connect from. */
  v3Allow?: string[];
  /** Agent listener port on 127.0.0.1 (default any free port): fixed to restart a relay where its agents look. */
  agentPort?: number;
  /**
   * The relay's reconnect backoff cap, ms (config `reconnect.maxMs`; default here 1000, the
   * program's 30 s with `null`).
   */
  reconnectMaxMs?: number | null;
  /** More config file keys (flags still win). */
  config?: Record<string, unknown>;
}

/** Tests' reconnect cap: a restarted upstream sees its relays within about a second. */
export const TEST_RECONNECT_MAX_MS = 1000;

/** A `--config` file holding `config`, in a temp dir of its own. */
function configFile(config: Record<string, unknown>): { file: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'owl-relay-cli-'));
  const file = join(dir, 'relay.json');
  writeFileSync(file, JSON.stringify(config));
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface RelayCli {
  proc: OwlProcess;
  stateDir: string;
  agentPort: number;
  /** Where its /metrics, /healthz and /readyz answer (from its start line). */
  metricsPort: number;
  /** `owl-relay status`'s figures (the control socket in its state dir). */
  status(): Promise<RelayStatus>;
}

/** `owl-relay run`, agents on 127.0.0.1 (any free port). Resolves once it logged "relay started". */
export async function startRelayCli(o: RelayCliOptions): Promise<RelayCli> {
  const maxMs = o.reconnectMaxMs === undefined ? TEST_RECONNECT_MAX_MS : o.reconnectMaxMs;
  const config = { ...(maxMs === null ? {} : { reconnect: { maxMs } }), ...o.config };
  const configured = configFile(config);
  const proc = OwlProcess.start('relay', [
    'run',
    '--config',
    configured.file,
    '--state-dir',
    o.stateDir,
    '--relay-id',
    o.relayId,
    '--token',
    o.token,
    '--upstream',
    o.upstreamUrl,
    '--listen',
    `127.0.0.1:${o.agentPort ?? 0}`,
    '--zone-token',
    o.zoneToken,
    // Metrics are on by default at 127.0.0.1:9464; tests run side by side, so any free port.
    '--metrics',
    `127.0.0.1:${o.metricsPort ?? 0}`,
    ...(o.v3Allow ?? []).flatMap((cidr) => ['--v3-allow', cidr]),
  ]);
  // Read at start (by the process `run` replaces itself with, too): not needed once it is up.
  const started = await proc
    .waitLog((l) => l.msg === 'relay started', '"relay started" line')
    .finally(configured.remove);
  const listen = started['listen'] as unknown[] | undefined;
  return {
    proc,
    stateDir: o.stateDir,
    agentPort: portOf(listen?.[0], 'agent listener'),
    metricsPort: portOf(started['metrics'], 'metrics listener'),
    status: () => fetchStatus(o.stateDir, 10_000),
  };
}

/** A Prometheus gauge or counter without labels from the relay's /metrics, or undefined. */
export function relayMetric(port: number, name: string): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/metrics', timeout: 5000, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const line = Buffer.concat(chunks)
          .toString()
          .split('\n')
          .find((l) => l.startsWith(`${name} `));
        resolve(line === undefined ? undefined : Number(line.slice(name.length + 1)));
      });
    });
    req.on('timeout', () => req.destroy(new Error('no /metrics answer in 5 s')));
    req.on('error', reject);
  });
}

/** Upstream figures from GET /api/v1/stats. */
export interface UpstreamStats {
  series: number;
  points: number;
  relaysConnected: number;
  batches: number;
  duplicates: number;
  rejected: number;
  samples: number;
}

export async function upstreamStats(api: ApiTarget): Promise<UpstreamStats> {
  const r = await callApi(api, 'GET', '/api/v1/stats');
  if (r.status !== 200) throw new Error(`GET /api/v1/stats: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as UpstreamStats;
}

/** The relay as GET /api/v1/relays lists it. */
export interface ListedRelay {
  id: string;
  connected: boolean;
  live: { connectedAtMs: number; batches: number; duplicates: number; rejected: number } | null;
}

export async function listedRelay(api: ApiTarget, id: string): Promise<ListedRelay | undefined> {
  const r = await callApi(api, 'GET', '/api/v1/relays');
  if (r.status !== 200) throw new Error(`GET /api/v1/relays: ${r.status} ${JSON.stringify(r.body)}`);
  return (r.body as ListedRelay[]).find((x) => x.id === id);
}

/** POST /api/v1/relays: add relay `id`; returns its uplink token. */
export async function addRelay(api: ApiTarget, id: string): Promise<string> {
  const r = await callApi(api, 'POST', '/api/v1/relays', { id });
  if (r.status !== 201) throw new Error(`POST /api/v1/relays: ${r.status} ${JSON.stringify(r.body)}`);
  return (r.body as { token: string }).token;
}

/**
 * Until relay `id` is connected on both ends: listed connected by the upstream and `connected` in
 * its own status. A request reaching the relay between the upstream's WELCOME and the relay
 * reading it is not forwarded, so tests that send a HOSTCONFIG wait for both.
 */
export async function bothEndsConnected(
  api: ApiTarget,
  relay: RelayCli,
  id: string,
  ms = 20_000,
): Promise<void> {
  await eventually(
    async () =>
      (await listedRelay(api, id))?.connected === true && (await relay.status()).uplink.state === 'connected',
    ms,
    `${id} connected on both ends`,
    100,
  );
}
