/**
 * WorkerSampleStore: a RocksSampleStore run in a worker thread
 * (store-worker.ts), so that RocksDB's synchronous synced batch writes (and
 * their fdatasync), the point validation and the log/block encoding run on
 * the worker's event loop, not on the upstream's. Same semantics as
 * RocksSampleStore: the worker's store does all the work; this side forwards
 * calls and rebuilds results and errors. Mirrors relay/spool/worker-spool.ts.
 *
 * Messages: worker-codec.ts. Each direction sends at most one message per
 * event-loop turn, carrying every call (or answer) of that turn, so the
 * writes of one turn reach the worker together and join one group commit
 * there, as they would on this thread.
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
import { PendingCalls, startModuleWorker } from '../../rocks/index.js';
import { StoreError, StoreErrorCode } from './errors.js';
import type { StoreCounters, WalTailCut, WorkerSampleStoreOptions } from './options.js';
import {
  DEFAULT_MAX_WRITE_POINTS,
  type ListSeriesOptions,
  type RetentionResult,
  type SampleStore,
  type SeriesInfo,
  type SeriesQuery,
  type SeriesResult,
  type StorePoint,
  type StoreStats,
  type WriteExtra,
} from './types.js';
import {
  Op,
  fromWireValue,
  packPoints,
  rebuildError,
  uncloneable,
  wireExtra,
  type PackedPoints,
  type WireCall,
  type WorkerInit,
  type WorkerMessage,
} from './worker-codec.js';

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
