/**
 * RocksSpool: the relay's durable spool on @nxtedition/rocksdb.
 *
 * Layout. `<dir>/seg-<first seq, 16 hex>/` are segments, each its own RocksDB
 * instance holding the records with seq in [first, next segment's first);
 * format.ts gives the key/value/meta layout. The newest segment is the active
 * one: all appends go there. A segment rolls (a new one is started) once
 * `segmentBytes` have been appended to it. `<dir>/trash-*` are segments being
 * deleted.
 *
 * Why segments: the binding has no DeleteRange-in-batch, CompactRange or
 * DeleteFilesInRange, and a single RocksDB used as a queue keeps deleted
 * records on disk until compaction happens to reach them (measured: 8-25% over
 * the live data for 16-64 MB, 2-4x for 1-4 MB). Removing a whole segment
 * directory frees its space at once and exactly, so the disk cap is enforced
 * on measured bytes, not on hope. Space freed by releasing part of a segment
 * comes back through RocksDB compaction or when the rest is released.
 *
 * Meta. Each segment's meta key (JSON) holds its counters (appended, live,
 * age-dropped) and is rewritten in the same synced batch as every data change
 * of that segment, so counters are exact after any crash. The newest segment's
 * meta also holds the spool id, the counters of removed segments (`retired`)
 * and `pending`: segments whose counters were retired but whose directories
 * may still exist.
 *
 * Invariants.
 * - append() resolves only after the synced batch holding its records (one
 *   fdatasync per batch, one batch per group of appends) returned.
 * - Seqs are never reused: the newest meta's `next` survives releases, and a
 *   segment never holds more than SEGMENT_MAX_RECORDS seqs, which bounds the
 *   seqs of a segment lost to damage.
 * - A segment leaves the spool by: (1) its counters are added to `retired` and
 *   its first seq to `pending` in the active segment's meta, synced; (2) its
 *   directory is renamed to trash-* and the parent directory fsynced; (3) the
 *   trash is deleted. A crash between (1) and (2) leaves a directory listed in
 *   `pending`, deleted on open without counting it twice.
 * - The active segment is never removed; an empty sealed segment always is.
 *
 * Modules. segment-log.ts keeps the segments and stages and commits their
 * changes; recovery.ts opens a directory (damage moved aside, WAL tails cut,
 * counters rebuilt); segment.ts is one segment, format.ts its bytes. This
 * file is the Spool: the caps and the policy, group commit, reads.
 *
 * Disk cap. `maxBytes` bounds the bytes on disk, not the logical bytes. The
 * estimate is the last measured size of each segment directory plus twice the
 * bytes written to it since (WAL, then SST), plus a reserve for RocksDB's
 * flush/compaction transients; segments are re-measured when the estimate
 * nears the cap. Under 'drop-oldest' whole oldest segments are dropped (their
 * live records and samples counted) until the append fits, so drops come in
 * steps of about maxBytes/16. A dropped record may be in a batch in flight:
 * its release then removes nothing for it, and says so (Released). Released records in a sealed segment keep their
 * space until the whole segment is released (they count against the cap,
 * which matters under 'reject-new'). Measured peaks of the directory size
 * with incompressible 170-byte records, appending 2-3x the cap: 78% of the cap
 * at 1 MiB (fixed per-segment files dominate), 93% at 4-8 MiB, 99.2% at
 * 16 MiB, 99.7% at 64 MiB; never above it.
 *
 * Group commit. append() and release() queue work and schedule one task with
 * setImmediate: everything queued by then becomes one synced batch on the
 * active segment (one fdatasync), plus one per sealed segment touched.
 */
import path from 'node:path';
import {
  DEFAULT_READ_MAX_BYTES,
  DEFAULT_READ_MAX_RECORDS,
  type ReadLimits,
  type Released,
  type SeqRange,
  type Spool,
  type SpoolEntry,
  type SpoolLogger,
  type SpoolPolicy,
  type SpoolRecord,
  type SpoolStats,
} from './spool.js';
import { SpoolError, SpoolErrorCode } from './errors.js';
import { SerialQueue } from './serial-queue.js';
import { rocksCause } from '../../rocks/index.js';
import { segmentSizes } from './segment.js';
import { dirBytes } from './disk-usage.js';
import { attributeReleased, checkRecords, mergeRanges, noopLogger } from './common.js';
import { SegmentLog } from './segment-log.js';
import { recoverSegments, SEGMENT_MAX_RECORDS } from './recovery.js';

export interface RocksSpoolOptions {
  /** Spool directory (created if missing). */
  dir: string;
  /** Disk cap in bytes for everything under `dir`. Default 1 GiB, at least 1 MiB. */
  maxBytes?: number;
  /** Records older than this are dropped (and counted). Default: no age cap. */
  maxAgeMs?: number;
  /** Default 'drop-oldest'. */
  policy?: SpoolPolicy;
  /** Clock for receivedAt and the age cap. Default Date.now. */
  now?: () => number;
  logger?: SpoolLogger;
  /** How often the age cap is applied (on append, and by a timer while idle; 0: no timer). Default 1000. */
  sweepIntervalMs?: number;
  /** Run the idle sweep timer (default true). A WorkerSpool's main side runs it instead, with its clock. */
  sweepTimer?: boolean;
  /** Logical bytes appended to a segment before a new one is started. Default maxBytes/16 within [256 KiB, 256 MiB]. */
  segmentBytes?: number;
  /** Sealed segments kept open besides the active one. Default 4. */
  maxOpenSegments?: number;
}

const MIN_MAX_BYTES = 1 << 20;
const DEFAULT_MAX_BYTES = 1 << 30;
const MAX_RECORDS_PER_APPEND = 1 << 20;

interface PendingAppend {
  records: readonly SpoolRecord[];
  bytes: number;
  samples: number;
  /** Set once the records are durable; the promise settles when the whole task is done. */
  range?: SeqRange;
  /** Set when the append was refused. */
  error?: unknown;
  resolve: (range: SeqRange) => void;
  reject: (err: unknown) => void;
}

interface PendingRelease {
  first: number;
  last: number;
  /** What this release removed, set by applyReleases(). */
  removed: Released;
  resolve: (removed: Released) => void;
  reject: (err: unknown) => void;
}

/** Open (creating or recovering as needed) the spool in `options.dir`. */
export async function openRocksSpool(options: RocksSpoolOptions): Promise<RocksSpool> {
  const spool = new RocksSpool(options);
  try {
    await spool.openInternal();
  } catch (err) {
    await spool.close().catch(() => undefined);
    if (err instanceof SpoolError) throw err;
    throw new SpoolError(SpoolErrorCode.IO, `cannot open spool ${spool.dir}: ${rocksCause(err).message}`, {
      retriable: true,
      cause: err,
    });
  }
  return spool;
}

export class RocksSpool implements Spool {
  readonly dir: string;
  readonly maxBytes: number;
  readonly maxAgeMs: number;
  readonly policy: SpoolPolicy;
  readonly segmentBytes: number;
  /** Bytes kept free for RocksDB's flush and compaction transients. */
  readonly reserveBytes: number;
  private readonly now: () => number;
  private readonly log: SpoolLogger;
  private readonly sweepIntervalMs: number;
  private readonly sweepTimer: boolean;
  /** The segments and their staged changes; touched only inside tasks of `queue`. */
  private readonly store: SegmentLog;

  private rejected = 0;
  private lastSweepAt = -Infinity;
  private readonly queue = new SerialQueue();
  private appends: PendingAppend[] = [];
  private releases: PendingRelease[] = [];
  private flushScheduled = false;
  private closing: Promise<void> | undefined;
  private failure: SpoolError | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;

  /** Use openRocksSpool(). */
  constructor(options: RocksSpoolOptions) {
    this.dir = path.resolve(options.dir);
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    if (!Number.isSafeInteger(this.maxBytes) || this.maxBytes < MIN_MAX_BYTES) {
      throw new RangeError(`maxBytes must be an integer >= ${MIN_MAX_BYTES}`);
    }
    this.maxAgeMs = options.maxAgeMs ?? Infinity;
    if (!(this.maxAgeMs > 0)) throw new RangeError('maxAgeMs must be > 0');
    this.policy = options.policy ?? 'drop-oldest';
    if (this.policy !== 'drop-oldest' && this.policy !== 'reject-new') throw new RangeError('bad policy');
    this.now = options.now ?? Date.now;
    this.log = options.logger ?? noopLogger;
    this.sweepIntervalMs = options.sweepIntervalMs ?? 1000;
    this.sweepTimer = options.sweepTimer ?? true;
    const { segmentBytes, reserveBytes, rocksOptions } = segmentSizes(this.maxBytes, options.segmentBytes);
    this.segmentBytes = segmentBytes;
    this.reserveBytes = reserveBytes;
    this.store = new SegmentLog({
      dir: this.dir,
      rocksOptions,
      now: this.now,
      log: this.log,
      segmentBytes,
      reserveBytes,
      maxOpenSegments: options.maxOpenSegments ?? 4,
    });
  }

  get spoolId(): string {
    return this.store.id;
  }

  // ---- public API ------------------------------------------------------------

  append(records: readonly SpoolRecord[]): Promise<SeqRange> {
    const refused = this.refuse();
    if (refused) return Promise.reject(refused);
    let bytes: number;
    let samples: number;
    try {
      if (records.length > MAX_RECORDS_PER_APPEND) {
        throw new SpoolError(
          SpoolErrorCode.BAD_RECORD,
          `more than ${MAX_RECORDS_PER_APPEND} records in one append`,
        );
      }
      ({ bytes, samples } = checkRecords(records));
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<SeqRange>((resolve, reject) => {
      this.appends.push({ records, bytes, samples, resolve, reject });
      this.scheduleFlush();
    });
  }

  read(fromSeq: number, limits: ReadLimits = {}): Promise<SpoolEntry[]> {
    const refused = this.refuse();
    if (refused) return Promise.reject(refused);
    const maxRecords = limits.maxRecords ?? DEFAULT_READ_MAX_RECORDS;
    const maxBytes = limits.maxBytes ?? DEFAULT_READ_MAX_BYTES;
    if (!(maxRecords >= 1) || !(maxBytes >= 1) || !Number.isFinite(fromSeq)) {
      return Promise.reject(new RangeError('bad read arguments'));
    }
    return this.queue.run(() => this.guard(() => this.store.read(fromSeq, maxRecords, maxBytes)));
  }

  release(first: number, last: number): Promise<Released> {
    const refused = this.refuse();
    if (refused) return Promise.reject(refused);
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last)) {
      return Promise.reject(new RangeError('release bounds must be integers'));
    }
    if (last < first || last < 1) return Promise.resolve({ records: 0, samples: 0 });
    return new Promise<Released>((resolve, reject) => {
      const removed = { records: 0, samples: 0 };
      this.releases.push({ first: Math.max(1, first), last, removed, resolve, reject });
      this.scheduleFlush();
    });
  }

  sweep(): Promise<void> {
    const refused = this.refuse();
    if (refused) return Promise.reject(refused);
    return this.queue.run(() =>
      this.guard(async () => {
        await this.sweepAge();
        await this.store.finalize();
      }),
    );
  }

  firstSeq(): number {
    return this.store.firstSeq();
  }

  nextSeq(): number {
    return this.store.next;
  }

  stats(): SpoolStats {
    const t = this.store.totals();
    return {
      spoolId: this.store.id,
      records: t.records,
      samples: t.samples,
      bytes: t.bytes,
      diskBytes: t.diskBytes,
      firstSeq: this.firstSeq(),
      nextSeq: this.store.next,
      oldestReceivedAt: t.oldestReceivedAt,
      ageMs: t.oldestReceivedAt === undefined ? 0 : Math.max(0, this.now() - t.oldestReceivedAt),
      ...t.counters,
      rejectedRecords: this.rejected,
      maxBytes: this.maxBytes,
      maxAgeMs: this.maxAgeMs,
      policy: this.policy,
    };
  }

  diskBytes(): Promise<number> {
    return dirBytes(this.dir);
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    if (this.timer) clearInterval(this.timer);
    // Pending appends and releases already queued are still carried out (or
    // rejected, if the storage failed).
    const flushed = this.queue.run(() => this.flushTask());
    this.closing = flushed.catch(() => undefined).then(() => this.queue.run(() => this.store.closeAll()));
    return this.closing;
  }

  // ---- scheduling --------------------------------------------------------------

  private refuse(): SpoolError | undefined {
    if (this.closing) return new SpoolError(SpoolErrorCode.CLOSED, 'spool is closed');
    return this.failure;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // setImmediate, not a microtask: every append made in this turn of the
    // event loop (and those arriving while a batch is being written) joins
    // the same synced batch.
    setImmediate(() => void this.queue.run(() => this.flushTask()));
  }

  /** Run `fn`; a storage error makes the spool refuse all further work. */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    if (this.failure) throw this.failure;
    try {
      return await fn();
    } catch (err) {
      if (err instanceof SpoolError || err instanceof RangeError) throw err;
      this.fail(err);
      throw this.failure;
    }
  }

  private fail(err: unknown): void {
    if (this.failure) return;
    this.failure = new SpoolError(SpoolErrorCode.IO, `spool storage failed: ${rocksCause(err).message}`, {
      retriable: true,
      cause: err,
    });
    this.log.error({ err, dir: this.dir }, 'spool storage failed; refusing further work until reopened');
  }

  /** One group commit: the releases, the age cap when due, then the appends queued since the last. */
  private async flushTask(): Promise<void> {
    this.flushScheduled = false;
    const appends = this.appends;
    const releases = this.releases;
    this.appends = [];
    this.releases = [];
    if (appends.length === 0 && releases.length === 0) return;
    if (this.failure) {
      for (const a of appends) a.reject(this.failure);
      for (const r of releases) r.reject(this.failure);
      return;
    }
    let failed: unknown;
    try {
      await this.applyReleases(releases);
      if (this.now() - this.lastSweepAt >= this.sweepIntervalMs) await this.sweepAge();
      for (const a of appends) await this.stageAppend(a);
      await this.store.finalize();
    } catch (err) {
      if (!(err instanceof SpoolError)) this.fail(err);
      failed = this.failure ?? err;
      this.store.discardStaged();
    }
    // Settle only now, so callers see the state (heads, counters) after the whole task.
    for (const a of appends) {
      // Durable records are acknowledged even if a later step failed.
      if (a.range) a.resolve(a.range);
      else a.reject(a.error ?? failed);
    }
    for (const r of releases) {
      if (failed === undefined) r.resolve(r.removed);
      else r.reject(failed);
    }
  }

  // ---- appends -----------------------------------------------------------------

  private async stageAppend(a: PendingAppend): Promise<void> {
    const n = a.records.length;
    const store = this.store;
    if (n === 0) {
      a.range = { first: store.next, last: store.next - 1 };
      return;
    }
    // Start a new segment when this append would overfill the active one.
    const used = store.activeMeta.appendedBytes;
    const spanned = store.next - store.active.first;
    if ((used > 0 && used + a.bytes > this.segmentBytes) || spanned + n > SEGMENT_MAX_RECORDS) {
      await store.roll();
    }
    if (!(await this.makeRoom(a))) return;
    await store.stageAppend(a, this.now(), (range) => (a.range = range));
  }

  /**
   * Make room under the disk cap for `a` (twice its bytes: WAL, then SST): re-measure, then under
   * drop-oldest drop whole oldest segments (or seal a full active one so it can go next). False,
   * with `a.error` set, when it cannot fit: the cap under reject-new, or larger than the spool.
   */
  private async makeRoom(a: PendingAppend): Promise<boolean> {
    const store = this.store;
    const cost = 2 * a.bytes;
    while (store.diskEstimate() + cost > this.maxBytes) {
      if (store.remeasure()) continue;
      if (this.policy === 'reject-new') {
        this.rejected += a.records.length;
        a.error = new SpoolError(SpoolErrorCode.FULL, `spool is full (${this.maxBytes} bytes)`, {
          retriable: true,
        });
        return false;
      }
      const oldest = store.segments[0];
      if (oldest && oldest !== store.active) {
        await store.dropSegment(oldest);
        continue;
      }
      if (store.activeMeta.appendedRecords > 0) {
        await store.roll();
        continue;
      }
      this.rejected += a.records.length;
      a.error = new SpoolError(
        SpoolErrorCode.RECORD_TOO_LARGE,
        `append of ${a.bytes} bytes cannot fit in a spool of ${this.maxBytes} bytes`,
      );
      return false;
    }
    return true;
  }

  // ---- releases and age cap ---------------------------------------------------------

  /** Delete the released ranges (merged: one scan and batch per segment), then say what each removed. */
  private async applyReleases(releases: PendingRelease[]): Promise<void> {
    if (releases.length === 0) return;
    /** (seq, samples) of every record deleted, seq ascending: ranges and segments are taken in order. */
    const deleted: number[] = [];
    for (const [lo, hi] of mergeRanges(releases.map((r) => [r.first, r.last]))) {
      for (const seg of [...this.store.segments]) {
        if (seg.meta.liveRecords === 0 || seg.meta.next <= lo || seg.first > hi) continue;
        await this.store.deleteIn(seg, lo, hi + 1, undefined, deleted);
      }
    }
    attributeReleased(releases, deleted);
  }

  /** Drop (and count) every record older than the age cap: whole sealed segments when they can go whole. */
  private async sweepAge(): Promise<void> {
    const now = this.now();
    this.lastSweepAt = now;
    if (this.maxAgeMs === Infinity) return;
    const dropped = await this.store.dropOlderThan(now - this.maxAgeMs);
    if (dropped > 0)
      this.log.warn({ records: dropped, maxAgeMs: this.maxAgeMs }, 'spool dropped records past the age cap');
  }

  // ---- open ----------------------------------------------------------------------------

  /** @internal Used by openRocksSpool. */
  async openInternal(): Promise<void> {
    const store = this.store;
    await recoverSegments(store, this.log, this.now());
    const active = store.segments[store.segments.length - 1];
    if (!active || active.meta.next !== store.next || store.next - active.first >= SEGMENT_MAX_RECORDS) {
      await store.roll();
    }
    await store.finalize();
    const s = this.stats();
    this.log.info(
      {
        dir: this.dir,
        spoolId: store.id,
        segments: store.segments.length,
        records: s.records,
        firstSeq: s.firstSeq,
        nextSeq: s.nextSeq,
        diskBytes: s.diskBytes,
      },
      'spool opened',
    );
    if (this.sweepTimer && this.sweepIntervalMs > 0 && this.maxAgeMs !== Infinity) {
      this.timer = setInterval(() => {
        if (!this.closing && !this.failure) void this.sweep().catch(() => undefined);
      }, this.sweepIntervalMs);
      this.timer.unref();
    }
  }
}
