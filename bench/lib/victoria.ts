/**
 * A Debian VictoriaMetrics for the forwarding bench, started as test/helpers/tsdb.ts does (127.0.0.1,
 * free port, temp storage, dedup on) but with its pid at hand, for its CPU from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { freeTcpPort, VICTORIA_METRICS_BIN } from '../../test/helpers/tsdb.js';
import { poll } from './report.js';

export class BenchVictoria {
  private constructor(
    private readonly proc: ChildProcess,
    readonly port: number,
  ) {}

  static async start(dir: string): Promise<BenchVictoria> {
    const port = await freeTcpPort();
    const proc = spawn(
      VICTORIA_METRICS_BIN,
      [
        `-httpListenAddr=127.0.0.1:${port}`,
        `-storageDataPath=${dir}`,
        '-retentionPeriod=100y',
        '-loggerLevel=ERROR',
        '-dedup.minScrapeInterval=1ms',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const vm = new BenchVictoria(proc, port);
    await poll(
      async () => {
        if (proc.exitCode !== null) throw new Error('victoria-metrics exited before it was ready');
        const res = await fetch(`${vm.url}/health`, { signal: AbortSignal.timeout(1000) }).catch(
          () => undefined,
        );
        return res?.status === 200 ? true : undefined;
      },
      30_000,
      'victoria-metrics ready',
    );
    return vm;
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get writeUrl(): string {
    return `${this.url}/api/v1/write`;
  }

  /** Values of the series matching `selector` since `startMs`, without forcing a flush. */
  async exportValues(selector: string, startMs: number): Promise<number[]> {
    const url = `${this.url}/api/v1/export?match[]=${encodeURIComponent(selector)}&start=${Math.floor(startMs / 1000)}`;
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`export: ${res.status} ${text}`);
    return text
      .split('\n')
      .filter((l) => l !== '')
      .flatMap((l) => (JSON.parse(l) as { values: number[] }).values);
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = once(this.proc, 'exit');
    this.proc.kill('SIGKILL');
    await exited;
  }
}
