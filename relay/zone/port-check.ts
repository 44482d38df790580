/**
 * Host ports of the zone (v3 GETPORTS), checked by TCP connect with a
 * timeout: every check is a sample (`port.up` 1/0, `port.connectMs`), and a
 * port whose status changed is reported once, in v3's Port shape (status 0
 * up, 1 down) for the zone inventory (v3 UPDATEPORTS).
 */
import { connect } from 'node:net';
import type { BatchSample, Port } from '../../protocol/index.js';
import { Limiter } from './limiter.js';

export interface PortCheckResult {
  up: boolean;
  /** Time to the connection (or to the failure), ms. */
  connectMs: number;
  /** Why it is down: ECONNREFUSED, ETIMEDOUT, … */
  error: string | undefined;
}

/** One TCP connect to `host:port`, closed at once. */
export function checkPort(
  host: string,
  port: number,
  timeoutMs: number,
  now = Date.now,
): Promise<PortCheckResult> {
  const started = now();
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let settled = false;
    const done = (up: boolean, error: string | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ up, connectMs: now() - started, error });
    };
    const timer = setTimeout(() => done(false, 'ETIMEDOUT'), timeoutMs);
    socket.once('connect', () => done(true, undefined));
    socket.once('error', (err: NodeJS.ErrnoException) => done(false, err.code ?? err.message));
  });
}

export interface PortWatchOptions {
  timeoutMs: number;
  concurrency: number;
  now?: () => number;
}

/** The status of each port across rounds; tells what changed. */
export class PortWatch {
  private readonly status = new Map<string, number>();
  private readonly limiter: Limiter;
  private readonly now: () => number;

  constructor(private readonly options: PortWatchOptions) {
    this.limiter = new Limiter(options.concurrency);
    this.now = options.now ?? Date.now;
  }

  /** Check every port once; samples for all, and the ports whose status differs from what was known. */
  async round(ports: readonly Port[]): Promise<{ samples: BatchSample[]; changed: Port[] }> {
    const checks = await Promise.all(
      ports.map((p) =>
        this.limiter.run(() => checkPort(p.ip ?? '127.0.0.1', p.port, this.options.timeoutMs, this.now)),
      ),
    );
    const samples: BatchSample[] = [];
    const changed: Port[] = [];
    ports.forEach((p, i) => {
      const r = checks[i] as PortCheckResult;
      const key = portKey(p);
      const status = r.up ? 0 : 1;
      // What the inventory said is the starting point: a port it already lists as down is not news.
      const before = this.status.get(key) ?? p.status;
      this.status.set(key, status);
      if (before !== status) changed.push({ ...p, status });
      const tags = { ip: p.ip ?? '', port: String(p.port), ...(p.proc_name ? { proc: p.proc_name } : {}) };
      const timestamp_ms = this.now();
      samples.push({ metric: 'port.up', value: r.up ? 1 : 0, timestamp_ms, tags });
      if (r.up) samples.push({ metric: 'port.connectMs', value: r.connectMs, timestamp_ms, tags });
    });
    // Ports no longer assigned are forgotten, so one that comes back is judged afresh.
    const live = new Set(ports.map(portKey));
    for (const key of this.status.keys()) if (!live.has(key)) this.status.delete(key);
    return { samples, changed };
  }
}

function portKey(p: Port): string {
  return `${p.ip ?? ''}:${p.port}`;
}
