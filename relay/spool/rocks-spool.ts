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
 * Recovery on open. RocksDB replays each segment's WAL (point-in-time
 * recovery), after a damaged tail has been cut off (rocks/wal-tail.ts: RocksDB
 * can loop forever on some; the bytes go to `<dir>.damaged-<ms>/`). A segment that cannot be opened (corrupt CURRENT/MANIFEST, ...),
 * or whose meta is missing or unreadable while it holds data, is moved to
 * `<dir>.damaged-<ms>/` with an error log line and the spool opens without it;
 * the next seq then skips past its range. A segment with neither meta nor data
 * (crash while creating it) is deleted. Anything else in `<dir>` is moved aside
 * too. A lock held by another process, or an I/O error such as a full disk,
 * is not damage: open throws OWL_ERR_SPOOL_LOCKED / OWL_ERR_SPOOL_IO.
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
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
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
import { Segment } from './segment.js';
import { rocksCause, type RocksBatchOp, type RocksOpenOptions } from '../../rocks/index.js';
import { dirBytes, fsyncDirSync } from './disk-usage.js';
import { cutDamagedWalTails } from '../../rocks/index.js';
import {
  decodeKey,
  decodeValue,
  encodeKey,
  encodeValue,
  newRetired,
  newSegmentMeta,
  parseSegmentName,
  TRASH_PREFIX,
  type RetiredCounters,
  type SegmentMeta,
} from './format.js';
import { checkRecords, mergeRanges, noopLogger } from './common.js';

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

/** Most seqs one segment may span; bounds the seqs lost with a damaged segment. */
export const SEGMENT_MAX_RECORDS = 2 ** 24;
export const MIN_MAX_BYTES = 1 << 20;
const DEFAULT_MAX_BYTES = 1 << 30;
/** Rows per iterator step and per delete batch. */
const CHUNK = 4096;
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
  private readonly maxOpenSegments: number;
  private readonly rocksOptions: RocksOpenOptions;

  private id = '';
  private segments: Segment[] = [];
  private retired: RetiredCounters = newRetired();
  private pendingRemoval = new Set<number>();
  private toRemove: Segment[] = [];
  private next = 1;
  private rejected = 0;
  private lastSweepAt = -Infinity;
  private tick = 0;

  private readonly queue = new SerialQueue();
  private appends: PendingAppend[] = [];
  private releases: PendingRelease[] = [];
  private flushScheduled = false;
  /** Uncommitted changes to the active segment, written with the next active commit. */
  private activeOps: RocksBatchOp[] = [];
  private activeDraft: SegmentMeta | undefined;
  private activeDone: Array<() => void> = [];
  /** Logical bytes in activeOps, not yet in any segment's disk estimate. */
  private stagedBytes = 0;

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
    this.maxOpenSegments = options.maxOpenSegments ?? 4;
    this.segmentBytes = options.segmentBytes ?? clamp(Math.floor(this.maxBytes / 16), 256 << 10, 256 << 20);
    // A quarter of the budget is one memtable; flushes happen at about two.
    const budget = clamp(Math.floor(this.segmentBytes / 8), 256 << 10, 16 << 20);
    this.reserveBytes = budget + (64 << 10);
    this.rocksOptions = {
      compaction: 'level',
      memtableMemoryBudget: budget,
      // Not ZSTD-with-dictionaries everywhere: dictionary training makes
      // compaction too slow to keep up, and deleted data then lingers.
      compression: false,
      compactionPriority: 'byCompensatedSize',
      cacheSize: 0,
      blockSize: 16 << 10,
      filterPolicy: '',
    };
  }

  get spoolId(): string {
    return this.id;
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
    return this.queue.run(() => this.guard(() => this.readTask(fromSeq, maxRecords, maxBytes)));
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
        await this.finalize();
      }),
    );
  }

  firstSeq(): number {
    for (const seg of this.segments) {
      if (seg.meta.liveRecords > 0) return seg.headSeq ?? seg.first;
    }
    return this.next;
  }

  nextSeq(): number {
    return this.next;
  }

  stats(): SpoolStats {
    let records = 0;
    let samples = 0;
    let bytes = 0;
    let disk = 0;
    let oldest: number | undefined;
    const c = { ...this.retired };
    for (const seg of this.segments) {
      const m = seg.meta;
      records += m.liveRecords;
      samples += m.liveSamples;
      bytes += m.liveBytes;
      disk += seg.diskEstimate;
      c.appendedRecords += m.appendedRecords;
      c.appendedSamples += m.appendedSamples;
      c.droppedRecords += m.droppedRecords;
      c.droppedSamples += m.droppedSamples;
      if (oldest === undefined && m.liveRecords > 0) oldest = seg.headReceivedAt;
    }
    return {
      spoolId: this.id,
      records,
      samples,
      bytes,
      diskBytes: disk,
      firstSeq: this.firstSeq(),
      nextSeq: this.next,
      oldestReceivedAt: oldest,
      ageMs: oldest === undefined ? 0 : Math.max(0, this.now() - oldest),
      ...c,
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
    this.closing = flushed
      .catch(() => undefined)
      .then(() =>
        this.queue.run(async () => {
          for (const seg of this.segments) await seg.closeHandle().catch(() => undefined);
        }),
      );
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
      await this.finalize();
    } catch (err) {
      if (!(err instanceof SpoolError)) this.fail(err);
      failed = this.failure ?? err;
      this.activeOps = [];
      this.activeDraft = undefined;
      this.activeDone = [];
      this.stagedBytes = 0;
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

  // ---- the active segment's pending batch --------------------------------------

  private get active(): Segment {
    const seg = this.segments[this.segments.length - 1];
    if (!seg) throw new Error('spool has no active segment');
    return seg;
  }

  private draft(seg: Segment): SegmentMeta {
    if (seg === this.active) return (this.activeDraft ??= cloneMeta(seg.meta));
    return cloneMeta(seg.meta);
  }

  /** Write the active segment's pending ops and meta (with current retired/pending) as one synced batch. */
  private async commitActive(force = false): Promise<void> {
    if (!force && this.activeOps.length === 0 && this.activeDraft === undefined) return;
    const seg = this.active;
    const meta = this.activeDraft ?? cloneMeta(seg.meta);
    meta.retired = { ...this.retired };
    meta.pending = [...this.pendingRemoval];
    const ops = this.activeOps;
    const done = this.activeDone;
    this.activeOps = [];
    this.activeDraft = undefined;
    this.activeDone = [];
    this.stagedBytes = 0;
    this.touch(seg);
    await seg.commit(ops, meta);
    for (const fn of done) fn();
  }

  /** Commit a change to a sealed segment at once (its own synced batch). */
  private async commitSealed(seg: Segment, ops: RocksBatchOp[], meta: SegmentMeta): Promise<void> {
    meta.retired = { ...this.retired };
    meta.pending = [...this.pendingRemoval];
    this.touch(seg);
    await seg.commit(ops, meta);
  }

  // ---- appends -----------------------------------------------------------------

  private async stageAppend(a: PendingAppend): Promise<void> {
    const n = a.records.length;
    if (n === 0) {
      a.range = { first: this.next, last: this.next - 1 };
      return;
    }
    // Start a new segment when this append would overfill the active one.
    const act = this.active;
    const used = (this.activeDraft ?? act.meta).appendedBytes;
    const spanned = this.next - act.first;
    if ((used > 0 && used + a.bytes > this.segmentBytes) || spanned + n > SEGMENT_MAX_RECORDS)
      await this.roll();

    const cost = 2 * a.bytes;
    while (this.diskEstimate() + cost > this.maxBytes) {
      if (this.remeasure()) continue;
      if (this.policy === 'reject-new') {
        this.rejected += n;
        a.error = new SpoolError(SpoolErrorCode.FULL, `spool is full (${this.maxBytes} bytes)`, {
          retriable: true,
        });
        return;
      }
      const oldest = this.segments[0];
      if (oldest && oldest !== this.active) {
        await this.dropSegment(oldest);
        continue;
      }
      if ((this.activeDraft ?? this.active.meta).appendedRecords > 0) {
        await this.roll();
        continue;
      }
      this.rejected += n;
      a.error = new SpoolError(
        SpoolErrorCode.RECORD_TOO_LARGE,
        `append of ${a.bytes} bytes cannot fit in a spool of ${this.maxBytes} bytes`,
      );
      return;
    }

    const seg = this.active;
    const meta = this.draft(seg);
    const at = this.now();
    const first = this.next;
    for (const r of a.records) {
      const seq = this.next++;
      this.activeOps.push({ type: 'put', key: encodeKey(seq), value: encodeValue(at, r.samples, r.payload) });
    }
    meta.next = this.next;
    meta.appendedBytes += a.bytes;
    meta.appendedRecords += n;
    meta.appendedSamples += a.samples;
    meta.liveRecords += n;
    meta.liveSamples += a.samples;
    meta.liveBytes += a.bytes;
    meta.newestReceivedAt = at;
    this.stagedBytes += a.bytes;
    const last = this.next - 1;
    this.activeDone.push(() => {
      if (seg.headSeq === undefined) {
        seg.headSeq = first;
        seg.headReceivedAt = at;
      }
      a.range = { first, last };
    });
    // Bound the batch so one huge group does not become one huge write.
    if (this.activeOps.length >= CHUNK * 4) await this.commitActive();
  }

  /** Seal the active segment and start a new one at the next seq. */
  private async roll(): Promise<void> {
    await this.commitActive();
    const old = this.segments[this.segments.length - 1];
    const seg = new Segment(this.dir, this.next, newSegmentMeta(this.id, this.next), this.rocksOptions);
    this.touch(seg);
    await seg.handle(true);
    fsyncDirSync(this.dir);
    this.segments.push(seg);
    if (old && old.meta.liveRecords === 0) this.retire(old, false);
    await this.commitActive(true);
    seg.measure(this.now());
    await this.removeRetired();
  }

  // ---- removing segments ---------------------------------------------------------

  /** Count a segment as gone (dropping its live records if `drop`) and queue its directory for deletion. */
  private retire(seg: Segment, drop: boolean): void {
    if (seg === this.active) throw new Error('cannot retire the active segment');
    const m = seg.meta;
    this.retired.appendedRecords += m.appendedRecords;
    this.retired.appendedSamples += m.appendedSamples;
    this.retired.droppedRecords += m.droppedRecords + (drop ? m.liveRecords : 0);
    this.retired.droppedSamples += m.droppedSamples + (drop ? m.liveSamples : 0);
    if (drop && m.liveRecords > 0) {
      this.log.warn(
        { segment: seg.name, records: m.liveRecords, samples: m.liveSamples },
        'spool dropped oldest records',
      );
    }
    this.pendingRemoval.add(seg.first);
    this.segments = this.segments.filter((s) => s !== seg);
    this.toRemove.push(seg);
  }

  private async dropSegment(seg: Segment): Promise<void> {
    this.retire(seg, true);
    await this.commitActive(true);
    await this.removeRetired();
  }

  /** Delete retired segments' directories. Their retirement must already be committed. */
  private async removeRetired(): Promise<void> {
    const list = this.toRemove;
    this.toRemove = [];
    for (const seg of list) {
      await seg.closeHandle();
      await removeSegmentDir(this.dir, seg.name);
      this.pendingRemoval.delete(seg.first);
    }
  }

  // ---- releases and age cap ---------------------------------------------------------

  /** Delete the released ranges (merged: one scan and batch per segment), then say what each removed. */
  private async applyReleases(releases: PendingRelease[]): Promise<void> {
    if (releases.length === 0) return;
    /** (seq, samples) of every record deleted, seq ascending: ranges and segments are taken in order. */
    const deleted: number[] = [];
    for (const [lo, hi] of mergeRanges(releases.map((r) => [r.first, r.last]))) {
      for (const seg of [...this.segments]) {
        if (seg.meta.liveRecords === 0 || seg.meta.next <= lo || seg.first > hi) continue;
        await this.deleteIn(seg, lo, hi + 1, undefined, deleted);
      }
    }
    attributeReleased(releases, deleted);
  }

  /**
   * Delete the live records of `seg` with lo <= seq < hi. With `cutoff`, stop
   * at the first record received at or after it and count the deletions as
   * dropped. Returns true when it stopped at such a record. `deleted`, if
   * given, gets (seq, samples) of each record deleted.
   */
  private async deleteIn(
    seg: Segment,
    lo: number,
    hi: number,
    cutoff: number | undefined,
    deleted?: number[],
  ): Promise<boolean> {
    const isActive = seg === this.active;
    lo = Math.max(lo, seg.headSeq ?? seg.first);
    let stopped = false;
    let ops: RocksBatchOp[] = [];
    let meta = this.draft(seg);
    const flushChunk = async () => {
      if (ops.length === 0) return;
      if (isActive) {
        this.activeOps.push(...ops);
        if (this.activeOps.length >= CHUNK) await this.commitActive();
      } else {
        await this.commitSealed(seg, ops, meta);
      }
      ops = [];
      meta = this.draft(seg);
    };
    for await (const rows of seg.scan(lo, hi, CHUNK)) {
      for (const [key, value] of rows) {
        const v = decodeValue(value);
        if (cutoff !== undefined && v.receivedAt >= cutoff) {
          stopped = true;
          break;
        }
        ops.push({ type: 'del', key });
        deleted?.push(decodeKey(key), v.samples);
        meta.liveRecords -= 1;
        meta.liveSamples -= v.samples;
        meta.liveBytes -= key.length + value.length;
        if (cutoff !== undefined) {
          meta.droppedRecords += 1;
          meta.droppedSamples += v.samples;
        }
        if (decodeKey(key) === seg.headSeq) seg.headStale = true;
      }
      await flushChunk();
      if (stopped) break;
    }
    await flushChunk();
    return stopped;
  }

  private async sweepAge(): Promise<void> {
    const now = this.now();
    this.lastSweepAt = now;
    if (this.maxAgeMs === Infinity) return;
    const cutoff = now - this.maxAgeMs;
    await this.commitActive();
    let dropped = 0;
    for (const seg of [...this.segments]) {
      if (seg.meta.liveRecords === 0) continue;
      if (seg.headStale) await seg.findHead(seg.headSeq);
      if (seg.headReceivedAt !== undefined && seg.headReceivedAt >= cutoff) break;
      const newest = seg.meta.newestReceivedAt;
      if (seg !== this.active && newest !== null && newest < cutoff) {
        dropped += seg.meta.liveRecords;
        this.retire(seg, true);
        continue;
      }
      const before = seg.meta.liveRecords;
      const stopped = await this.deleteIn(seg, seg.first, seg.meta.next, cutoff);
      await this.commitActive();
      dropped += before - seg.meta.liveRecords;
      if (stopped) break;
    }
    if (dropped > 0)
      this.log.warn({ records: dropped, maxAgeMs: this.maxAgeMs }, 'spool dropped records past the age cap');
  }

  /** End of every mutating task: retire empty sealed segments, commit, delete, refresh heads and sizes. */
  private async finalize(): Promise<void> {
    for (const seg of [...this.segments]) {
      if (seg !== this.active && seg.meta.liveRecords === 0) this.retire(seg, false);
    }
    await this.commitActive(this.toRemove.length > 0);
    await this.removeRetired();
    const now = this.now();
    for (const seg of this.segments) {
      if (seg.headStale || (seg.headSeq === undefined && seg.meta.liveRecords > 0)) {
        await seg.findHead(seg.headSeq);
      }
      if (seg.meta.liveRecords === 0) {
        seg.headSeq = undefined;
        seg.headReceivedAt = undefined;
      }
      if (
        seg.unmeasured > this.segmentBytes / 16 ||
        (seg.unmeasured > 0 && now - seg.lastMeasuredAt > 1000)
      ) {
        seg.measure(now);
      }
    }
    await this.trimHandles();
  }

  // ---- reads ------------------------------------------------------------------

  private async readTask(fromSeq: number, maxRecords: number, maxBytes: number): Promise<SpoolEntry[]> {
    const out: SpoolEntry[] = [];
    let bytes = 0;
    const chunk = Math.min(256, maxRecords);
    outer: for (const seg of this.segments) {
      if (seg.meta.liveRecords === 0 || seg.meta.next <= fromSeq) continue;
      this.touch(seg);
      const lo = Math.max(fromSeq, seg.headSeq ?? seg.first);
      for await (const rows of seg.scan(lo, seg.meta.next, chunk)) {
        for (const [key, value] of rows) {
          const v = decodeValue(value);
          out.push({ seq: decodeKey(key), payload: v.payload, samples: v.samples, receivedAt: v.receivedAt });
          bytes += v.payload.length;
          if (out.length >= maxRecords || bytes >= maxBytes) break outer;
        }
      }
    }
    await this.trimHandles();
    return out;
  }

  // ---- disk accounting and handles ----------------------------------------------

  private diskEstimate(): number {
    let total = this.reserveBytes + 2 * this.stagedBytes;
    for (const seg of this.segments) total += seg.diskEstimate;
    return total;
  }

  /** Re-measure segments with unmeasured writes; true if any estimate changed. */
  private remeasure(): boolean {
    const now = this.now();
    let changed = false;
    for (const seg of this.segments) {
      if (seg.unmeasured > 0) {
        seg.measure(now);
        changed = true;
      }
    }
    return changed;
  }

  private touch(seg: Segment): void {
    seg.lastUsed = ++this.tick;
  }

  private async trimHandles(): Promise<void> {
    const open = this.segments.filter((s) => s.isOpen && s !== this.active);
    if (open.length <= this.maxOpenSegments) return;
    open.sort((a, b) => a.lastUsed - b.lastUsed);
    for (const seg of open.slice(0, open.length - this.maxOpenSegments)) await seg.closeHandle();
  }

  // ---- open and recovery ----------------------------------------------------------

  /**
   * Cut damaged bytes off the end of a segment's WALs before RocksDB replays them (rocks/wal-tail.ts:
   * RocksDB 9.7 can loop forever on some), keeping them under `saveDir`. A failure to scan is
   * logged and left to RocksDB's own recovery.
   */
  private cutWalTails(segDir: string, saveDir: string): void {
    try {
      for (const c of cutDamagedWalTails(segDir, saveDir)) {
        this.log.warn(
          { dir: this.dir, ...c },
          'spool: damaged WAL tail cut before recovery; the records before it are kept',
        );
      }
    } catch (err) {
      this.log.error(
        { dir: segDir, err: (err as Error).message },
        'spool: cannot check WAL tails; RocksDB recovers them',
      );
    }
  }

  /** @internal Used by openRocksSpool. */
  async openInternal(): Promise<void> {
    const stamp = this.now();
    const damagedRoot = `${this.dir}.damaged-${stamp}`;
    const moveAside = (src: string, why: string, err?: unknown) => {
      const dest = path.join(damagedRoot, path.basename(src));
      fs.mkdirSync(damagedRoot, { recursive: true });
      fs.renameSync(src, dest);
      this.log.error(
        {
          dir: this.dir,
          movedTo: dest,
          reason: why,
          err: err === undefined ? undefined : rocksCause(err).message,
        },
        'spool: damaged data moved aside',
      );
    };

    // The spool path itself must be a directory.
    const st = fs.statSync(this.dir, { throwIfNoEntry: false });
    if (st && !st.isDirectory()) {
      const dest = `${this.dir}.damaged-${stamp}`;
      fs.renameSync(this.dir, dest);
      this.log.error({ dir: this.dir, movedTo: dest }, 'spool path was not a directory; moved aside');
    }
    fs.mkdirSync(this.dir, { recursive: true });

    const found: Array<{ first: number; name: string }> = [];
    for (const e of fs.readdirSync(this.dir, { withFileTypes: true })) {
      const first = parseSegmentName(e.name);
      if (e.name.startsWith(TRASH_PREFIX)) {
        fs.rmSync(path.join(this.dir, e.name), { recursive: true, force: true });
      } else if (first !== undefined && e.isDirectory()) {
        found.push({ first, name: e.name });
      } else {
        moveAside(path.join(this.dir, e.name), 'not a spool segment');
      }
    }
    found.sort((a, b) => a.first - b.first);

    const segs: Segment[] = [];
    const damaged: number[] = [];
    try {
      for (const { first, name } of found) {
        const seg = new Segment(this.dir, first, newSegmentMeta('?', first), this.rocksOptions);
        const segDir = path.join(this.dir, name);
        if (neverCreated(segDir)) {
          // A crash while RocksDB was creating the segment: it never held a record.
          await removeSegmentDir(this.dir, name);
          continue;
        }
        this.cutWalTails(segDir, path.join(damagedRoot, name));
        try {
          await seg.handle(false);
        } catch (err) {
          const { code, message } = rocksCause(err);
          if (code === 'LEVEL_LOCKED' || /\block\b/i.test(message)) {
            throw new SpoolError(SpoolErrorCode.LOCKED, `spool ${this.dir} is in use: ${message}`, {
              retriable: true,
              cause: err,
            });
          }
          if (/No space left|Permission denied|Read-only file system|Too many open files/i.test(message)) {
            throw new SpoolError(SpoolErrorCode.IO, `cannot open spool ${this.dir}: ${message}`, {
              retriable: true,
              cause: err,
            });
          }
          damaged.push(first);
          moveAside(segDir, 'segment cannot be opened', err);
          continue;
        }
        let meta: SegmentMeta | undefined;
        let why: string | undefined;
        let cause: unknown;
        try {
          meta = await seg.readMeta();
          if (meta === undefined) {
            if (await seg.hasData()) why = 'segment holds records but no meta';
          } else if (meta.first !== first || meta.next < first) {
            why = 'segment meta does not match its name';
          }
        } catch (err) {
          why = 'segment meta unreadable';
          cause = err;
        }
        if (why !== undefined) {
          await seg.closeHandle().catch(() => undefined);
          damaged.push(first);
          moveAside(segDir, why, cause);
          continue;
        }
        if (meta === undefined) {
          // Created but never written (crash while starting a segment).
          await seg.closeHandle();
          await removeSegmentDir(this.dir, name);
          continue;
        }
        seg.meta = meta;
        segs.push(seg);
      }
    } catch (err) {
      for (const s of segs) await s.closeHandle().catch(() => undefined);
      throw err;
    }

    this.segments = segs; // from here on, close() closes them
    const newest = segs[segs.length - 1];
    this.id = newest?.meta.spoolId ?? randomUUID();
    this.retired = newest ? { ...newest.meta.retired } : newRetired();
    const pending = new Set(newest?.meta.pending ?? []);
    for (const seg of [...segs]) {
      if (seg !== newest && pending.has(seg.first)) {
        await seg.closeHandle();
        await removeSegmentDir(this.dir, seg.name);
        segs.splice(segs.indexOf(seg), 1);
      }
    }
    let next = 1;
    for (const seg of segs) next = Math.max(next, seg.meta.next);
    for (const first of damaged) next = Math.max(next, first + SEGMENT_MAX_RECORDS);
    this.next = next;
    if (damaged.length > 0 && newest && damaged.some((f) => f > newest.first)) {
      this.log.error(
        { dir: this.dir, nextSeq: next },
        'spool: the newest segment was damaged; cumulative counters are as of an older segment',
      );
    }

    const now = this.now();
    for (const seg of segs) {
      this.touch(seg);
      await seg.findHead();
      seg.measure(now);
    }
    const active = segs[segs.length - 1];
    if (!active || active.meta.next !== this.next || this.next - active.first >= SEGMENT_MAX_RECORDS) {
      await this.roll();
    }
    await this.finalize();
    const s = this.stats();
    this.log.info(
      {
        dir: this.dir,
        spoolId: this.id,
        segments: this.segments.length,
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

/**
 * True for a segment directory RocksDB never finished creating: no CURRENT
 * (written last, by rename, when a database is created), no table files and
 * no non-empty WAL. Records are only ever written after creation completed,
 * so such a directory holds nothing; with any data file it is damage instead.
 */
function neverCreated(segDir: string): boolean {
  const names = fs.readdirSync(segDir);
  if (names.includes('CURRENT')) return false;
  for (const n of names) {
    if (n.endsWith('.sst')) return false;
    if (n.endsWith('.log') && fs.statSync(path.join(segDir, n)).size > 0) return false;
  }
  return true;
}

/** Rename a segment directory to trash (atomic), fsync the parent, then delete the trash. */
async function removeSegmentDir(dir: string, name: string): Promise<void> {
  const trash = path.join(dir, `${TRASH_PREFIX}${name}-${randomUUID().slice(0, 8)}`);
  try {
    fs.renameSync(path.join(dir, name), trash);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  fsyncDirSync(dir);
  await fs.promises.rm(trash, { recursive: true, force: true });
}

/**
 * Give each release what it removed, from the (seq, samples) pairs deleted for the whole group
 * (seq ascending). Overlapping releases of one group count a record once, for the earliest call,
 * as if they had been applied one by one.
 */
function attributeReleased(releases: readonly PendingRelease[], deleted: readonly number[]): void {
  const n = deleted.length / 2;
  const claimed = new Uint8Array(n);
  for (const r of releases) {
    // First deleted record with seq >= r.first.
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (deleted[2 * mid]! < r.first) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < n && deleted[2 * i]! <= r.last; i++) {
      if (claimed[i] === 1) continue;
      claimed[i] = 1;
      r.removed.records += 1;
      r.removed.samples += deleted[2 * i + 1]!;
    }
  }
}

function cloneMeta(m: SegmentMeta): SegmentMeta {
  return { ...m, retired: { ...m.retired }, pending: [...m.pending] };
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}
