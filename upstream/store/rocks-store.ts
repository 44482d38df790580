/**
 * RocksSampleStore: the upstream's embedded time-series store on RocksDB.
 *
 * Key layout (one key space; keys.ts; numbers big-endian):
 *   v                     format: JSON {version, bucketMs}; bucketMs is fixed at creation
 *   c <name>              counters, f64: nextId, series, points
 *   s <seriesKey>         -> u32 series id (seriesKey: series-key.ts, `metric NUL k NUL v ...`)
 *   i <u32 id>            -> seriesKey (reverse dictionary, for retention)
 *   b <u32 id><u32 bucket> -> block: the points of one series in
 *                            [bucket*bucketMs, (bucket+1)*bucketMs), block-codec.ts;
 *                            one series' blocks are adjacent and time-ordered, so a
 *                            range query is one short sequential scan
 *   w <u64 seq>           -> log record: the points of one group commit (log-codec.ts)
 *   m <key>               -> caller meta (e.g. the upstream's de-duplication record)
 *
 * Write path: write() calls queue up; one pump takes everything queued (group
 * commit) and writes ONE synced RocksDB batch holding any new dictionary
 * entries and counters, one log record with all the points, and the callers'
 * meta ops. The batch is atomic in RocksDB's WAL, so after kill -9 or power
 * loss a write is either entirely there (points, series, meta) or not at all.
 * Acknowledged points then sit in memory ("pending", per series) until a
 * checkpoint folds them into blocks: read the touched blocks, merge (the
 * later write of a timestamp wins), re-encode, and delete the folded log
 * records in the last batch of the checkpoint. Checkpoints run when
 * `maxPendingPoints` or `maxPendingAgeMs` is reached, on flush/stats, and on
 * close; they need not be synced: WAL order means a lost checkpoint batch
 * leaves its log records in place.
 *
 * Invariants:
 *  - Every acknowledged point is in a log record or in a block (or both).
 *  - A log record is deleted only after all its points are in blocks.
 *  - `c points` = number of distinct (id, timestamp) pairs in blocks, updated
 *    in the batch that changes the blocks; `c series` = number of `s` keys,
 *    updated in the batch that adds or removes them.
 *  - Queries read pending points before blocks and let pending win, so a
 *    checkpoint racing a query can only double a point, never hide it; the
 *    merge removes the double.
 *
 * Bounded memory: pending points cost ~16 bytes each; while a checkpoint
 * folds one full set, writes wait once a second set is full, so at most about
 * 2 x (maxPendingPoints + maxGroupPoints) are held. The series-id cache is
 * bounded (series-cache.ts); checkpoints and retention work in chunks.
 *
 * Retention folds first, then walks the series in slices of 256 (writes run
 * between slices), deleting whole old blocks, trimming the block holding the
 * cutoff, and removing a series (both dictionary keys) once it has no block
 * and no pending point. Ids are never reused; removal bumps an epoch so a
 * queued write re-resolves ids it took from the cache before.
 *
 * Recovery on open: replay every remaining log record at or above the fold
 * marker (`c foldedBelow`), in seq order, into pending. Folding is idempotent
 * (merging a point already in its block changes nothing and counts nothing),
 * so a checkpoint cut short by a crash (its marker not written) is simply
 * done again; records below the marker were kept for sinks only.
 *
 * Forwarding (option `forward`, forward-*.ts): the log is also a durable,
 * ordered record of every commit, so external sinks read it through a cursor
 * each (`f <sink>` -> seq of the last record the sink accepted). A checkpoint
 * still folds every record, but deletes only those every sink has passed; it
 * writes `c foldedBelow` in its last batch, and recovery replays only records
 * at or above it, so records kept for sinks are never replayed into pending
 * (no memory held for them, no retention-deleted point brought back). An ack
 * is its own unsynced batch, run in the write pipeline: losing it (power
 * loss) only resends records the sink stores once; the next group commit's
 * sync makes it durable, and WAL order keeps it before the deletes it
 * allowed, which go in the same batch. Past `maxBytes` held for sinks, a
 * group commit either refuses (reject-new: OWL_ERR_STORE_FORWARD_FULL,
 * retriable) or moves the slow sinks' cursors past the oldest records in its
 * own synced batch (drop-oldest, counted per sink). `keepSamples: false`
 * folds nothing: records are deleted once every sink has passed them. The
 * next seq follows the last record, the fold marker and every cursor, so a
 * seq a cursor names is never reused. Without `forward` the only cost is the
 * marker, one key in each checkpoint's last batch.
 *
 * Parts, one file each, sharing one StoreState (store-state.ts): recovery.ts
 * (open), write-task.ts (a write checked at the call), write-pipeline.ts (the
 * queue of writes and exclusive jobs), group-commit.ts (the synced batch),
 * checkpoint.ts and fold.ts (into blocks), queries.ts and meta.ts (reads),
 * retention.ts; options.ts holds the options and their defaults.
 */
import { RocksLevel } from '@nxtedition/rocksdb';
import { Checkpointer } from './checkpoint.js';
import { closedError, badQuery, ioError } from './errors.js';
import { commitGroup } from './group-commit.js';
import { forwardLogFor } from './forward-log.js';
import { ackForward, forwardLog, readForward, readForwardEncoded } from './forward-ops.js';
import { getMeta, listMeta } from './meta.js';
import {
  DEFAULT_BUCKET_MS,
  defaultTimers,
  resolveLimits,
  type RocksSampleStoreOptions,
  type StoreCounters,
  type StoreLimits,
} from './options.js';
import { listSeries, query } from './queries.js';
import { loadStore, openDatabase } from './recovery.js';
import { runRetention } from './retention.js';
import { SeriesIdCache } from './series-cache.js';
import { DEFAULT_SERIES_LIMITS } from './series-key.js';
import { StoreState } from './store-state.js';
import type {
  EncodedForwardBatch,
  ForwardBatch,
  ForwardStats,
  ListSeriesOptions,
  RetentionResult,
  SampleStore,
  SeriesInfo,
  SeriesQuery,
  SeriesResult,
  StorePoint,
  StoreStats,
  WriteExtra,
} from './types.js';
import { WritePipeline } from './write-pipeline.js';
import { prepareWrite } from './write-task.js';

/** The embedded store: the public face of the parts above, and its lifecycle. Use RocksSampleStore.open(). */
export class RocksSampleStore implements SampleStore {
  private readonly s: StoreState;
  private readonly limits: StoreLimits;
  private readonly now: () => number;
  private readonly pipeline: WritePipeline;
  private readonly checkpoints: Checkpointer;
  /** Reads and retention passes running: close waits for them before it closes RocksDB. */
  private readonly ops = new Set<Promise<unknown>>();
  private closeRun: Promise<void> | undefined;

  private constructor(options: RocksSampleStoreOptions) {
    // Checked first: a RocksLevel, once made, opens itself and must be closed.
    const keepSamples = options.keepSamples ?? true;
    const fw = forwardLogFor(options.forward, keepSamples);
    const db = new RocksLevel<Buffer, Buffer>(options.location, {
      ...options.rocks,
      keyEncoding: 'buffer',
      valueEncoding: 'buffer',
      createIfMissing: true,
    });
    this.limits = resolveLimits(options);
    this.now = options.now ?? Date.now;
    this.s = new StoreState(
      db,
      new SeriesIdCache(options.seriesCacheSize ?? 100_000),
      { ...DEFAULT_SERIES_LIMITS, ...options.limits },
      options.bucketMs ?? DEFAULT_BUCKET_MS,
    );
    this.s.keepSamples = keepSamples;
    this.s.fw = fw;
    this.pipeline = new WritePipeline(this.s, this.limits.maxGroupPoints, {
      commit: (group) => commitGroup(this.s, group, () => this.checkpoints.notePending(), this.now),
      afterCommit: () => this.checkpoints.maybeCheckpoint(),
      overloadedBy: () => this.checkpoints.overloadedBy(),
    });
    this.checkpoints = new Checkpointer(this.s, {
      limits: this.limits,
      now: this.now,
      timers: options.timers ?? defaultTimers,
      onError: options.onError ?? (() => {}),
      exclusive: (fn) => this.pipeline.exclusive(fn),
    });
  }

  /** Open (or create) a store and replay any log records left by a crash. */
  static async open(options: RocksSampleStoreOptions): Promise<RocksSampleStore> {
    const store = new RocksSampleStore(options);
    const { s } = store;
    await openDatabase(s.db, options.location, store.now(), options.onWalTailCut);
    try {
      await loadStore(s, options.bucketMs, store.now());
      if (s.pending.points > 0) store.checkpoints.notePending();
    } catch (err) {
      await s.db.close().catch(() => {});
      throw ioError(err);
    }
    // A crash may have left more to replay than one checkpoint's worth.
    store.checkpoints.maybeCheckpoint();
    return store;
  }

  get maxWritePoints(): number {
    return this.limits.maxWritePoints;
  }

  /** Bucket size in ms (as stored in the database). */
  get blockSpanMs(): number {
    return this.s.bucketMs;
  }

  /** Counters without I/O: `points` excludes pending points not yet folded. */
  counters(): StoreCounters {
    return { series: this.s.seriesCount, points: this.s.pointCount, pendingPoints: this.s.pendingPoints };
  }

  async write(points: readonly StorePoint[], extra?: WriteExtra): Promise<void> {
    if (this.s.lifecycle !== 'open') throw closedError();
    const prepared = prepareWrite(this.s, points, extra, this.limits.maxWritePoints);
    if (prepared === undefined) return;
    return new Promise<void>((resolve, reject) => this.pipeline.enqueue({ ...prepared, resolve, reject }));
  }

  /** Fold every point acknowledged before this call into blocks. */
  flush(): Promise<void> {
    return this.checkpoints.flush();
  }

  async query(q: SeriesQuery): Promise<SeriesResult[]> {
    this.checkReadable();
    return this.track(query(this.s, q));
  }

  async listSeries(options: ListSeriesOptions): Promise<SeriesInfo[]> {
    this.checkReadable();
    return this.track(listSeries(this.s, options));
  }

  async getMeta(key: string): Promise<Buffer | undefined> {
    this.checkReadable();
    return this.track(getMeta(this.s.db, key));
  }

  async listMeta(prefix: string, limit = 10_000): Promise<Array<[string, Buffer]>> {
    this.checkReadable();
    return this.track(listMeta(this.s.db, prefix, limit));
  }

  async readForward(sink: string, afterSeq: number, maxPoints: number): Promise<ForwardBatch> {
    this.checkReadable();
    return this.track(readForward(this.s, sink, afterSeq, maxPoints));
  }

  async readForwardEncoded(
    sink: string,
    afterSeq: number,
    maxPoints: number,
    shards?: number,
  ): Promise<EncodedForwardBatch> {
    this.checkReadable();
    return this.track(readForwardEncoded(this.s, sink, afterSeq, maxPoints, shards));
  }

  async ackForward(sink: string, seq: number): Promise<void> {
    if (this.s.lifecycle === 'closed') throw closedError();
    forwardLog(this.s).cursorOf(sink);
    return this.pipeline.exclusive(() => ackForward(this.s, sink, seq));
  }

  async forwardStats(): Promise<ForwardStats | undefined> {
    return Promise.resolve(this.s.fw?.stats(this.now()));
  }

  stats(): Promise<StoreStats> {
    return this.track(this.runStats());
  }

  private async runStats(): Promise<StoreStats> {
    await this.flush();
    // Read together, right after the flush: no fold is part-way now (a checkpoint the flush let
    // start has folded nothing yet, that takes I/O), so points and samples cover the same writes.
    return { series: this.s.seriesCount, points: this.s.pointCount, samples: this.s.foldedSamples };
  }

  async applyRetention(olderThanMs: number): Promise<RetentionResult> {
    if (this.s.lifecycle !== 'open') throw closedError();
    if (!Number.isSafeInteger(olderThanMs) || olderThanMs < 0)
      throw badQuery('olderThanMs must be an integer >= 0');
    // No samples kept: nothing to delete, and the series must stay to name the records held for sinks.
    if (!this.s.keepSamples) return { deletedPoints: 0, deletedSeries: 0 };
    return this.track(
      runRetention(
        this.s,
        olderThanMs,
        () => this.flush(),
        (fn) => this.pipeline.exclusive(fn),
      ),
    );
  }

  /** `run` as an operation close() waits for: its reads must not meet a closed database. */
  private track<T>(run: Promise<T>): Promise<T> {
    this.ops.add(run);
    return run.finally(() => this.ops.delete(run));
  }

  /** Finish queued writes and jobs, fold pending points, close RocksDB. Idempotent. */
  close(): Promise<void> {
    this.closeRun ??= this.runClose();
    return this.closeRun;
  }

  private async runClose(): Promise<void> {
    if (this.s.lifecycle !== 'open') return;
    this.s.lifecycle = 'closing';
    let error: unknown;
    try {
      await Promise.allSettled([...this.ops]);
      await this.pipeline.whenIdle();
      // Folding now makes the next open quick; if it fails the log records replay instead.
      await this.flush().catch((err: unknown) => {
        error = err;
      });
      await this.pipeline.whenIdle();
    } finally {
      this.s.lifecycle = 'closed';
      this.checkpoints.stopTimer();
      // Reads may have started while closing; none can start now.
      while (this.ops.size > 0) await Promise.allSettled([...this.ops]);
      await this.s.db.close().catch((err: unknown) => {
        error ??= ioError(err);
      });
    }
    if (error !== undefined) throw error;
  }

  private checkReadable(): void {
    if (this.s.lifecycle === 'closed') throw closedError();
  }
}
