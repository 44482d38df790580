/**
 * Orchestration for the relay benches: start the receiver, the relay, the
 * load generator and sinks as separate processes on 127.0.0.1, each with a
 * deadline on its start; tear everything down (temp dirs included) on the
 * way out, and kill everything if the whole bench overruns its time limit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UPLINK_PATH } from '../../protocol/index.js';
import type { RelayConfigInput } from '../../relay/index.js';
import { buildRelay } from './build.js';
import { Child } from './child.js';
import type { LoadOptions, LoadStatus } from './load-main.js';
import type { ReceiverBenchOptions, ReceiverBenchStatus } from './receiver-main.js';
import type { RelayBenchStatus } from './relay-main.js';
import { cpuSeconds, memory } from './proc.js';
import { poll } from './report.js';

/** How the relay process is run (diagnostic knobs of the benches). */
export interface RelayProcessOptions {
  /** Run under --cpu-prof, profiles written here when the relay stops. */
  profileDir?: string;
  exposeGc?: boolean;
  /** Extra node flags (e.g. --max-semi-space-size=64). */
  nodeArgs?: string[];
  /** Modules imported before the relay starts (e.g. an experimental patch). */
  imports?: string[];
  /** Environment added to the relay process's (e.g. OWL_ZSTD_IMPL). */
  env?: Record<string, string>;
  /**
   * Run the relay from its TypeScript sources under tsx (--relay-source) instead of transpiled
   * once to JavaScript (build.ts), as production runs it; tsx adds 25-30 MiB of RSS.
   */
  source?: boolean;
}

/**
 * The relay-process knobs every relay bench accepts: --relay-config=<json>, --relay-node-args=<flags>,
 * --relay-import=<module>, --relay-source.
 */
export function relayKnobs(flags: Map<string, string>): {
  config: RelayConfigInput;
  process: RelayProcessOptions;
} {
  const config = JSON.parse(flags.get('relay-config') ?? '{}') as RelayConfigInput;
  const args = flags.get('relay-node-args');
  const module = flags.get('relay-import');
  return {
    config,
    process: {
      ...(args === undefined ? {} : { nodeArgs: args.split(' ').filter((a) => a !== '') }),
      ...(module === undefined ? {} : { imports: [pathToFileURL(resolve(module)).href] }),
      ...(flags.has('relay-source') ? { source: true } : {}),
    },
  };
}

/** True when any relay knob was given (the benches then print them). */
export function hasRelayKnobs(flags: Map<string, string>): boolean {
  return ['relay-config', 'relay-node-args', 'relay-import', 'relay-source'].some((k) => flags.has(k));
}

export interface RelayHandle {
  child: Child;
  port: number;
  stateDir: string;
  status(): Promise<RelayBenchStatus>;
  cpu(): number;
  rss(): number;
}

export interface ReceiverHandle {
  child: Child;
  port: number;
  /** Receiver clock (ms) when it was listening. */
  listeningAt: number;
  url: string;
  status(): Promise<ReceiverBenchStatus>;
}

export interface LoadHandle {
  child: Child;
  status(): Promise<LoadStatus>;
}

export class Rig {
  private readonly children: Child[] = [];
  private readonly dirs: string[] = [];
  /** bench/lib/relay-main.js of the transpiled relay, once built. */
  private relayMain: string | undefined;

  tempDir(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }

  track(child: Child): Child {
    this.children.push(child);
    return child;
  }

  async startReceiver(options: ReceiverBenchOptions = {}): Promise<ReceiverHandle> {
    const child = this.track(Child.start('receiver-main.ts', [JSON.stringify(options)]));
    const m = await child.waitLine(/^READY (\d+) (\d+)$/);
    const port = Number(m[1]);
    return {
      child,
      port,
      listeningAt: Number(m[2]),
      url: receiverUrl(port),
      status: () => child.status<ReceiverBenchStatus>(),
    };
  }

  /** Start a relay; `profileDir` runs it under --cpu-prof (profile written when it stops). */
  async startRelay(config: RelayConfigInput, options: RelayProcessOptions = {}): Promise<RelayHandle> {
    const stateDir = config.stateDir ?? this.tempDir('owl-bench-relay-');
    const nodeArgs: string[] = [...(options.nodeArgs ?? [])];
    if (options.profileDir !== undefined) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${options.profileDir}`);
    if (options.exposeGc === true) nodeArgs.push('--expose-gc');
    const imports = options.imports ?? [];
    const compiled = options.source !== true;
    if (compiled) this.relayMain ??= buildRelay(this.tempDir('owl-bench-relay-js-'));
    const child = this.track(
      Child.start('relay-main.ts', [JSON.stringify({ ...config, stateDir })], {
        nodeArgs,
        imports,
        ...(options.env === undefined ? {} : { env: options.env }),
        ...(compiled ? { file: this.relayMain, tsx: imports.some((m) => m.endsWith('.ts')) } : {}),
      }),
    );
    const m = await child.waitLine(/^READY (\d+)$/);
    return {
      child,
      port: Number(m[1]),
      stateDir,
      // A relay under load may answer late: its event loop is what is being measured.
      status: () => child.status<RelayBenchStatus>(30_000),
      cpu: () => cpuSeconds(child.pid),
      rss: () => memory(child.pid).rss,
    };
  }

  async startLoad(options: LoadOptions, ms = 30_000): Promise<LoadHandle> {
    const child = this.track(Child.start('load-main.ts', [JSON.stringify(options)]));
    await child.waitLine(/^READY \d+$/, ms);
    return { child, status: () => child.status<LoadStatus>() };
  }

  async startSink(mode: 'count' | 'v4', exposeGc = false): Promise<{ child: Child; port: number }> {
    const child = this.track(
      Child.start('sink-main.ts', [JSON.stringify({ mode })], { nodeArgs: exposeGc ? ['--expose-gc'] : [] }),
    );
    const m = await child.waitLine(/^READY (\d+)$/);
    return { child, port: Number(m[1]) };
  }

  /** Stop every child (gracefully: a profiled relay writes its profile), then remove temp dirs. */
  async close(): Promise<void> {
    await Promise.all(this.children.map((c) => c.stop().catch(() => c.kill())));
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }

  killAll(): void {
    for (const c of this.children) if (!c.exited) c.proc.kill('SIGKILL');
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }
}

export function receiverUrl(port: number): string {
  return `ws://127.0.0.1:${port}${UPLINK_PATH}`;
}

/** A port nobody listens on right now (for an upstream that is down, then comes up there). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Wait until the relay's uplink is connected. */
export async function uplinkConnected(relay: RelayHandle, ms = 15_000): Promise<void> {
  await poll(
    async () => ((await relay.status()).uplink === 'connected' ? true : undefined),
    ms,
    'uplink connected',
  );
}

/** Run `body` with a rig; everything is killed if it takes longer than `limitMs`. */
export async function withRig(limitMs: number, body: (rig: Rig) => Promise<void>): Promise<void> {
  const rig = new Rig();
  const watchdog = setTimeout(() => {
    console.error(`bench exceeded its ${limitMs / 1000} s limit: killing its processes`);
    rig.killAll();
    process.exit(2);
  }, limitMs);
  const onSignal = (): void => {
    rig.killAll();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await body(rig);
  } finally {
    await rig.close();
    clearTimeout(watchdog);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
