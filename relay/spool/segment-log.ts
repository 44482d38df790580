/**
 * The segments of one RocksSpool (rocks-spool.ts describes the layout) and
 * the changes staged for the active one: what is written where, and when a
 * segment is started, retired or removed. Policy (caps, what to refuse or
 * drop, the age cap) stays with RocksSpool, which calls this from its serial
 * tasks only.
 *
 * The active segment's changes are staged (`activeOps`, `activeDraft`) and
 * written with its meta as one synced batch by commitActive(); a change to a
 * sealed segment is committed at once, in its own batch. Every commit also
 * writes the current `retired` counters and `pending` removals into that
 * segment's meta, so the newest meta always holds them.
 */
import type { RocksBatchOp, RocksOpenOptions } from '../../rocks/index.js';
import type { SeqRange, SpoolEntry, SpoolLogger, SpoolRecord } from './spool.js';
import { Segment, type SegmentOp } from './segment.js';
import { fsyncDirSync } from './disk-usage.js';
import { removeSegmentDir } from './segment-files.js';
import {
  decodeKey,
  decodeValue,
  encodeKey,
  newRetired,
  newSegmentMeta,
  type RetiredCounters,
  type SegmentMeta,
} from './format.js';

/** Rows per iterator step and per delete batch. */
const CHUNK = 4096;

interface SegmentLogOptions {
  dir: string;
  rocksOptions: RocksOpenOptions;
  now: () => number;
  log: SpoolLogger;
  /** Logical bytes appended to a segment before a new one is started. */
  segmentBytes: number;
  /** Bytes kept free for RocksDB's flush and compaction transients. */
  reserveBytes: number;
  /** Sealed segments kept open besides the active one. */
  maxOpenSegments: number;
}

/** What one append staged: its records' logical bytes and samples. */
interface StagedAppend {
  records: readonly SpoolRecord[];
  bytes: number;
  samples: number;
}

export class SegmentLog {
  readonly dir: string;
  /** Spool id, kept in every meta. */
  id = '';
  /** Oldest first; the last one is the active segment. */
  segments: Segment[] = [];
  /** Counters of segments removed from the spool. */
  retired: RetiredCounters = newRetired();
  /** Seq the next appended record gets. */
  next = 1;
  /** First seqs of retired segments whose directories may still exist (persisted as `pending`). */
  readonly pendingRemoval = new Set<number>();
  private toRemove: Segment[] = [];
  private tick = 0;
  /** Uncommitted changes to the active segment, written with the next active commit. */
  private activeOps: SegmentOp[] = [];
  private activeDraft: SegmentMeta | undefined;
  private activeDone: Array<() => void> = [];
  /** Logical bytes in activeOps, not yet in any segment's disk estimate. */
  private stagedBytes = 0;

  constructor(private readonly options: SegmentLogOptions) {
    this.dir = options.dir;
  }

  get active(): Segment {
    const seg = this.segments[this.segments.length - 1];
    if (!seg) throw new Error('spool has no active segment');
    return seg;
  }

  /** A new Segment object for `first` in this spool's directory (not opened). */
  segment(first: number, meta: SegmentMeta): Segment {
    return new Segment(this.dir, first, meta, this.options.rocksOptions);
  }

  /** The meta to change: the active segment's staged draft, or a copy of a sealed one's. */
  draft(seg: Segment): SegmentMeta {
    if (seg === this.active) return (this.activeDraft ??= cloneMeta(seg.meta));
    return cloneMeta(seg.meta);
  }

  /** The active segment's meta as it will be committed (its staged draft, if any). */
  get activeMeta(): SegmentMeta {
    return this.activeDraft ?? this.active.meta;
  }

  // ---- commits -------------------------------------------------------------------

  /** Write the active segment's pending ops and meta (with current retired/pending) as one synced batch. */
  async commitActive(force = false): Promise<void> {
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

  /** Forget everything staged (a task failed: none of it was written). */
  discardStaged(): void {
    this.activeOps = [];
    this.activeDraft = undefined;
    this.activeDone = [];
    this.stagedBytes = 0;
  }

  /**
   * Stage `a`'s records on the active segment with receivedAt `at`; `durable` gets their seqs once
   * the batch holding them is written. A large group is committed in steps.
   */
  async stageAppend(a: StagedAppend, at: number, durable: (range: SeqRange) => void): Promise<void> {
    const seg = this.active;
    const meta = this.draft(seg);
    const first = this.next;
    for (const r of a.records) {
      const seq = this.next++;
      this.activeOps.push({ key: encodeKey(seq), receivedAt: at, samples: r.samples, payload: r.payload });
    }
    const n = a.records.length;
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
      durable({ first, last });
    });
    // Bound the batch so one huge group does not become one huge write.
    if (this.activeOps.length >= CHUNK * 4) await this.commitActive();
  }

  // ---- segments come and go ------------------------------------------------------------

  /** Seal the active segment and start a new one at the next seq. */
  async roll(): Promise<void> {
    await this.commitActive();
    const old = this.segments[this.segments.length - 1];
    const seg = this.segment(this.next, newSegmentMeta(this.id, this.next));
    this.touch(seg);
    await seg.handle(true);
    fsyncDirSync(this.dir);
    this.segments.push(seg);
    if (old && old.meta.liveRecords === 0) this.retire(old, false);
    await this.commitActive(true);
    seg.measure(this.options.now());
    await this.removeRetired();
  }

  /** Count a segment as gone (dropping its live records if `drop`) and queue its directory for deletion. */
  retire(seg: Segment, drop: boolean): void {
    if (seg === this.active) throw new Error('cannot retire the active segment');
    const m = seg.meta;
    this.retired.appendedRecords += m.appendedRecords;
    this.retired.appendedSamples += m.appendedSamples;
    this.retired.droppedRecords += m.droppedRecords + (drop ? m.liveRecords : 0);
    this.retired.droppedSamples += m.droppedSamples + (drop ? m.liveSamples : 0);
    if (drop && m.liveRecords > 0) {
      this.options.log.warn(
        { segment: seg.name, records: m.liveRecords, samples: m.liveSamples },
        'spool dropped oldest records',
      );
    }
    this.pendingRemoval.add(seg.first);
    this.segments = this.segments.filter((s) => s !== seg);
    this.toRemove.push(seg);
  }

  /** Drop a sealed segment whole (its live records counted dropped), durably. */
  async dropSegment(seg: Segment): Promise<void> {
    this.retire(seg, true);
    await this.commitActive(true);
    await this.removeRetired();
  }

  /** Delete retired segments' directories. Their retirement must already be committed. */
  async removeRetired(): Promise<void> {
    const list = this.toRemove;
    this.toRemove = [];
    for (const seg of list) {
      await seg.closeHandle();
      await removeSegmentDir(this.dir, seg.name);
      this.pendingRemoval.delete(seg.first);
    }
  }

  /** End of every mutating task: retire empty sealed segments, commit, delete, refresh heads and sizes. */
  async finalize(): Promise<void> {
    for (const seg of [...this.segments]) {
      if (seg !== this.active && seg.meta.liveRecords === 0) this.retire(seg, false);
    }
    await this.commitActive(this.toRemove.length > 0);
    await this.removeRetired();
    const now = this.options.now();
    for (const seg of this.segments) {
      if (seg.headStale || (seg.headSeq === undefined && seg.meta.liveRecords > 0)) {
        await seg.findHead(seg.headSeq);
      }
      if (seg.meta.liveRecords === 0) {
        seg.headSeq = undefined;
        seg.headReceivedAt = undefined;
      }
      const { segmentBytes } = this.options;
      if (seg.unmeasured > segmentBytes / 16 || (seg.unmeasured > 0 && now - seg.lastMeasuredAt > 1000)) {
        seg.measure(now);
      }
    }
    await this.trimHandles();
  }

  // ---- deletes ---------------------------------------------------------------------------

  /**
   * Delete the live records of `seg` with lo <= seq < hi. With `cutoff`, stop
   * at the first record received at or after it and count the deletions as
   * dropped. Returns true when it stopped at such a record. `deleted`, if
   * given, gets (seq, samples) of each record deleted.
   */
  async deleteIn(
    seg: Segment,
    lo: number,
    hi: number,
    cutoff: number | undefined,
    deleted?: number[],
  ): Promise<boolean> {
    const isActive = seg === this.active;
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
    for await (const rows of seg.scan(Math.max(lo, seg.headSeq ?? seg.first), hi, CHUNK)) {
      for (const [key, value] of rows) {
        const v = decodeValue(value);
        if (cutoff !== undefined && v.receivedAt >= cutoff) {
          stopped = true;
          break;
        }
        ops.push({ type: 'del', key });
        deleted?.push(decodeKey(key), v.samples);
        countDeleted(meta, key.length + value.length, v.samples, cutoff !== undefined);
        if (decodeKey(key) === seg.headSeq) seg.headStale = true;
      }
      await flushChunk();
      if (stopped) break;
    }
    await flushChunk();
    return stopped;
  }

  /**
   * Drop (and count) the live records received before `cutoff`, oldest first: a sealed segment
   * whose newest record is older goes whole. Returns how many records were dropped.
   */
  async dropOlderThan(cutoff: number): Promise<number> {
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
    return dropped;
  }

  // ---- reads --------------------------------------------------------------------------

  /** Live entries with seq >= fromSeq, in seq order, within the limits. */
  async read(fromSeq: number, maxRecords: number, maxBytes: number): Promise<SpoolEntry[]> {
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

  /** Live and cumulative counters over all segments (retired ones included), and the disk estimate. */
  totals(): {
    records: number;
    samples: number;
    bytes: number;
    diskBytes: number;
    oldestReceivedAt: number | undefined;
    counters: RetiredCounters;
  } {
    const t = {
      records: 0,
      samples: 0,
      bytes: 0,
      diskBytes: 0,
      oldestReceivedAt: undefined as number | undefined,
    };
    const counters = { ...this.retired };
    for (const seg of this.segments) {
      const m = seg.meta;
      t.records += m.liveRecords;
      t.samples += m.liveSamples;
      t.bytes += m.liveBytes;
      t.diskBytes += seg.diskEstimate;
      counters.appendedRecords += m.appendedRecords;
      counters.appendedSamples += m.appendedSamples;
      counters.droppedRecords += m.droppedRecords;
      counters.droppedSamples += m.droppedSamples;
      if (t.oldestReceivedAt === undefined && m.liveRecords > 0) t.oldestReceivedAt = seg.headReceivedAt;
    }
    return { ...t, counters };
  }

  /** Seq of the oldest live record, or `next` when none. */
  firstSeq(): number {
    for (const seg of this.segments) {
      if (seg.meta.liveRecords > 0) return seg.headSeq ?? seg.first;
    }
    return this.next;
  }

  // ---- disk accounting and handles ----------------------------------------------

  /** Bytes the spool may occupy on disk now, staged changes and RocksDB's reserve included. */
  diskEstimate(): number {
    let total = this.options.reserveBytes + 2 * this.stagedBytes;
    for (const seg of this.segments) total += seg.diskEstimate;
    return total;
  }

  /** Re-measure segments with unmeasured writes; true if any estimate changed. */
  remeasure(): boolean {
    const now = this.options.now();
    let changed = false;
    for (const seg of this.segments) {
      if (seg.unmeasured > 0) {
        seg.measure(now);
        changed = true;
      }
    }
    return changed;
  }

  touch(seg: Segment): void {
    seg.lastUsed = ++this.tick;
  }

  /** Close the least recently used sealed segments' handles beyond `maxOpenSegments`. */
  async trimHandles(): Promise<void> {
    const open = this.segments.filter((s) => s.isOpen && s !== this.active);
    if (open.length <= this.options.maxOpenSegments) return;
    open.sort((a, b) => a.lastUsed - b.lastUsed);
    for (const seg of open.slice(0, open.length - this.options.maxOpenSegments)) await seg.closeHandle();
  }

  /** Close every segment's handle (errors ignored). */
  async closeAll(): Promise<void> {
    for (const seg of this.segments) await seg.closeHandle().catch(() => undefined);
  }
}

/** One deleted record in `meta`: no longer live; counted dropped when a cap deleted it. */
function countDeleted(meta: SegmentMeta, bytes: number, samples: number, dropped: boolean): void {
  meta.liveRecords -= 1;
  meta.liveSamples -= samples;
  meta.liveBytes -= bytes;
  if (dropped) {
    meta.droppedRecords += 1;
    meta.droppedSamples += samples;
  }
}

function cloneMeta(m: SegmentMeta): SegmentMeta {
  return { ...m, retired: { ...m.retired }, pending: [...m.pending] };
}
