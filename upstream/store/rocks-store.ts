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
 * Recovery on open: replay every remaining log record, in seq order, into
 * pending. Folding is idempotent (merging a point already in its block
 * changes nothing and counts nothing), so a checkpoint cut short by a crash
 * is simply done again.
 */
import { RocksLevel } from '@nxtedition/rocksdb';
import { cutDamagedWalTails } from '../../rocks/index.js';
import { ByteWriter } from './bytes.js';
import { blockCount, decodeBlock, encodeBlock } from './block-codec.js';
import { closeQuietly, scan, type DB } from './db.js';
import { StoreError, StoreErrorCode, badQuery, closedError, ioError } from './errors.js';
import {
  FORMAT_KEY,
  K_NEXT_ID,
  K_POINTS,
  K_SERIES,
  P_ID,
  P_LOG,
  TWO_32,
  blockKey,
  blockKeyBucket,
  decodeU64,
  encodeU64,
  idKey,
  logKey,
  logKeySeq,
  seriesDictKey,
} from './keys.js';
import { beginLogRecord, pushLogPoint, readLogRecord } from './log-codec.js';
import { addMetaOps, checkMetaOp, getMeta, listMeta } from './meta.js';
import {
  DEFAULT_BUCKET_MS,
  defaultTimers,
  resolveLimits,
  type RocksSampleStoreOptions,
  type StoreCounters,
  type StoreLimits,
  type StoreTimers,
} from './options.js';
import { PendingSet, mergeSorted, normalize } from './pending.js';
import { SeriesIdCache, type TagEntry } from './series-cache.js';
import {
  DEFAULT_SERIES_LIMITS,
  SEP,
  type SeriesKeyLimits,
  checkMetric,
  parseSeriesKey,
  tagSuffix,
  tagsMatch,
} from './series-key.js';
import type {
  ListSeriesOptions,
  MetaOp,
  RetentionResult,
  SampleStore,
  SeriesInfo,
  SeriesQuery,
  SeriesResult,
  StorePoint,
  StoreStats,
  WriteExtra,
} from './types.js';

export type { RocksSampleStoreOptions, StoreCounters, StoreTimers, WalTailCut } from './options.js';

const MIN_BUCKET_MS = 60_000;
const DEFAULT_QUERY_LIMIT = 1_000_000;
const FORMAT_VERSION = 1;
/** Year 10889: keeps every timestamp delta a safe zigzag integer in the log and block codecs. */
const MAX_TIMESTAMP_MS = 2 ** 48;

interface WriteTask {
  points: readonly StorePoint[];
  /** Tag suffix per point (series key = metric NUL suffix); runs share one string. */
  suffixes: string[];
  /** Series id per point from the cache, 0 where it missed (ids start at 1); valid while `epoch` is current. */
  ids: Uint32Array;
  epoch: number;
  misses: number;
  meta: readonly MetaOp[];
  /** Points counted as samples (all of them if the write was marked `countSamples`, else 0). */
  samples: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface JobTask {
  run: () => Promise<void>;
}

/** One (series, bucket) slice of a checkpoint. */
interface FoldUnit {
  id: number;
  bucket: number;
  ts: number[];
  vals: number[];
  start: number;
  end: number;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class RocksSampleStore implements SampleStore {
  private readonly db: DB;
  private readonly opts: StoreLimits;
  private readonly limits: SeriesKeyLimits;
  private readonly now: () => number;
  private readonly timers: StoreTimers;
  private readonly onError: (err: unknown) => void;
  private readonly ids: SeriesIdCache;
  /** Bumped when retention removes series: cached ids taken before may be stale. */
  private epoch = 0;
  private readonly writer = new ByteWriter(64 * 1024);
  private readonly logWriter = new ByteWriter(256 * 1024);

  private bucketMs = DEFAULT_BUCKET_MS;
  private nextId = 1;
  private nextSeq = 0;
  private seriesCount = 0;
  private pointCount = 0;
  /** StoreStats.samples: marked points of the sets folded since open (not persisted). */
  private foldedSamples = 0;

  /** Acknowledged, not yet folded; new writes land here. */
  private pending = new PendingSet();
  /** Being folded by the running checkpoint; older than `pending`. */
  private frozen: PendingSet | undefined;
  private pendingSinceMs: number | undefined;
  private ageTimer: unknown;

  private readonly writes: WriteTask[] = [];
  private readonly jobs: JobTask[] = [];
  private pumping = false;
  private lastWasWrite = false;
  private idleWaiters: Array<() => void> = [];
  private jobWaiter: (() => void) | undefined;
  private checkpointRun: Promise<void> | undefined;
  private readonly ops = new Set<Promise<unknown>>();
  private state: 'open' | 'closing' | 'closed' = 'open';
  private closeRun: Promise<void> | undefined;

  private constructor(options: RocksSampleStoreOptions) {
    this.db = new RocksLevel<Buffer, Buffer>(options.location, {
      ...options.rocks,
      keyEncoding: 'buffer',
      valueEncoding: 'buffer',
      createIfMissing: true,
    });
    this.opts = resolveLimits(options);
    this.limits = { ...DEFAULT_SERIES_LIMITS, ...options.limits };
    this.now = options.now ?? Date.now;
    this.timers = options.timers ?? defaultTimers;
    this.onError = options.onError ?? (() => {});
    this.ids = new SeriesIdCache(options.seriesCacheSize ?? 100_000);
    this.bucketMs = options.bucketMs ?? DEFAULT_BUCKET_MS;
  }

  /** Open (or create) a store and replay any log records left by a crash. */
  static async open(options: RocksSampleStoreOptions): Promise<RocksSampleStore> {
    const store = new RocksSampleStore(options);
    try {
      const cut = cutDamagedWalTails(options.location, `${options.location}.damaged-${store.now()}`);
      for (const c of cut) options.onWalTailCut?.(c);
      await store.db.open();
    } catch (err) {
      throw ioError(err);
    }
    try {
      await store.load(options.bucketMs);
    } catch (err) {
      await store.db.close().catch(() => {});
      throw err instanceof StoreError ? err : ioError(err);
    }
    // A crash may have left more to replay than one checkpoint's worth.
    store.maybeCheckpoint();
    return store;
  }

  private async load(requestedBucketMs: number | undefined): Promise<void> {
    const [format, nextId, series, points] = await this.db.getMany([
      FORMAT_KEY,
      K_NEXT_ID,
      K_SERIES,
      K_POINTS,
    ]);
    if (format === undefined) {
      const bucketMs = requestedBucketMs ?? DEFAULT_BUCKET_MS;
      if (!Number.isSafeInteger(bucketMs) || bucketMs < MIN_BUCKET_MS) {
        throw new StoreError(StoreErrorCode.BAD_OPTION, `bucketMs must be an integer >= ${MIN_BUCKET_MS}`);
      }
      this.bucketMs = bucketMs;
      await this.db.batch(
        [
          {
            type: 'put',
            key: FORMAT_KEY,
            value: Buffer.from(JSON.stringify({ version: FORMAT_VERSION, bucketMs })),
          },
        ],
        { sync: true },
      );
    } else {
      let parsed: { version?: unknown; bucketMs?: unknown };
      try {
        parsed = JSON.parse(format.toString('utf8')) as typeof parsed;
      } catch (err) {
        throw new StoreError(StoreErrorCode.CORRUPT, 'unreadable format record', { cause: err });
      }
      if (parsed.version !== FORMAT_VERSION || typeof parsed.bucketMs !== 'number') {
        throw new StoreError(StoreErrorCode.CORRUPT, `unsupported store format ${String(parsed.version)}`);
      }
      // The stored bucket size wins: blocks on disk were cut with it.
      this.bucketMs = parsed.bucketMs;
    }
    this.nextId = Math.max(1, decodeU64(nextId));
    this.seriesCount = decodeU64(series);
    this.pointCount = decodeU64(points);

    const it = this.db.iterator({ gte: Buffer.from([P_LOG]), lt: Buffer.from([P_LOG + 1]) });
    try {
      for (;;) {
        const rows = await it.nextv(256);
        if (rows.length === 0) break;
        for (const [key, value] of rows) {
          const seq = logKeySeq(key);
          readLogRecord(value, (id, ts, v) => this.pending.add(id, ts, v));
          this.pending.seqs.push(seq);
          this.nextSeq = seq + 1;
        }
      }
    } finally {
      await it.close();
    }
    if (this.pending.points > 0) this.notePending();
  }

  get maxWritePoints(): number {
    return this.opts.maxWritePoints;
  }

  /** Bucket size in ms (as stored in the database). */
  get blockSpanMs(): number {
    return this.bucketMs;
  }

  /** Counters without I/O: `points` excludes pending points not yet folded. */
  counters(): StoreCounters {
    return {
      series: this.seriesCount,
      points: this.pointCount,
      pendingPoints: this.pending.points + (this.frozen?.points ?? 0),
    };
  }

  // ---------------------------------------------------------------- writes

  async write(points: readonly StorePoint[], extra?: WriteExtra): Promise<void> {
    if (this.state !== 'open') throw closedError();
    if (!Array.isArray(points)) throw new StoreError(StoreErrorCode.BAD_POINT, 'points must be an array');
    if (points.length > this.opts.maxWritePoints) {
      throw new StoreError(
        StoreErrorCode.WRITE_TOO_LARGE,
        `${points.length} points in one write (limit ${this.opts.maxWritePoints})`,
      );
    }
    const suffixes = new Array<string>(points.length);
    const ids = new Uint32Array(points.length);
    let misses = 0;
    const maxTs = Math.min(this.bucketMs * TWO_32, MAX_TIMESTAMP_MS);
    // Points share tags objects (ingest makes one per host and tag set): build
    // and look up a suffix once per object in this write, then only the metric
    // per point. Runs of one object skip even the map.
    const byTags = new Map<unknown, { suffix: string; entry: TagEntry }>();
    let prevTags: unknown;
    let suffix = '';
    let entry: TagEntry | undefined;
    for (let i = 0; i < points.length; i++) {
      const p = points[i] as StorePoint;
      if (typeof p !== 'object' || p === null)
        throw new StoreError(StoreErrorCode.BAD_POINT, `point ${i} is not an object`);
      if (entry === undefined || p.tags !== prevTags) {
        let known = byTags.get(p.tags);
        if (known === undefined) {
          const s = tagSuffix(p.tags, this.limits);
          known = { suffix: s, entry: this.ids.lookup(s) };
          if (typeof p.tags === 'object' && p.tags !== null) byTags.set(p.tags, known);
        }
        suffix = known.suffix;
        entry = known.entry;
        prevTags = p.tags;
      }
      checkMetric(p.metric, this.limits);
      suffixes[i] = suffix;
      const id = entry.get(p.metric);
      if (id === undefined) {
        misses++;
      } else {
        ids[i] = id;
      }
      const t = p.timestampMs;
      if (!Number.isSafeInteger(t) || t < 0 || t >= maxTs) {
        throw new StoreError(StoreErrorCode.BAD_POINT, `point ${i}: timestampMs must be an integer ms >= 0`);
      }
      if (typeof p.value !== 'number' || !Number.isFinite(p.value)) {
        throw new StoreError(StoreErrorCode.BAD_POINT, `point ${i}: value must be a finite number`);
      }
    }
    const meta = extra?.meta ?? [];
    for (const op of meta) checkMetaOp(op);
    if (points.length === 0 && meta.length === 0) return;
    return new Promise<void>((resolve, reject) => {
      const samples = extra?.countSamples === true ? points.length : 0;
      this.writes.push({ points, suffixes, ids, epoch: this.epoch, misses, meta, samples, resolve, reject });
      this.pump();
    });
  }

  /** Run `fn` inside the write pipeline: no write group or other job runs meanwhile. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.state === 'closed') return Promise.reject(closedError());
    return new Promise<T>((resolve, reject) => {
      this.jobs.push({ run: () => fn().then(resolve, reject) });
      this.jobWaiter?.();
      this.pump();
    });
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    void this.runPump();
  }

  private async runPump(): Promise<void> {
    try {
      for (;;) {
        // One turn of the event loop lets callers whose writes just resolved
        // (and sockets with data) queue more, so the next group is full.
        await nextTurn();
        if (this.writes.length === 0 && this.jobs.length === 0) break;
        // Backpressure: while a checkpoint folds one full set, a second full set
        // waits for it instead of growing memory without bound.
        const overloaded =
          this.pending.points >= this.opts.maxPendingPoints && this.checkpointRun !== undefined;
        if (overloaded && this.jobs.length === 0) {
          const running = this.checkpointRun;
          await new Promise<void>((resolve) => {
            this.jobWaiter = resolve;
            running?.then(resolve, resolve);
          });
          this.jobWaiter = undefined;
          continue;
        }
        const job =
          this.jobs.length > 0 && (this.writes.length === 0 || this.lastWasWrite || overloaded)
            ? this.jobs.shift()
            : undefined;
        if (job !== undefined) {
          this.lastWasWrite = false;
          await job.run();
          continue;
        }
        this.lastWasWrite = true;
        await this.commitGroup(this.takeGroup());
        this.maybeCheckpoint();
      }
    } finally {
      this.pumping = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private whenIdle(): Promise<void> {
    if (!this.pumping && this.writes.length === 0 && this.jobs.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private takeGroup(): WriteTask[] {
    const group: WriteTask[] = [];
    let n = 0;
    while (this.writes.length > 0) {
      const next = this.writes[0] as WriteTask;
      if (group.length > 0 && n + next.points.length > this.opts.maxGroupPoints) break;
      group.push(next);
      n += next.points.length;
      this.writes.shift();
    }
    return group;
  }

  private async commitGroup(group: WriteTask[]): Promise<void> {
    try {
      await this.commitGroupInner(group);
    } catch (err) {
      const e = ioError(err);
      for (const t of group) t.reject(e);
      return;
    }
    for (const t of group) t.resolve();
  }

  private async commitGroupInner(group: WriteTask[]): Promise<void> {
    // Series ids: most came from the cache in write(); look the rest up in the
    // dictionary, and assign new ids to series never seen.
    const missed = new Map<string, { metric: string; suffix: string; id: number }>();
    let total = 0;
    for (const task of group) {
      const { points, suffixes, ids } = task;
      total += points.length;
      if (task.epoch !== this.epoch) {
        for (let i = 0; i < points.length; i++) {
          ids[i] = this.ids.get(suffixes[i] as string, (points[i] as StorePoint).metric) ?? 0;
        }
        task.epoch = this.epoch;
        task.misses = ids.indexOf(0) === -1 ? 0 : 1;
      }
      if (task.misses === 0) continue;
      for (let i = 0; i < points.length; i++) {
        if (ids[i] !== 0) continue;
        const metric = (points[i] as StorePoint).metric;
        const suffix = suffixes[i] as string;
        const key = metric + SEP + suffix;
        if (!missed.has(key)) missed.set(key, { metric, suffix, id: 0 });
      }
    }
    const batch = this.db.batch();
    let nextId = this.nextId;
    let created = 0;
    try {
      if (missed.size > 0) {
        const misses = [...missed.keys()];
        const found = await this.db.getMany(misses.map(seriesDictKey));
        for (let i = 0; i < misses.length; i++) {
          const key = misses[i] as string;
          const miss = missed.get(key) as { id: number };
          const v = found[i];
          if (v !== undefined) {
            miss.id = v.readUInt32BE(0);
            continue;
          }
          const id = nextId++;
          if (id >= TWO_32) throw new StoreError(StoreErrorCode.IO, 'series id space exhausted');
          const idBuf = Buffer.allocUnsafe(4);
          idBuf.writeUInt32BE(id);
          batch.put(seriesDictKey(key), idBuf);
          batch.put(idKey(id), Buffer.from(key, 'utf8'));
          miss.id = id;
          created++;
        }
        if (created > 0) {
          batch.put(K_NEXT_ID, encodeU64(nextId));
          batch.put(K_SERIES, encodeU64(this.seriesCount + created));
        }
        for (const task of group) {
          if (task.misses === 0) continue;
          const { points, suffixes, ids } = task;
          for (let i = 0; i < points.length; i++) {
            if (ids[i] !== 0) continue;
            const key = (points[i] as StorePoint).metric + SEP + (suffixes[i] as string);
            ids[i] = (missed.get(key) as { id: number }).id;
          }
        }
      }
      const seq = this.nextSeq;
      if (total > 0) {
        const w = this.logWriter;
        beginLogRecord(w, total);
        let prevTs = 0;
        for (const task of group) {
          const { points, ids } = task;
          for (let i = 0; i < points.length; i++) {
            const p = points[i] as StorePoint;
            pushLogPoint(w, prevTs, ids[i] as number, p.timestampMs, p.value);
            prevTs = p.timestampMs;
          }
        }
        // put() copies into the native batch, so the writer can be reused.
        batch.put(logKey(seq), w.view());
      }
      for (const task of group) addMetaOps(batch, task.meta);
      await batch.write({ sync: true });

      // Durable: publish.
      this.nextId = nextId;
      this.seriesCount += created;
      for (const m of missed.values()) this.ids.set(m.suffix, m.metric, m.id);
      if (total > 0) {
        this.nextSeq = seq + 1;
        this.pending.seqs.push(seq);
        for (const task of group) {
          const { points, ids } = task;
          this.pending.samples += task.samples;
          for (let i = 0; i < points.length; i++) {
            this.pending.add(
              ids[i] as number,
              (points[i] as StorePoint).timestampMs,
              (points[i] as StorePoint).value,
            );
          }
        }
        this.notePending();
      }
    } finally {
      // A written batch is closed by write(); this covers the failure paths.
      await closeQuietly(batch);
    }
  }

  private notePending(): void {
    if (this.pendingSinceMs !== undefined) return;
    this.pendingSinceMs = this.now();
    this.ageTimer = this.timers.setTimeout(() => {
      this.ageTimer = undefined;
      this.backgroundCheckpoint();
    }, this.opts.maxPendingAgeMs);
  }

  private maybeCheckpoint(): void {
    if (this.checkpointRun !== undefined || this.pending.points === 0) return;
    const old =
      this.pendingSinceMs !== undefined && this.now() - this.pendingSinceMs >= this.opts.maxPendingAgeMs;
    if (this.pending.points >= this.opts.maxPendingPoints || old) this.backgroundCheckpoint();
  }

  private backgroundCheckpoint(): void {
    if (this.state === 'closed') return;
    this.startCheckpoint().catch((err: unknown) => this.onError(err));
  }

  // ------------------------------------------------------------ checkpoint

  /** Fold every point acknowledged before this call into blocks. */
  async flush(): Promise<void> {
    if (this.state === 'closed') throw closedError();
    if (this.checkpointRun !== undefined) await this.checkpointRun.catch(() => {});
    await this.startCheckpoint();
  }

  private startCheckpoint(): Promise<void> {
    if (this.checkpointRun !== undefined) return this.checkpointRun;
    const run = this.runCheckpoint().then(
      () => {
        this.checkpointRun = undefined;
        // Points that arrived during a long checkpoint may already be due.
        if (this.state === 'open') this.maybeCheckpoint();
      },
      (err: unknown) => {
        // No immediate retry: the frozen set is folded again by the next checkpoint.
        this.checkpointRun = undefined;
        throw err;
      },
    );
    this.checkpointRun = run;
    return run;
  }

  private async runCheckpoint(): Promise<void> {
    // A set left frozen by a failed checkpoint goes first: folding is idempotent.
    if (this.frozen !== undefined) await this.foldFrozen(this.frozen);
    if (this.pending.points === 0) return;
    const frozen = this.pending;
    this.frozen = frozen;
    this.pending = new PendingSet();
    this.pendingSinceMs = undefined;
    if (this.ageTimer !== undefined) this.timers.clearTimeout(this.ageTimer);
    this.ageTimer = undefined;
    await this.foldFrozen(frozen);
  }

  /** Fold one frozen set in chunks (writes may run between them), then delete its log records. */
  private async foldFrozen(frozen: PendingSet): Promise<void> {
    const units = this.planFold(frozen);
    const chunk = this.opts.checkpointChunkBlocks;
    let failed: unknown;
    const steps: Array<Promise<void>> = [];
    for (let i = 0; i < units.length; i += chunk) {
      const slice = units.slice(i, i + chunk);
      steps.push(
        this.exclusive(async () => {
          if (failed === undefined) await this.foldChunk(slice);
        }).catch((err: unknown) => {
          failed ??= err;
        }),
      );
    }
    await Promise.all(steps);
    if (failed !== undefined) throw ioError(failed);
    await this.exclusive(async () => {
      const batch = this.db.batch();
      try {
        for (const seq of frozen.seqs) batch.del(logKey(seq));
        await batch.write({ sync: false });
      } finally {
        await closeQuietly(batch);
      }
    }).catch((err: unknown) => {
      throw ioError(err);
    });
    this.frozen = undefined;
    // Only now, once: a set whose checkpoint failed part-way is folded again (idempotent for points).
    this.foldedSamples += frozen.samples;
  }

  private planFold(set: PendingSet): FoldUnit[] {
    const units: FoldUnit[] = [];
    const span = this.bucketMs;
    for (const [id, sp] of set.series) {
      const { ts, vals } = normalize(sp.ts, sp.vals);
      let start = 0;
      while (start < ts.length) {
        const bucket = Math.floor((ts[start] as number) / span);
        const limit = (bucket + 1) * span;
        let end = start + 1;
        while (end < ts.length && (ts[end] as number) < limit) end++;
        units.push({ id, bucket, ts, vals, start, end });
        start = end;
      }
    }
    // Key order: the batch then touches the key space sequentially.
    units.sort((a, b) => a.id - b.id || a.bucket - b.bucket);
    return units;
  }

  private async foldChunk(units: FoldUnit[]): Promise<void> {
    if (this.state === 'closed') throw closedError();
    const keys = units.map((u) => blockKey(u.id, u.bucket));
    const olds = await this.db.getMany(keys);
    const batch = this.db.batch();
    const w = this.writer;
    let delta = 0;
    try {
      for (let i = 0; i < units.length; i++) {
        const u = units[i] as FoldUnit;
        const old = olds[i];
        const start = u.bucket * this.bucketMs;
        w.reset();
        if (old === undefined) {
          encodeBlock(w, start, u.ts, u.vals, u.start, u.end);
          delta += u.end - u.start;
        } else {
          const oTs: number[] = [];
          const oVals: number[] = [];
          const oldN = decodeBlock(old, start, oTs, oVals);
          const merged = mergeSorted(oTs, oVals, u.ts.slice(u.start, u.end), u.vals.slice(u.start, u.end));
          encodeBlock(w, start, merged.ts, merged.vals, 0, merged.ts.length);
          delta += merged.ts.length - oldN;
        }
        batch.put(keys[i] as Buffer, w.copy());
      }
      batch.put(K_POINTS, encodeU64(this.pointCount + delta));
      await batch.write({ sync: false });
    } finally {
      await closeQuietly(batch);
    }
    this.pointCount += delta;
  }

  // ---------------------------------------------------------------- reads

  async query(q: SeriesQuery): Promise<SeriesResult[]> {
    this.checkReadable();
    if (typeof q !== 'object' || q === null) throw badQuery('query must be an object');
    try {
      checkMetric(q.metric, this.limits);
    } catch (err) {
      throw badQuery((err as Error).message);
    }
    const { fromMs, toMs } = q;
    if (!Number.isSafeInteger(fromMs) || !Number.isSafeInteger(toMs) || fromMs > toMs) {
      throw badQuery('fromMs and toMs must be integers with fromMs <= toMs');
    }
    const filter = q.tags ?? {};
    if (typeof filter !== 'object' || filter === null) throw badQuery('tags must be an object');
    let budget = q.limit ?? DEFAULT_QUERY_LIMIT;
    const maxSeries = q.maxSeries ?? 10_000;
    if (!(budget >= 0) || !(maxSeries >= 0)) throw badQuery('limit and maxSeries must be >= 0');

    const matched: Array<{ id: number; metric: string; tags: Record<string, string> }> = [];
    const prefix = seriesDictKey(q.metric + SEP);
    await scan(this.db, prefix, 1024, (key, value) => {
      const parsed = parseSeriesKey(key.toString('utf8', 1));
      if (!tagsMatch(parsed.tags, filter)) return true;
      matched.push({ id: value.readUInt32BE(0), ...parsed });
      return matched.length < maxSeries;
    });

    const out: SeriesResult[] = [];
    const lo = Math.max(0, fromMs);
    for (const s of matched) {
      if (budget <= 0) break;
      const r = await this.readSeries(s.id, lo, toMs);
      if (r.ts.length === 0) continue;
      if (r.ts.length > budget) {
        r.ts.length = budget;
        r.vals.length = budget;
      }
      budget -= r.ts.length;
      out.push({ metric: s.metric, tags: s.tags, timestampsMs: r.ts, values: r.vals });
    }
    return out;
  }

  /** Points of one series in [fromMs, toMs), ascending, pending merged over blocks. */
  private async readSeries(
    id: number,
    fromMs: number,
    toMs: number,
  ): Promise<{ ts: number[]; vals: number[] }> {
    if (toMs <= fromMs) return { ts: [], vals: [] };
    // Pending first (see the invariants above): oldest set first, so later writes win in normalize().
    const pTs: number[] = [];
    const pVals: number[] = [];
    this.frozen?.collect(id, fromMs, toMs, pTs, pVals);
    this.pending.collect(id, fromMs, toMs, pTs, pVals);
    const pend = normalize(pTs, pVals);

    const span = this.bucketMs;
    const firstBucket = Math.floor(fromMs / span);
    const lastBucket = Math.min(TWO_32 - 1, Math.floor((toMs - 1) / span));
    const bTs: number[] = [];
    const bVals: number[] = [];
    let rows: Array<[Buffer, Buffer]>;
    try {
      rows = await this.db.iterator({ gte: blockKey(id, firstBucket), lte: blockKey(id, lastBucket) }).all();
    } catch (err) {
      throw ioError(err);
    }
    for (const [key, value] of rows) {
      decodeBlock(value, blockKeyBucket(key) * span, bTs, bVals, fromMs, toMs);
    }
    return mergeSorted(bTs, bVals, pend.ts, pend.vals);
  }

  async listSeries(options: ListSeriesOptions): Promise<SeriesInfo[]> {
    this.checkReadable();
    const limit = options?.limit;
    if (!Number.isSafeInteger(limit) || limit < 0) throw badQuery('limit must be an integer >= 0');
    let prefix: Buffer;
    if (options.metric !== undefined) {
      try {
        checkMetric(options.metric, this.limits);
      } catch (err) {
        throw badQuery((err as Error).message);
      }
      prefix = seriesDictKey(options.metric + SEP);
    } else {
      if (options.prefix !== undefined && typeof options.prefix !== 'string')
        throw badQuery('prefix must be a string');
      prefix = seriesDictKey(options.prefix ?? '');
    }
    const out: SeriesInfo[] = [];
    if (limit === 0) return out;
    await scan(this.db, prefix, Math.min(limit, 1024), (key) => {
      out.push(parseSeriesKey(key.toString('utf8', 1)));
      return out.length < limit;
    });
    return out;
  }

  async getMeta(key: string): Promise<Buffer | undefined> {
    this.checkReadable();
    return getMeta(this.db, key);
  }

  async listMeta(prefix: string, limit = 10_000): Promise<Array<[string, Buffer]>> {
    this.checkReadable();
    return listMeta(this.db, prefix, limit);
  }

  async stats(): Promise<StoreStats> {
    await this.flush();
    // Read together, right after the flush: no fold is part-way now (a checkpoint the flush let
    // start has folded nothing yet, that takes I/O), so points and samples cover the same writes.
    return { series: this.seriesCount, points: this.pointCount, samples: this.foldedSamples };
  }

  private checkReadable(): void {
    if (this.state === 'closed') throw closedError();
  }

  // ------------------------------------------------------------- retention

  async applyRetention(olderThanMs: number): Promise<RetentionResult> {
    if (this.state !== 'open') throw closedError();
    if (!Number.isSafeInteger(olderThanMs) || olderThanMs < 0)
      throw badQuery('olderThanMs must be an integer >= 0');
    const run = this.runRetention(olderThanMs);
    this.ops.add(run);
    try {
      return await run;
    } finally {
      this.ops.delete(run);
    }
  }

  private async runRetention(cutoffMs: number): Promise<RetentionResult> {
    // Fold first, so old points are all in blocks and none hides in a log record
    // that a crash would replay after the blocks were trimmed.
    await this.flush();
    const result: RetentionResult = { deletedPoints: 0, deletedSeries: 0 };
    let after = 0;
    for (;;) {
      const r = await this.exclusive(() => this.retentionSlice(after, cutoffMs, 256));
      result.deletedPoints += r.deletedPoints;
      result.deletedSeries += r.deletedSeries;
      if (r.lastId === undefined) break;
      after = r.lastId + 1;
    }
    return result;
  }

  private async retentionSlice(
    fromId: number,
    cutoffMs: number,
    count: number,
  ): Promise<RetentionResult & { lastId: number | undefined }> {
    if (this.state === 'closed') throw closedError();
    const span = this.bucketMs;
    const cutBucket = Math.floor(cutoffMs / span);
    const series = await this.db
      .iterator({ gte: idKey(fromId), lt: Buffer.from([P_ID + 1]), limit: count })
      .all()
      .catch((err: unknown) => {
        throw ioError(err);
      });
    if (series.length === 0) return { deletedPoints: 0, deletedSeries: 0, lastId: undefined };
    const batch = this.db.batch();
    let deletedPoints = 0;
    const removed: string[] = [];
    try {
      for (const [ik, keyBuf] of series) {
        const id = ik.readUInt32BE(1);
        const rows = await this.db.iterator({ gte: blockKey(id, 0), lte: blockKey(id, cutBucket) }).all();
        let kept = false;
        for (const [bk, value] of rows) {
          const bucket = blockKeyBucket(bk);
          if ((bucket + 1) * span <= cutoffMs) {
            deletedPoints += blockCount(value);
            batch.del(bk);
            continue;
          }
          const ts: number[] = [];
          const vals: number[] = [];
          const n = decodeBlock(value, bucket * span, ts, vals, cutoffMs, Infinity);
          deletedPoints += n - ts.length;
          if (ts.length === 0) {
            batch.del(bk);
          } else {
            kept = true;
            if (ts.length < n) {
              this.writer.reset();
              encodeBlock(this.writer, bucket * span, ts, vals, 0, ts.length);
              batch.put(bk, this.writer.copy());
            }
          }
        }
        if (kept) continue;
        if (this.pending.series.has(id) || this.frozen?.series.has(id)) continue;
        const end = blockKey(id, TWO_32 - 1);
        const later = await this.db.keys({ gt: blockKey(id, cutBucket), lte: end, limit: 1 }).all();
        if (later.length > 0) continue;
        const key = keyBuf.toString('utf8');
        batch.del(seriesDictKey(key));
        batch.del(ik);
        removed.push(key);
      }
      if (deletedPoints > 0) batch.put(K_POINTS, encodeU64(this.pointCount - deletedPoints));
      if (removed.length > 0) batch.put(K_SERIES, encodeU64(this.seriesCount - removed.length));
      if (deletedPoints > 0 || removed.length > 0) await batch.write({ sync: false });
    } catch (err) {
      throw ioError(err);
    } finally {
      await closeQuietly(batch);
    }
    this.pointCount -= deletedPoints;
    this.seriesCount -= removed.length;
    for (const key of removed) {
      const cut = key.indexOf(SEP);
      this.ids.delete(key.slice(cut + 1), key.slice(0, cut));
    }
    if (removed.length > 0) this.epoch++;
    const last = series[series.length - 1] as [Buffer, Buffer];
    return { deletedPoints, deletedSeries: removed.length, lastId: last[0].readUInt32BE(1) };
  }

  // ----------------------------------------------------------------- close

  /** Finish queued writes and jobs, fold pending points, close RocksDB. Idempotent. */
  close(): Promise<void> {
    this.closeRun ??= this.runClose();
    return this.closeRun;
  }

  private async runClose(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closing';
    let error: unknown;
    try {
      await Promise.allSettled([...this.ops]);
      await this.whenIdle();
      // Folding now makes the next open quick; if it fails the log records replay instead.
      await this.flush().catch((err: unknown) => {
        error = err;
      });
      await this.whenIdle();
    } finally {
      this.state = 'closed';
      if (this.ageTimer !== undefined) this.timers.clearTimeout(this.ageTimer);
      this.ageTimer = undefined;
      await this.db.close().catch((err: unknown) => {
        error ??= ioError(err);
      });
    }
    if (error !== undefined) throw error;
  }
}
