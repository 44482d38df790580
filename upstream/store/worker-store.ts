/**
 * WorkerSampleStore: a RocksSampleStore run in a worker thread
 * (store-worker.ts), so that RocksDB's synchronous synced batch writes (and
 * their fdatasync), the point validation and the log/block encoding run on
 * the worker's event loop, not on the upstream's. Same semantics as
 * RocksSampleStore: the worker's store does all the work; this side forwards
 * calls and rebuilds results and errors. Mirrors relay/spool/worker-spool.ts.
 *
 * Messages (structured clone, nothing JSON-encoded). Each direction sends at
 * most one message per event-loop turn, carrying every call (or answer) of
 * that turn, so the writes of one turn reach the worker together and join
 * one group commit there, as they would on this thread.
 *
 *   calls    WireCall[]: { id, op, a, b } in call order (a, b: the method's
 *            arguments). Points are packed into columns at the call
 *            (PackedPoints: one transferred Float64Array of timestamps,
 *            values, metric and tags indexes, plus the distinct metric
 *            strings and tags objects): cloning one object per point cost the
 *            main thread about as much as the whole write on it did. Tags
 *            objects are deduplicated by identity and cloned in one message,
 *            so shared ones (also across calls of one turn) arrive shared,
 *            which the store's per-run tag lookup relies on. Points with a
 *            field of the wrong type are not packed but sent as they are, so
 *            the worker's store refuses them exactly as on this thread.
 *            Other arguments are cloned at the end of the turn. Meta byte
 *            values are copied to exact-size arrays at the call (cloning a
 *            pooled Buffer would copy its whole pool slab).
 *   answers  { t: 'answers', answers: WireAnswer[] }: { id, v } or
 *            { id, e: WireError }. getMeta/listMeta bytes arrive as
 *            Uint8Array and become Buffers (no copy) here; errors become
 *            StoreError / OwlError / Error with the same code, retriable flag
 *            and message.
 *   other    { t: 'opened', blockSpanMs }, { t: 'open-failed', error },
 *            { t: 'bg-error', error }: a background checkpoint failure, passed
 *            to this side's `onError`; { t: 'wal-cut', cut }: a damaged WAL
 *            tail cut at open, passed to `onWalTailCut`.
 *
 * Options. Everything in RocksSampleStoreOptions that is data crosses
 * (location, bucketMs, the pending/group/write limits, checkpointChunkBlocks,
 * seriesCacheSize, limits, rocks). `now` and `timers` cannot cross: the
 * worker's store uses Date.now and its own unref'd timers (the age-based
 * checkpoint), so they are not accepted here. `onError` and `onWalTailCut`
 * stay on this side and receive what the worker reports.
 *
 * Failure. If the worker dies (uncaught error, exit, terminate), every pending
 * and later call rejects with a retriable OWL_ERR_STORE_IO: a write in flight
 * was either committed entirely or not at all (one atomic batch, meta ops
 * included), so a retry guarded by the caller's meta record is safe. Reopen
 * to recover.
 */
import type { Worker } from 'node:worker_threads';
import { fromWireError, type WireError } from '../../protocol/index.js';
import { PendingCalls, startModuleWorker } from '../../rocks/index.js';
import { StoreError, StoreErrorCode } from './errors.js';
import type { RocksSampleStoreOptions, StoreCounters, WalTailCut } from './rocks-store.js';
import {
  DEFAULT_MAX_WRITE_POINTS,
  type ListSeriesOptions,
  type MetaOp,
  type RetentionResult,
  type SampleStore,
  type SeriesInfo,
  type SeriesQuery,
  type SeriesResult,
  type StorePoint,
  type StoreStats,
  type WriteExtra,
} from './types.js';

/** RocksSampleStoreOptions without the clock and timers, which stay in the worker with their defaults. */
export type WorkerSampleStoreOptions = Omit<RocksSampleStoreOptions, 'now' | 'timers'>;

// ---- the messages ------------------------------------------------------------------

/** @internal Operation codes. */
export const Op = {
  WRITE: 1,
  QUERY: 2,
  LIST_SERIES: 3,
  STATS: 4,
  RETENTION: 5,
  GET_META: 6,
  LIST_META: 7,
  COUNTERS: 8,
  FLUSH: 9,
  CLOSE: 10,
  /** A write whose points went as columns (PackedPoints). */
  PACKED_WRITE: 11,
} as const;
export type Op = (typeof Op)[keyof typeof Op];

/** @internal One call as it crosses. */
export interface WireCall {
  id: number;
  op: Op;
  a?: unknown;
  b?: unknown;
}

/**
 * @internal Points as columns, which clone far cheaper than one object per
 * point: `nums` holds timestampMs × n, value × n, metric index × n, tags
 * index × n (transferred, not copied); `metrics` the distinct metric strings,
 * `tags` the distinct tags objects (by identity, so shared ones stay shared).
 */
export interface PackedPoints {
  nums: Float64Array;
  metrics: string[];
  tags: object[];
}

/**
 * Pack points whose fields have the right types, else undefined (they go as
 * they are, and the worker's store refuses them with its own error). Values
 * are only carried, never judged, here: the worker's store validates them.
 */
function packPoints(points: unknown): PackedPoints | undefined {
  if (!Array.isArray(points)) return undefined;
  const list = points as unknown[];
  const n = list.length;
  const nums = new Float64Array(4 * n);
  const metrics: string[] = [];
  const metricIndex = new Map<string, number>();
  const tags: object[] = [];
  const tagIndex = new Map<object, number>();
  let prevTags: unknown;
  let prevTagIdx = 0;
  for (let i = 0; i < n; i++) {
    const p = list[i] as Partial<StorePoint> | null | undefined;
    if (typeof p !== 'object' || p === null) return undefined;
    const { metric, tags: t, timestampMs, value } = p;
    if (typeof metric !== 'string' || typeof timestampMs !== 'number' || typeof value !== 'number') {
      return undefined;
    }
    if (typeof t !== 'object' || t === null) return undefined;
    let mi = metricIndex.get(metric);
    if (mi === undefined) {
      mi = metrics.length;
      metrics.push(metric);
      metricIndex.set(metric, mi);
    }
    if (t !== prevTags) {
      let ti = tagIndex.get(t);
      if (ti === undefined) {
        ti = tags.length;
        tags.push(t);
        tagIndex.set(t, ti);
      }
      prevTags = t;
      prevTagIdx = ti;
    }
    nums[i] = timestampMs;
    nums[n + i] = value;
    nums[2 * n + i] = mi;
    nums[3 * n + i] = prevTagIdx;
  }
  return { nums, metrics, tags };
}

/** @internal Rebuild packed points (in the worker). */
export function unpackPoints(packed: PackedPoints): StorePoint[] {
  const { nums, metrics, tags } = packed;
  const n = nums.length / 4;
  const out = new Array<StorePoint>(n);
  for (let i = 0; i < n; i++) {
    out[i] = {
      metric: metrics[nums[2 * n + i]!]!,
      tags: tags[nums[3 * n + i]!] as Record<string, string>,
      timestampMs: nums[i]!,
      value: nums[n + i]!,
    };
  }
  return out;
}

/** @internal One answer. */
export type WireAnswer = { id: number; v: unknown } | { id: number; e: WireError };

/** @internal What the worker gets as workerData. */
export interface WorkerInit {
  options: Omit<WorkerSampleStoreOptions, 'onError' | 'onWalTailCut'>;
}

/** @internal A message from the worker. */
export type WorkerMessage =
  | { t: 'opened'; blockSpanMs: number }
  | { t: 'open-failed'; error: WireError }
  | { t: 'answers'; answers: WireAnswer[] }
  | { t: 'bg-error'; error: WireError }
  | { t: 'wal-cut'; cut: WalTailCut };

const STORE_CODES = new Set<string>(Object.values(StoreErrorCode));

/** A worker's error, rebuilt: StoreError for its own codes. */
function rebuildError(w: WireError): Error {
  return fromWireError(w, (code, message, options) =>
    STORE_CODES.has(code) ? new StoreError(code as StoreErrorCode, message, options) : undefined,
  );
}

/** @internal Bytes as they should cross: a view of exactly their own ArrayBuffer (else cloning copies the whole buffer). */
export function exactBytes(u8: Uint8Array): Uint8Array {
  // new Uint8Array(view) copies (Buffer#slice would not).
  return u8.byteOffset === 0 && u8.byteLength === u8.buffer.byteLength ? u8 : new Uint8Array(u8);
}

function toBuffer(u8: Uint8Array): Buffer {
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

/** Meta ops with byte values copied to exact-size arrays; anything else passes as is (the worker validates). */
function wireMeta(meta: unknown): unknown {
  if (!Array.isArray(meta)) return meta;
  return (meta as unknown[]).map((op) => {
    const o = op as Partial<MetaOp> | null;
    if (o !== null && typeof o === 'object' && o.type === 'put' && o.value instanceof Uint8Array) {
      return { type: 'put', key: o.key, value: exactBytes(o.value) };
    }
    return op;
  });
}

/** A write's extra as it crosses: meta as wireMeta makes it, the rest as given (the worker validates). */
function wireExtra(extra: WriteExtra | undefined): unknown {
  if (extra === undefined) return undefined;
  const out: Record<string, unknown> = { meta: wireMeta(extra.meta) };
  if (extra.countSamples !== undefined) out.countSamples = extra.countSamples;
  return out;
}

// ---- the main side -----------------------------------------------------------------

/** A SampleStore whose RocksSampleStore runs in a worker thread. Use WorkerSampleStore.open(). */
export class WorkerSampleStore implements SampleStore {
  readonly location: string;
  readonly maxWritePoints: number;
  private readonly worker: Worker;
  private readonly onError: (err: unknown) => void;
  private readonly onWalTailCut: (cut: WalTailCut) => void;
  private span = 0;
  private readonly pending: PendingCalls<Op>;
  /** This turn's calls, posted together by flush(). */
  private calls: WireCall[] = [];
  /** This turn's packed columns, handed over with the message. */
  private transfer: ArrayBuffer[] = [];
  private flushScheduled = false;
  private closing: Promise<void> | undefined;
  private failure: StoreError | undefined;
  /** Set when this side stops the worker on purpose: its exit is then no failure. */
  private terminating = false;
  private openSettle: { resolve: () => void; reject: (err: unknown) => void } | undefined;
  private readonly opened: Promise<void>;

  /** Start the worker and open the store in it (creating or recovering it); rejects with its OWL_ERR_STORE_* error. */
  static async open(options: WorkerSampleStoreOptions): Promise<WorkerSampleStore> {
    const store = new WorkerSampleStore(options);
    await store.opened;
    return store;
  }

  private constructor(options: WorkerSampleStoreOptions) {
    const { onError, onWalTailCut, ...rest } = options;
    // Not accepted by the type; a caller passing them anyway gets them dropped, not a clone error.
    const data = { ...rest } as Record<string, unknown>;
    delete data.now;
    delete data.timers;
    this.location = options.location;
    this.maxWritePoints = options.maxWritePoints ?? DEFAULT_MAX_WRITE_POINTS;
    this.onError = onError ?? (() => {});
    this.onWalTailCut = onWalTailCut ?? (() => {});
    this.opened = new Promise<void>((resolve, reject) => (this.openSettle = { resolve, reject }));
    const init: WorkerInit = { options: data as WorkerInit['options'] };
    this.worker = startModuleWorker(import.meta.url, 'store-worker', init);
    this.pending = new PendingCalls(this.worker);
    this.worker.on('message', (m: WorkerMessage) => this.onMessage(m));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('messageerror', (err) => this.fail(err));
    this.worker.on('exit', (code) => {
      if (!this.terminating) this.fail(new Error(`store worker exited with code ${code}`));
    });
  }

  /** Bucket size in ms (as stored in the database). */
  get blockSpanMs(): number {
    return this.span;
  }

  // ---- SampleStore -------------------------------------------------------------------

  write(points: readonly StorePoint[], extra?: WriteExtra): Promise<void> {
    const wire = wireExtra(extra);
    if (this.closing || this.failure) return this.call<void>(Op.WRITE); // refused, nothing to encode
    const packed = packPoints(points);
    if (packed === undefined) return this.call<void>(Op.WRITE, points, wire);
    this.transfer.push(packed.nums.buffer as ArrayBuffer);
    return this.call<void>(Op.PACKED_WRITE, packed, wire);
  }

  query(q: SeriesQuery): Promise<SeriesResult[]> {
    return this.call<SeriesResult[]>(Op.QUERY, q);
  }

  listSeries(options: ListSeriesOptions): Promise<SeriesInfo[]> {
    return this.call<SeriesInfo[]>(Op.LIST_SERIES, options);
  }

  stats(): Promise<StoreStats> {
    return this.call<StoreStats>(Op.STATS);
  }

  applyRetention(olderThanMs: number): Promise<RetentionResult> {
    return this.call<RetentionResult>(Op.RETENTION, olderThanMs);
  }

  getMeta(key: string): Promise<Buffer | undefined> {
    return this.call<Buffer | undefined>(Op.GET_META, key);
  }

  listMeta(prefix: string, limit?: number): Promise<Array<[string, Buffer]>> {
    return this.call<Array<[string, Buffer]>>(Op.LIST_META, prefix, limit);
  }

  /** RocksSampleStore.counters(), asked of the worker (one round trip, no I/O there). */
  counters(): Promise<StoreCounters> {
    return this.call<StoreCounters>(Op.COUNTERS);
  }

  /** RocksSampleStore.flush(): fold every point acknowledged before this call into blocks. */
  flush(): Promise<void> {
    return this.call<void>(Op.FLUSH);
  }

  /**
   * Wait for every pending call, then close the store in the worker (which
   * folds pending points) and stop the worker. Idempotent. Later calls reject
   * with OWL_ERR_STORE_CLOSED. Rejects with the worker store's close error, if any.
   */
  close(): Promise<void> {
    this.closing ??= this.runClose();
    return this.closing;
  }

  /** @internal Test hook: stop the worker thread abruptly, as a crash would. */
  killWorkerForTest(): Promise<number> {
    return this.worker.terminate();
  }

  // ---- calls -------------------------------------------------------------------------

  private async runClose(): Promise<void> {
    let error: unknown;
    try {
      await this.pending.whenIdle();
      if (!this.failure) {
        await this.send<void>(Op.CLOSE).catch((err: unknown) => {
          if (err !== this.failure) error = err; // a dead worker has nothing left to close
        });
      }
    } finally {
      this.terminating = true;
      await this.worker.terminate();
      this.pending.rejectAll(new StoreError(StoreErrorCode.CLOSED, 'sample store is closed'));
    }
    if (error !== undefined) throw error;
  }

  private call<T>(op: Op, a?: unknown, b?: unknown): Promise<T> {
    if (this.closing) return Promise.reject(new StoreError(StoreErrorCode.CLOSED, 'sample store is closed'));
    return this.send<T>(op, a, b);
  }

  private send<T>(op: Op, a?: unknown, b?: unknown): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.pending.newId();
    const c: WireCall = { id, op };
    if (a !== undefined) c.a = a;
    if (b !== undefined) c.b = b;
    this.calls.push(c);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // As RocksSampleStore schedules its group commit: every call of this turn goes in one message.
      setImmediate(() => this.postCalls());
    }
    // A call in flight keeps the process alive, an idle store does not.
    return this.pending.wait<T>(id, op);
  }

  private postCalls(): void {
    this.flushScheduled = false;
    const calls = this.calls;
    const transfer = this.transfer;
    this.calls = [];
    this.transfer = [];
    if (calls.length === 0 || this.failure) return; // a failure already rejected these calls
    try {
      this.worker.postMessage(calls, transfer);
    } catch {
      // Something in one call cannot be cloned (a function, a symbol...): send
      // the calls one by one, in order, refusing those that do not clone as
      // RocksSampleStore refuses a bad argument.
      for (const c of calls) {
        try {
          const nums = c.op === Op.PACKED_WRITE ? (c.a as PackedPoints).nums.buffer : undefined;
          this.worker.postMessage([c], nums instanceof ArrayBuffer && nums.byteLength > 0 ? [nums] : []);
        } catch (err) {
          const p = this.pending.take(c.id);
          p?.reject(uncloneable(c, err));
        }
      }
    }
  }

  private onMessage(m: WorkerMessage): void {
    switch (m.t) {
      case 'answers':
        for (const x of m.answers) {
          const p = this.pending.take(x.id);
          if (!p) continue;
          if ('e' in x) p.reject(rebuildError(x.e));
          else p.resolve(fromWireValue(p.op, x.v));
        }
        return;
      case 'bg-error':
        this.onError(rebuildError(m.error));
        return;
      case 'wal-cut':
        this.onWalTailCut(m.cut);
        return;
      case 'opened':
        this.span = m.blockSpanMs;
        this.worker.unref();
        this.openSettle?.resolve();
        this.openSettle = undefined;
        return;
      case 'open-failed':
        this.terminating = true;
        void this.worker.terminate();
        this.openSettle?.reject(rebuildError(m.error));
        this.openSettle = undefined;
        return;
    }
  }

  private fail(cause: unknown): void {
    if (this.failure) return;
    const message = cause instanceof Error ? cause.message : String(cause);
    this.failure = new StoreError(StoreErrorCode.IO, `store worker failed: ${message}`, {
      retriable: true,
      cause,
    });
    if (this.openSettle) {
      this.openSettle.reject(this.failure);
      this.openSettle = undefined;
    } else {
      this.onError(this.failure);
    }
    this.pending.rejectAll(this.failure);
    this.terminating = true;
    void this.worker.terminate();
  }
}

/** Bytes come back as Uint8Array; the contract promises Buffers. */
function fromWireValue(op: Op, v: unknown): unknown {
  if (op === Op.GET_META) return v === undefined ? undefined : toBuffer(v as Uint8Array);
  if (op === Op.LIST_META) {
    const rows = v as Array<[string, Uint8Array]>;
    for (const row of rows) (row as unknown as [string, Buffer])[1] = toBuffer(row[1]);
    return rows;
  }
  return v;
}

/** The error RocksSampleStore would give for an argument of that kind. */
function uncloneable(c: WireCall, cause: unknown): StoreError {
  let code: StoreErrorCode = StoreErrorCode.BAD_QUERY;
  let what = 'argument';
  if (c.op === Op.WRITE || c.op === Op.PACKED_WRITE) {
    code = StoreErrorCode.BAD_META;
    what = 'meta op';
    try {
      structuredClone(c.a);
    } catch {
      code = StoreErrorCode.BAD_POINT;
      what = 'point';
    }
  }
  return new StoreError(code, `${what} holds a value that is not plain data`, { cause });
}
