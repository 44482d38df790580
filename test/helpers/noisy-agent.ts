/**
 * A v4 agent sending what a real host sends: HELLO, then SERIESBATCHes of
 * 100 samples (a collection round over many series: cpu per core, disks,
 * interfaces, app endpoints, memory; 300 series per host by default), values
 * that random-walk with 2-4 decimals (noisy digits that compress as real
 * gauges do, not as counters would), real-time timestamps, at most `window`
 * batches not yet ACKed. It remembers every batch it made (timestamp and
 * values), so a test can name every point the upstream must hold; after its
 * connection drops, `connect()` to a new relay resends every un-ACKed batch
 * unchanged (same session and seq), in order, then goes on.
 *
 * `Pacer` drives agents at a total rate (samples/s), bounded in batches.
 */
import { connect, type Socket } from 'node:net';
import { encodePacket, PacketType } from '../../protocol/index.js';
import { helloLink } from './hello-link.js';
import { callApi, type ApiTarget } from './upstream-api.js';
import { seededRandom } from './upstream-check.js';
import { WakeSignal } from './wake-signal.js';

export interface SeriesDef {
  metric: string;
  tags: Readonly<Record<string, string>>;
  /** Decimals the value is rounded to. */
  digits: number;
  lo: number;
  hi: number;
  /** Largest step of the random walk. */
  step: number;
}

const GROUPS: { prefix: string; metrics: string[]; tag: string; instances: string[]; range: number[] }[] = [
  {
    prefix: 'cpu',
    metrics: ['user', 'system', 'iowait', 'idle', 'steal', 'softirq'],
    tag: 'cpu',
    instances: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12', '13', '14', '15'],
    range: [0, 100, 3, 2.5],
  },
  {
    prefix: 'disk',
    metrics: [
      'read_bytes',
      'write_bytes',
      'read_ops',
      'write_ops',
      'util',
      'await_ms',
      'queue_len',
      'busy_ms',
    ],
    tag: 'device',
    instances: ['sda', 'sdb', 'sdc', 'sdd', 'nvme0n1', 'nvme1n1', 'dm-0', 'dm-1'],
    range: [0, 5e8, 2, 4e6],
  },
  {
    prefix: 'net',
    metrics: [
      'rx_bytes',
      'tx_bytes',
      'rx_packets',
      'tx_packets',
      'rx_errors',
      'tx_errors',
      'rx_dropped',
      'tx_dropped',
    ],
    tag: 'iface',
    instances: ['eth0', 'eth1', 'eth2', 'eth3', 'bond0', 'lo', 'docker0', 'veth1a2b'],
    range: [0, 1.25e9, 2, 1e7],
  },
  {
    prefix: 'app',
    metrics: [
      'latency_ms',
      'latency_p99_ms',
      'requests_per_s',
      'errors_per_s',
      'queue_depth',
      'workers_busy',
    ],
    tag: 'endpoint',
    instances: [
      '/login',
      '/search',
      '/cart',
      '/checkout',
      '/api/v1/items',
      '/api/v1/users',
      '/api/v1/orders',
      '/health',
      '/static',
      '/ws',
    ],
    range: [0, 2000, 4, 15],
  },
  {
    prefix: 'mem',
    metrics: ['used_pct', 'cached_pct', 'buffers_pct', 'swap_pct', 'slab_pct', 'dirty_pct'],
    tag: 'node',
    instances: ['0', '1', '2', '3'],
    range: [0, 100, 3, 0.8],
  },
];

/** `count` series of one host (at most 308), in a fixed order. */
export function hostSeries(count: number): SeriesDef[] {
  const all: SeriesDef[] = [];
  for (const g of GROUPS)
    for (const m of g.metrics)
      for (const inst of g.instances) {
        const [lo, hi, digits, step] = g.range as [number, number, number, number];
        all.push({ metric: `${g.prefix}.${m}`, tags: { [g.tag]: inst }, digits, lo, hi, step });
      }
  if (count > all.length) throw new Error(`at most ${all.length} series per host`);
  return all.slice(0, count);
}

export interface NoisyAgentOptions {
  uuid: string;
  session: string;
  /** Zone token for HELLO. */
  token: string;
  /** Seeds the values. */
  seed: number;
  /** The host's series (at least `samplesPerBatch`; default hostSeries(300)). */
  series?: readonly SeriesDef[];
  /** Samples per batch (default 100). */
  samplesPerBatch?: number;
  /** Most batches sent and not ACKed (default 16). */
  window?: number;
}

export class NoisyAgent {
  readonly series: readonly SeriesDef[];
  readonly samplesPerBatch: number;
  /** Seqs the relay ACKed. */
  readonly acked = new Set<number>();
  /** Next new seq to make. */
  nextSeq = 1;
  /** Make new batches only up to this seq. */
  limit = 0;
  sentTotal = 0;
  resentTotal = 0;
  duplicateAcks = 0;
  readonly errors: string[] = [];
  /** Per seq (index): the batch's timestamp, ms; index 0 unused. */
  private readonly stamps: number[] = [0];
  /** Per seq (index): the batch's values, sample i of the series `(seq - 1) * samplesPerBatch + i` mod series. */
  private readonly values: Float64Array[] = [new Float64Array(0)];
  /** Per seq: when it was first sent (this process's clock). */
  private readonly sentAt: number[] = [0];
  /** Encoded frames not yet ACKed (a resend sends the same bytes). */
  private readonly frames = new Map<number, Buffer>();
  private readonly walk: Float64Array;
  private readonly lastStamp: Float64Array;
  private readonly random: () => number;
  private socket: Socket | undefined;
  private ready = false;
  private inFlight = 0;
  private readonly signal = new WakeSignal();

  constructor(readonly options: NoisyAgentOptions) {
    this.series = options.series ?? hostSeries(300);
    this.samplesPerBatch = options.samplesPerBatch ?? 100;
    if (this.series.length < this.samplesPerBatch)
      throw new Error('a batch would hold one series twice: give at least samplesPerBatch series');
    this.random = seededRandom(options.seed);
    this.walk = Float64Array.from(this.series, (s) => s.lo + (s.hi - s.lo) * this.random());
    this.lastStamp = new Float64Array(this.series.length);
  }

  get connected(): boolean {
    return this.ready;
  }

  /** Batches made (sent at least once). */
  get made(): number {
    return this.nextSeq - 1;
  }

  /** Seqs sent at least once and not ACKed. */
  unacked(): number[] {
    const out: number[] = [];
    for (let seq = 1; seq < this.nextSeq; seq++) if (!this.acked.has(seq)) out.push(seq);
    return out;
  }

  /** Connect, HELLO, resend un-ACKed batches, then keep sending up to `limit`. */
  async connect(port: number): Promise<void> {
    this.socket?.destroy();
    const socket = connect({ port, host: '127.0.0.1' });
    this.socket = socket;
    this.ready = false;
    this.inFlight = 0;
    const answered = await helloLink(
      socket,
      {
        version: 1,
        features: ['batch', 'ack'],
        uuid: this.options.uuid,
        token: this.options.token,
        agent: 'owl-test-noisy-agent/1',
      },
      {
        ack: (s, seq, duplicate) => this.onAck(s, seq, duplicate),
        error: (text) => this.errors.push(text),
        close: (s) => {
          if (this.socket === s) this.ready = false;
        },
        wake: () => this.signal.wake(),
      },
      (predicate, ms, what) => this.until(predicate, ms, what),
    );
    if (!answered) throw new Error(`relay closed the connection: ${this.errors.join(', ')}`);
    this.ready = true;
    for (const seq of this.unacked()) {
      this.write(socket, seq);
      this.resentTotal++;
    }
    this.pump();
  }

  /** Raise the limit to `limit` and send. */
  sendUpTo(limit: number): void {
    this.limit = Math.max(this.limit, limit);
    this.pump();
  }

  /** Make no new batches (un-ACKed ones are still resent on the next connect). */
  stop(): void {
    this.limit = this.nextSeq - 1;
  }

  /** Wait until every batch made was ACKed. */
  async allAcked(ms: number): Promise<void> {
    await this.until(
      () => this.acked.size >= this.nextSeq - 1,
      ms,
      `${this.options.uuid}: all ${this.nextSeq - 1} batches ACKed`,
    );
  }

  /** Wait for `predicate` (re-checked on every packet and close). */
  async until(predicate: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!predicate()) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `${what} not met within ${ms} ms (acked ${this.acked.size}, made ${this.nextSeq - 1})`,
        );
      await this.signal.sleep(Math.min(left, 100));
    }
  }

  close(): void {
    this.ready = false;
    this.socket?.destroy();
  }

  /** Every sample of the batches made: series, timestamp, value. */
  forEachSample(fn: (series: SeriesDef, timestampMs: number, value: number) => void): void {
    const n = this.series.length;
    for (let seq = 1; seq < this.nextSeq; seq++) {
      const ts = this.stamps[seq] as number;
      const vals = this.values[seq] as Float64Array;
      const base = (seq - 1) * this.samplesPerBatch;
      for (let i = 0; i < vals.length; i++)
        fn(this.series[(base + i) % n] as SeriesDef, ts, vals[i] as number);
    }
  }

  /** Timestamp and first send time of batch `seq`. */
  batchTimes(seq: number): { timestampMs: number; sentAt: number } {
    return { timestampMs: this.stamps[seq] as number, sentAt: this.sentAt[seq] as number };
  }

  private onAck(socket: Socket, seq: number, duplicate: boolean | undefined): void {
    if (duplicate === true) this.duplicateAcks++;
    if (!this.acked.has(seq)) {
      this.acked.add(seq);
      this.frames.delete(seq);
    }
    if (socket === this.socket && this.inFlight > 0) this.inFlight--;
    this.pump();
  }

  private pump(): void {
    const socket = this.socket;
    if (!this.ready || socket === undefined || socket.destroyed) return;
    while (this.inFlight < (this.options.window ?? 16) && this.nextSeq <= this.limit) {
      const seq = this.nextSeq++;
      this.make(seq);
      this.write(socket, seq);
    }
  }

  /** Build batch `seq`: one timestamp (after every earlier one of its series), the next step of each walk. */
  private make(seq: number): void {
    const n = this.series.length;
    const base = (seq - 1) * this.samplesPerBatch;
    let ts = Date.now();
    for (let i = 0; i < this.samplesPerBatch; i++)
      ts = Math.max(ts, (this.lastStamp[(base + i) % n] as number) + 1);
    const vals = new Float64Array(this.samplesPerBatch);
    const samples = [];
    for (let i = 0; i < this.samplesPerBatch; i++) {
      const k = (base + i) % n;
      const s = this.series[k] as SeriesDef;
      let v = (this.walk[k] as number) + (this.random() * 2 - 1) * s.step;
      if (v < s.lo) v = 2 * s.lo - v;
      if (v > s.hi) v = 2 * s.hi - v;
      this.walk[k] = v;
      const p = 10 ** s.digits;
      const value = Math.round(v * p) / p;
      vals[i] = value;
      this.lastStamp[k] = ts;
      samples.push({ metric: s.metric, value, timestamp_ms: ts, tags: s.tags });
    }
    this.stamps[seq] = ts;
    this.values[seq] = vals;
    this.sentAt[seq] = Date.now();
    this.frames.set(
      seq,
      encodePacket(PacketType.SERIESBATCH, { session: this.options.session, seq, samples }),
    );
  }

  private write(socket: Socket, seq: number): void {
    const frame = this.frames.get(seq);
    if (frame === undefined) throw new Error(`batch ${seq} was ACKed or never made`);
    socket.write(frame);
    this.inFlight++;
    this.sentTotal++;
  }
}

/**
 * Drives agents at `samplesPerSecond` in total (split evenly), from `start()`
 * on: every 10 ms each agent's limit is raised to the batches its share owes
 * by now, at most `maxBatches` each. Batches an agent could not send (its
 * window full, its relay gone) are sent as soon as it can.
 */
export class Pacer {
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private readonly base: number[] = [];

  constructor(
    readonly agents: readonly NoisyAgent[],
    readonly samplesPerSecond: number,
    readonly maxBatches: number,
  ) {}

  start(): void {
    this.startedAt = Date.now();
    this.base.length = 0;
    for (const a of this.agents) this.base.push(a.limit);
    this.timer = setInterval(() => this.tick(), 10);
  }

  /** Stop: agents make no new batch. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const a of this.agents) a.stop();
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  private tick(): void {
    const elapsed = (Date.now() - this.startedAt) / 1000;
    this.agents.forEach((a, i) => {
      const owed = Math.floor((elapsed * this.samplesPerSecond) / this.agents.length / a.samplesPerBatch);
      a.sendUpTo((this.base[i] as number) + Math.min(owed, this.maxBatches));
    });
  }
}

/** What `checkStored` found, point by point. */
export interface StoredCheck {
  /** Points the agents made. */
  expected: number;
  /** Points the query API returned for the agents' series. */
  found: number;
  /** Expected points not stored (by (series, timestamp)). */
  missing: number;
  /** Stored points no agent made (series or timestamp unknown). */
  extra: number;
  /** Stored at the right (series, timestamp) with another value. */
  wrongValue: number;
  /** A series whose timestamps did not strictly ascend (a (series, timestamp) returned twice). */
  notAscending: number;
  series: number;
  firstProblems: string[];
}

function seriesKey(uuid: string, metric: string, tags: Readonly<Record<string, string>>): string {
  const rest = Object.keys(tags)
    .filter((k) => k !== 'zone' && k !== 'uuid')
    .sort()
    .map((k) => `${k}=${tags[k] as string}`)
    .join(',');
  return `${uuid}|${metric}|${rest}`;
}

/**
 * Read back, through GET /api/v1/query (one query per metric, tag.zone =
 * `zone`), every series the agents sent, and compare point by point with what
 * they made.
 */
export async function checkStored(
  api: ApiTarget,
  agents: readonly NoisyAgent[],
  zone: string,
): Promise<StoredCheck> {
  const want = new Map<string, Map<number, number>>();
  const metrics = new Set<string>();
  let expected = 0;
  let fromMs = Infinity;
  for (const a of agents) {
    a.forEachSample((s, ts, value) => {
      const key = seriesKey(a.options.uuid, s.metric, s.tags);
      let points = want.get(key);
      if (points === undefined) want.set(key, (points = new Map()));
      points.set(ts, value);
      metrics.add(s.metric);
      expected++;
      if (ts < fromMs) fromMs = ts;
    });
  }
  const out: StoredCheck = {
    expected,
    found: 0,
    missing: 0,
    extra: 0,
    wrongValue: 0,
    notAscending: 0,
    series: 0,
    firstProblems: [],
  };
  const problem = (p: string): void => {
    if (out.firstProblems.length < 10) out.firstProblems.push(p);
  };
  const seen = new Set<string>();
  for (const metric of [...metrics].sort()) {
    const q = await callApi(
      api,
      'GET',
      `/api/v1/query?metric=${encodeURIComponent(metric)}&tag.zone=${encodeURIComponent(zone)}&from=${fromMs}`,
    );
    if (q.status !== 200) throw new Error(`query ${metric}: ${q.status} ${JSON.stringify(q.body)}`);
    for (const r of q.body as {
      metric: string;
      tags: Record<string, string>;
      timestampsMs: number[];
      values: number[];
    }[]) {
      out.series++;
      const key = seriesKey(r.tags['uuid'] ?? '', r.metric, r.tags);
      const points = want.get(key);
      seen.add(key);
      out.found += r.timestampsMs.length;
      for (let i = 0; i < r.timestampsMs.length; i++) {
        const ts = r.timestampsMs[i] as number;
        if (i > 0 && ts <= (r.timestampsMs[i - 1] as number)) {
          out.notAscending++;
          problem(`${key}: timestamp ${ts} after ${r.timestampsMs[i - 1] as number}`);
        }
        const v = points?.get(ts);
        if (v === undefined) {
          out.extra++;
          problem(`${key}: stored ${ts}=${r.values[i] as number}, never sent`);
        } else if (v !== r.values[i]) {
          out.wrongValue++;
          problem(`${key}: ${ts} stored ${r.values[i] as number}, sent ${v}`);
        }
        if (v !== undefined) points?.delete(ts);
      }
    }
  }
  for (const [key, points] of want) {
    out.missing += points.size;
    if (points.size > 0)
      problem(`${key}: ${points.size} points missing${seen.has(key) ? '' : ' (the whole series)'}`);
  }
  return out;
}
