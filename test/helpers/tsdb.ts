/**
 * Real time-series engines from Debian for the sink tests, each on 127.0.0.1 at a free port
 * with a temp storage dir, started and waited for (polled with a deadline), killed at teardown:
 * `victoria-metrics` (remote_write at /api/v1/write, OpenTSDB /api/put on its own port,
 * dedup on so a resend stores each sample once) and `prometheus` 2.42 with its remote-write
 * receiver. `.ci/run` installs both packages.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { eventually } from './agent-client.js';

export const VICTORIA_METRICS_BIN = '/usr/bin/victoria-metrics';
export const PROMETHEUS_BIN = '/usr/bin/prometheus';

/** A free TCP port on 127.0.0.1 (bound, then let go: the engine takes it a moment later). */
export async function freeTcpPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  server.close();
  await once(server, 'close');
  return address.port;
}

/** GET a URL; undefined when nothing answers. */
async function probe(url: string, headers: Record<string, string> = {}): Promise<number | undefined> {
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return undefined;
  }
}

/** One engine process: started, polled until ready, stopped (SIGTERM, then SIGKILL after 10 s). */
abstract class Engine {
  private proc: ChildProcess | undefined;
  private exited: Promise<unknown> | undefined;
  private log = '';

  protected abstract command(): { bin: string; args: string[] };
  protected abstract ready(): Promise<boolean>;

  /** Start the process and wait until `ready()`; throws with its last output if it exits first. */
  async start(): Promise<void> {
    const { bin, args } = this.command();
    const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    this.exited = once(proc, 'exit');
    const keep = (chunk: Buffer): void => {
      this.log = (this.log + chunk.toString()).slice(-4000);
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    let gone = false;
    void this.exited.then(() => (gone = true));
    await eventually(
      async () => {
        if (gone) throw new Error(`${bin} exited before it was ready:\n${this.log}`);
        return this.ready();
      },
      30_000,
      `${bin} ready`,
      50,
    );
  }

  /** Stop the process and wait for its exit. */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const killer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    proc.kill('SIGTERM');
    await this.exited;
    clearTimeout(killer);
  }

  get output(): string {
    return this.log;
  }

  /** The process id (a bench reads the engine's CPU from /proc). */
  get pid(): number {
    return this.proc?.pid ?? -1;
  }
}

export interface VictoriaMetricsOptions {
  /** Storage dir (kept across stop/start). */
  dir: string;
  /** Run with -httpAuth.username/password. */
  auth?: { username: string; password: string };
  /** Also listen for OpenTSDB HTTP /api/put. */
  opentsdb?: boolean;
  /** `-dedup.minScrapeInterval=1ms` (default true): resent samples are kept once. */
  dedup?: boolean;
}

/** One exported series of `/api/v1/export`. */
export interface ExportedSeries {
  metric: Record<string, string>;
  values: number[];
  timestamps: number[];
}

export class VictoriaMetrics extends Engine {
  private constructor(
    private readonly options: VictoriaMetricsOptions,
    readonly port: number,
    readonly opentsdbPort: number | undefined,
  ) {
    super();
  }

  static async start(options: VictoriaMetricsOptions): Promise<VictoriaMetrics> {
    const vm = new VictoriaMetrics(
      options,
      await freeTcpPort(),
      options.opentsdb === true ? await freeTcpPort() : undefined,
    );
    await vm.start();
    return vm;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get writeUrl(): string {
    return `${this.url}/api/v1/write`;
  }

  get opentsdbUrl(): string {
    if (this.opentsdbPort === undefined) throw new Error('started without opentsdb');
    return `http://127.0.0.1:${this.opentsdbPort}`;
  }

  protected command(): { bin: string; args: string[] } {
    const args = [
      `-httpListenAddr=127.0.0.1:${this.port}`,
      `-storageDataPath=${this.options.dir}`,
      '-retentionPeriod=100y',
      '-loggerLevel=ERROR',
    ];
    // Resent samples (same series, timestamp, value) are kept once.
    if (this.options.dedup !== false) args.push('-dedup.minScrapeInterval=1ms');
    if (this.options.auth !== undefined) {
      args.push(
        `-httpAuth.username=${this.options.auth.username}`,
        `-httpAuth.password=${this.options.auth.password}`,
      );
    }
    if (this.opentsdbPort !== undefined) args.push(`-opentsdbHTTPListenAddr=127.0.0.1:${this.opentsdbPort}`);
    return { bin: VICTORIA_METRICS_BIN, args };
  }

  private headers(): Record<string, string> {
    const a = this.options.auth;
    return a === undefined
      ? {}
      : { Authorization: `Basic ${Buffer.from(`${a.username}:${a.password}`).toString('base64')}` };
  }

  protected async ready(): Promise<boolean> {
    if ((await probe(`${this.url}/health`, this.headers())) !== 200) return false;
    // The OpenTSDB listener answers a GET to /api/put with a 4xx: it is up.
    return this.opentsdbPort === undefined || (await probe(`${this.opentsdbUrl}/api/put`)) !== undefined;
  }

  /** Make what was just written searchable (VictoriaMetrics buffers recent samples ~1 s). */
  async flush(): Promise<void> {
    const res = await fetch(`${this.url}/internal/force_flush`, { headers: this.headers() });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`force_flush: ${res.status}`);
  }

  /**
   * Raw samples of the series matching `selector` (e.g. `{__name__=~"owl_.*"}`), after a flush
   * unless `flush` is false (a lag bench wants what is searchable on its own), from `startMs`.
   */
  async export(
    selector: string,
    options: { flush?: boolean; startMs?: number } = {},
  ): Promise<ExportedSeries[]> {
    if (options.flush !== false) await this.flush();
    const start = Math.floor((options.startMs ?? 0) / 1000);
    const url = `${this.url}/api/v1/export?match[]=${encodeURIComponent(selector)}&start=${start}`;
    const res = await fetch(url, { headers: this.headers() });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`export: ${res.status} ${text}`);
    return text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as ExportedSeries);
  }
}

export interface PrometheusOptions {
  dir: string;
  /** `storage.tsdb.out_of_order_time_window` (e.g. '1h'): accept samples older than a series' newest. */
  outOfOrderWindow?: string;
}

/** One series of a PromQL answer: `value` for a vector, `values` for a matrix. */
export interface PromResult {
  metric: Record<string, string>;
  value?: [number, string];
  values?: [number, string][];
}

/** Prometheus with its remote-write receiver and no scrape targets. */
export class Prometheus extends Engine {
  private constructor(
    private readonly options: PrometheusOptions,
    readonly port: number,
  ) {
    super();
  }

  static async start(options: PrometheusOptions): Promise<Prometheus> {
    const config = join(options.dir, 'prometheus.yml');
    const ooo = options.outOfOrderWindow;
    const storage = ooo === undefined ? '' : `storage:\n  tsdb:\n    out_of_order_time_window: ${ooo}\n`;
    writeFileSync(config, `global:\n  scrape_interval: 1m\nscrape_configs: []\n${storage}`);
    const p = new Prometheus(options, await freeTcpPort());
    await p.start();
    return p;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get writeUrl(): string {
    return `${this.url}/api/v1/write`;
  }

  protected command(): { bin: string; args: string[] } {
    return {
      bin: PROMETHEUS_BIN,
      args: [
        `--config.file=${join(this.options.dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(this.options.dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${this.port}`,
        '--web.enable-remote-write-receiver',
        '--log.level=error',
      ],
    };
  }

  protected async ready(): Promise<boolean> {
    return (await probe(`${this.url}/-/ready`)) === 200;
  }

  /** An instant PromQL query at `timeMs`; the `result` of the answer. */
  async query(promql: string, timeMs: number): Promise<PromResult[]> {
    const url = `${this.url}/api/v1/query?query=${encodeURIComponent(promql)}&time=${timeMs / 1000}`;
    const res = await fetch(url);
    const body = (await res.json()) as { status: string; data: { result: PromResult[] } };
    if (body.status !== 'success') throw new Error(`query ${promql}: ${JSON.stringify(body)}`);
    return body.data.result;
  }
}
