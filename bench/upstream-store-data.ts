/**
 * Synthetic monitoring data for the upstream store benchmarks: v3-style
 * series (`<service>.<metric>` with tags uuid, ip, zone) at a 10 s interval
 * with millisecond jitter, and four kinds of values, because a store's bytes
 * per sample depend mostly on the values:
 *  - int:     integer gauges (TCP state counts, process counts), random walk
 *  - decimal: two-decimal gauges (CPU %, memory %), random walk
 *  - counter: monotonically increasing integers (interface octets)
 *  - rate:    full-precision doubles (counter deltas divided by a measured time gap)
 * The default mix is 40 % int, 30 % decimal, 20 % counter, 10 % rate.
 * Deterministic: a seeded generator, so every run stores the same bytes.
 */
import type { StorePoint } from '../upstream/index.js';

export type ValueKind = 'int' | 'decimal' | 'counter' | 'rate';

export const DAY_MS = 86_400_000;
export const INTERVAL_MS = 10_000;
export const START_MS = Date.UTC(2026, 0, 1);

export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 0x100000000;
  };
}

const SERVICES = ['tcp_stat', 'cpu_usage', 'mem_usage', 'disk_io', 'net_traffic'];
const METRICS = [
  'established',
  'time_wait',
  'user',
  'system',
  'used_pct',
  'read_bytes',
  'in_octets',
  'out_octets',
];

interface SeriesState {
  metric: string;
  tags: Record<string, string>;
  kind: ValueKind;
  offsetMs: number;
  value: number;
}

function kindFor(i: number, kinds: readonly ValueKind[] | undefined): ValueKind {
  if (kinds !== undefined) return kinds[i % kinds.length] as ValueKind;
  const slot = i % 10;
  return slot < 4 ? 'int' : slot < 7 ? 'decimal' : slot < 9 ? 'counter' : 'rate';
}

export class Dataset {
  readonly series: SeriesState[] = [];
  private readonly rand: () => number;
  private step = 0;
  private cursor = 0;

  constructor(seriesCount: number, options: { seed?: number; kinds?: readonly ValueKind[] } = {}) {
    this.rand = rng(options.seed ?? 42);
    const perHost = 10;
    let tags: Record<string, string> = {};
    for (let i = 0; i < seriesCount; i++) {
      const host = Math.floor(i / perHost);
      if (i % perHost === 0) {
        let uuid = '';
        const hr = rng(host + 1);
        for (let k = 0; k < 32; k++) uuid += Math.floor(hr() * 16).toString(16);
        // One tags object per host, as the upstream builds one per relay record.
        tags = {
          uuid,
          ip: `10.${(host >> 16) & 255}.${(host >> 8) & 255}.${host & 255}`,
          zone: `z${host % 7}`,
        };
      }
      const kind = kindFor(i, options.kinds);
      this.series.push({
        metric: `${SERVICES[i % SERVICES.length] as string}.${METRICS[i % METRICS.length] as string}_${i % perHost}`,
        tags,
        kind,
        offsetMs: Math.floor(this.rand() * INTERVAL_MS),
        value: kind === 'counter' ? Math.floor(this.rand() * 1e9) : Math.floor(this.rand() * 100),
      });
    }
  }

  private nextValue(s: SeriesState): number {
    const r = this.rand();
    switch (s.kind) {
      case 'int':
        s.value = Math.max(0, s.value + Math.round((r - 0.5) * 6));
        return s.value;
      case 'decimal':
        s.value = Math.min(100, Math.max(0, s.value + (r - 0.5) * 4));
        return Math.round(s.value * 100) / 100;
      case 'counter':
        s.value += Math.floor(r * 2_000_000);
        return s.value;
      case 'rate':
        return (r * 2_000_000) / (9.95 + this.rand() * 0.1);
    }
  }

  /** Total points produced so far. */
  get produced(): number {
    return this.step * this.series.length + this.cursor;
  }

  /**
   * The next `n` points: every series at step k, then every series at step
   * k + 1, ... With `copyTags`, each point gets its own tags object (as if
   * every sample had been decoded separately).
   */
  batch(n: number, copyTags = false): StorePoint[] {
    const out = new Array<StorePoint>(n);
    for (let i = 0; i < n; i++) {
      const s = this.series[this.cursor] as SeriesState;
      const jitter = Math.floor(this.rand() * 30);
      out[i] = {
        metric: s.metric,
        tags: copyTags ? { ...s.tags } : s.tags,
        timestampMs: START_MS + s.offsetMs + this.step * INTERVAL_MS + jitter,
        value: this.nextValue(s),
      };
      if (++this.cursor === this.series.length) {
        this.cursor = 0;
        this.step++;
      }
    }
    return out;
  }
}
