/**
 * WorkerSampleStore: a RocksSampleStore run in a worker thread
 * (store-worker.ts), so that RocksDB's synchronous synced batch writes (and
 * their fdatasync), the point validation and the log/block encoding run on
 * the worker's event loop, not on the upstream's. Same semantics as
 * RocksSampleStore: the worker's store does all the work; this side forwards
 * calls and rebuilds results and errors. The plumbing (handshake, batching,
 * failure) is worker/, shared with relay/spool/worker-spool.ts.
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
import { WorkerHost } from '../../worker/index.js';
import { StoreError, StoreErrorCode } from './errors.js';
import type { StoreCounters, WalTailCut, WorkerSampleStoreOptions } from './options.js';
import {
  DEFAULT_MAX_WRITE_POINTS,
  type EncodedForwardBatch,
  type ForwardBatch,
  type ForwardStats,
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
  type StoreEvent,
  type StoreOpened,
  type WireCall,
  type WorkerInit,
} from './worker-codec.js';

/** A SampleStore whose RocksSampleStore runs in a worker thread. Use WorkerSampleStore.open(). */
export class WorkerSampleStore implements SampleStore {
  readonly location: string;
  readonly maxWritePoints: number;
  private readonly host: WorkerHost<Op, StoreOpened, StoreEvent>;
  private readonly onError: (err: unknown) => void;
  private readonly onWalTailCut: (cut: WalTailCut) => void;
  private span = 0;
  /** This turn's calls, posted together. */
  private calls: WireCall[] = [];
  /** This turn's packed columns, handed over with the message. */
  private transfer: ArrayBuffer[] = [];

  /** Start the worker and open the store in it (creating or recovering it); rejects with its OWL_ERR_STORE_* error. */
  static async open(options: WorkerSampleStoreOptions): Promise<WorkerSampleStore> {
    const store = new WorkerSampleStore(options);
    await store.host.opened;
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
    const init: WorkerInit = { options: data as WorkerInit['options'] };
    this.host = new WorkerHost({
      moduleUrl: import.meta.url,
      module: 'store-worker',
      workerData: init,
      label: 'store worker',
      failure: (message, cause) => new StoreError(StoreErrorCode.IO, message, { retriable: true, cause }),
      closed: () => new StoreError(StoreErrorCode.CLOSED, 'sample store is closed'),
      rebuildError,
      takeCalls: () => this.takeCalls(),
      unposted: (out) => this.postOneByOne(out.message as WireCall[]),
      opened: (m) => (this.span = m.blockSpanMs),
      message: (m) => this.onMessage(m),
      failed: (failure) => this.onError(failure),
    });
  }

  /** Bucket size in ms (as stored in the database). */
  get blockSpanMs(): number {
    return this.span;
  }

  // ---- SampleStore -------------------------------------------------------------------

  write(points: readonly StorePoint[], extra?: WriteExtra): Promise<void> {
    const wire = wireExtra(extra);
    const refused = this.host.refusal();
    if (refused) return Promise.reject(refused); // nothing to encode
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

  readForward(sink: string, afterSeq: number, maxPoints: number): Promise<ForwardBatch> {
    return this.call<ForwardBatch>(Op.READ_FORWARD, { sink, afterSeq, maxPoints });
  }

  readForwardEncoded(
    sink: string,
    afterSeq: number,
    maxPoints: number,
    shards?: number,
  ): Promise<EncodedForwardBatch> {
    return this.call<EncodedForwardBatch>(Op.READ_FORWARD_ENCODED, { sink, afterSeq, maxPoints, shards });
  }

  ackForward(sink: string, seq: number): Promise<void> {
    return this.call<void>(Op.ACK_FORWARD, sink, seq);
  }

  forwardStats(): Promise<ForwardStats | undefined> {
    return this.call<ForwardStats | undefined>(Op.FORWARD_STATS);
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
    return this.host.close(Op.CLOSE, (id) => this.calls.push({ id, op: Op.CLOSE }));
  }

  /** @internal Test hook: stop the worker thread abruptly, as a crash would. */
  killWorkerForTest(): Promise<number> {
    return this.host.kill();
  }

  // ---- calls -------------------------------------------------------------------------

  private call<T>(op: Op, a?: unknown, b?: unknown): Promise<T> {
    return this.host.call<T>(op, (id) => {
      const c: WireCall = { id, op };
      if (a !== undefined) c.a = a;
      if (b !== undefined) c.b = b;
      this.calls.push(c);
    });
  }

  private takeCalls(): { message: WireCall[]; transfer: ArrayBuffer[] } | undefined {
    const calls = this.calls;
    const transfer = this.transfer;
    this.calls = [];
    this.transfer = [];
    return calls.length === 0 ? undefined : { message: calls, transfer };
  }

  /**
   * Something in one call of this turn cannot be cloned (a function, a
   * symbol...): send the calls one by one, in order, refusing those that do
   * not clone as RocksSampleStore refuses a bad argument.
   */
  private postOneByOne(calls: WireCall[]): void {
    for (const c of calls) {
      try {
        const nums = c.op === Op.PACKED_WRITE ? (c.a as PackedPoints).nums.buffer : undefined;
        const transfer = nums instanceof ArrayBuffer && nums.byteLength > 0 ? [nums] : [];
        this.host.post({ message: [c], transfer });
      } catch (err) {
        this.host.take(c.id)?.reject(uncloneable(c, err));
      }
    }
  }

  private onMessage(m: StoreEvent): void {
    switch (m.t) {
      case 'answers':
        for (const x of m.answers) {
          const p = this.host.take(x.id);
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
    }
  }
}
