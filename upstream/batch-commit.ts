/**
 * Storing one relay's batches in bounded store writes (docs/uplink.md §9.2).
 *
 * A relay sizes its batches by bytes, so one batch can hold more samples
 * than the store takes in one write (its `maxWritePoints`). So writes are
 * cut at record boundaries, not batch boundaries: a write holds whole
 * records, never more than `maxWritePoints` points (a record larger than
 * that goes alone), and commits, in the same synced store write, exactly
 * the seqs of the records it holds, their agent SERIESBATCH keys and their
 * registry changes. A batch spread over several writes is acknowledged
 * after the write holding its last record. A crash between two of them
 * leaves the first records stored and marked stored; the relay resends the
 * unacknowledged batch and only its other records are stored. Exactly once
 * holds because what is marked stored is always exactly what was stored.
 *
 * A record's size is capped (UPLINK_MAX_RECORD_BYTES, 1 MiB), and the
 * smallest valid sample costs 38 bytes of JSON, so a record holds at most
 * about 27,600 points: well under the store's default limit of 100,000.
 */
import {
  BatchAckStatus,
  batchSeqRanges,
  type RangeSet,
  type UplinkBatch,
  type UplinkSequencedRecord,
} from '../protocol/index.js';
import { cloneRanges, SessionDraft, type StoredRanges } from './dedupe.js';
import { ingest, sliceIngest, slicePoints, type IngestResult, type RegistryEvent } from './ingest.js';
import type { Registry } from './registry.js';
import type { SampleStore, StorePoint } from './store/index.js';

/** A store write that failed: the seqs it held, for the log, the ERROR to the relay and the API. */
export interface CommitFailure {
  err: Error & { code?: string };
  firstSeq: number;
  lastSeq: number;
  points: number;
}

/** What committing needs from the endpoint and its connection. */
export interface CommitContext {
  relay: string;
  spool: string;
  ranges: StoredRanges;
  registry: Registry;
  store: SampleStore;
  /** Most points in one store write. */
  maxWritePoints: number;
  /** The batch opened (and converted, when it was done early), or a thrown UplinkError. */
  open(batch: UplinkBatch): { records: UplinkSequencedRecord[]; early: IngestResult | undefined };
  /** A batch that does not open: logged and counted by the endpoint. */
  onRejected(batch: UplinkBatch, err: Error): void;
  /** Start timing a store write; the function returned is called once it is durable (metrics). */
  timeWrite?(): () => void;
  /** A write goes to the store (true) and came back (false): pending batches may be parsed meanwhile. */
  onWriting(writing: boolean): void;
  /** After a write is durable, with the seqs of the records it holds (crash tests kill the process here). */
  afterWrite?: (firstSeq: number, lastSeq: number) => void;
  /** After a write is durable, for each batch it completed (crash tests kill the process here). */
  afterStore?: (firstSeq: number, lastSeq: number) => void;
  ack(batch: UplinkBatch, status: BatchAckStatus): void;
  onStored(points: number): void;
  onDuplicate(): void;
}

/** One store write being assembled from whole records, and the acks it completes. */
class WriteDraft {
  readonly points: StorePoint[] = [];
  readonly events: RegistryEvent[] = [];
  readonly acks: { batch: UplinkBatch; status: BatchAckStatus }[] = [];
  readonly sessions: SessionDraft;
  /** Seqs of the records in this write, lowest and highest (-1: none yet). */
  firstSeq = -1;
  lastSeq = -1;
  changed = false;

  constructor(
    ranges: StoredRanges,
    /** The stored set plus this write's records. */
    readonly next: RangeSet,
  ) {
    this.sessions = new SessionDraft(ranges);
  }

  /** Add records (seq-ascending) and the part of a conversion they produced. */
  async add(
    records: readonly UplinkSequencedRecord[],
    part: IngestResult,
    ctx: CommitContext,
  ): Promise<void> {
    const kept = await this.sessions.keep(part);
    for (const p of kept) this.points.push(p);
    // A relay's data changes only hosts of its own zone (or not yet registered ones), as for configs.
    for (const e of part.events) {
      if (!('uuid' in e) || (ctx.registry.host(e.uuid)?.zone ?? ctx.relay) === ctx.relay) this.events.push(e);
    }
    addRuns(this.next, records);
    if (this.firstSeq < 0) this.firstSeq = (records[0] as UplinkSequencedRecord).seq;
    this.lastSeq = (records[records.length - 1] as UplinkSequencedRecord).seq;
    this.changed = true;
  }
}

/**
 * Commit batches from `take()` (called until it returns undefined) in as
 * few writes as the point limit allows; acks go out after the write that
 * completes each batch. Resolves with the failure when a write fails: the
 * batches not yet acknowledged stay unacknowledged.
 */
export async function commitBatches(
  ctx: CommitContext,
  take: () => UplinkBatch | undefined,
): Promise<CommitFailure | undefined> {
  let draft = await newDraft(ctx);
  for (let batch = take(); batch !== undefined; batch = take()) {
    const present = batchSeqRanges(batch);
    if (present.every(([f, l]) => draft.next.has(f, l))) {
      ctx.onDuplicate();
      draft.acks.push({ batch, status: BatchAckStatus.DUPLICATE });
      continue;
    }
    let opened;
    try {
      opened = ctx.open(batch);
    } catch (err) {
      ctx.onRejected(batch, err as Error);
      draft.acks.push({ batch, status: BatchAckStatus.REJECTED });
      continue;
    }
    const { records, early } = opened;
    const fresh = records.filter((r) => !draft.next.covers(r.seq));
    const result = early !== undefined && fresh.length === records.length ? early : ingest(fresh, ctx.relay);
    for (let from = 0; from < fresh.length;) {
      const room = ctx.maxWritePoints - draft.points.length;
      let to = from;
      while (to < fresh.length && slicePoints(result, from, to + 1) <= room) to++;
      if (to === from && draft.changed) {
        // The next record does not fit: this write is full.
        const failed = await flush(ctx, draft);
        if (failed !== undefined) return failed;
        draft = await newDraft(ctx);
        continue;
      }
      if (to === from) to = from + 1; // one record over the limit goes alone
      await draft.add(fresh.slice(from, to), sliceIngest(result, from, to), ctx);
      from = to;
    }
    // Records already stored before this batch came are in the set already; the set now covers it whole.
    for (const [f, l] of present) draft.next.add(f, l);
    draft.changed = true;
    draft.acks.push({ batch, status: fresh.length === 0 ? BatchAckStatus.DUPLICATE : BatchAckStatus.STORED });
  }
  return flush(ctx, draft);
}

async function newDraft(ctx: CommitContext): Promise<WriteDraft> {
  return new WriteDraft(ctx.ranges, cloneRanges(await ctx.ranges.relaySet(ctx.relay, ctx.spool)));
}

/** Write a draft (if it changed anything), install what it committed, send its acks. */
async function flush(ctx: CommitContext, draft: WriteDraft): Promise<CommitFailure | undefined> {
  if (draft.changed) {
    const { ranges, registry, store, relay, spool } = ctx;
    const reg = registry.prepare(draft.events);
    const meta = [ranges.relayOp(relay, spool, draft.next), ...draft.sessions.ops(), ...reg.ops];
    // Counted by the store as samples where it counts points: GET /api/v1/stats reads both at once.
    const timed = ctx.timeWrite?.();
    const written = store.write(draft.points, { meta, countSamples: true });
    ctx.onWriting(true);
    try {
      await written;
      timed?.();
    } catch (err) {
      const first = draft.firstSeq >= 0 ? draft.firstSeq : (draft.acks[0]?.batch.firstSeq ?? 0);
      const last = draft.lastSeq >= 0 ? draft.lastSeq : first;
      return { err: err as Error, firstSeq: first, lastSeq: last, points: draft.points.length };
    } finally {
      ctx.onWriting(false);
    }
    if (draft.firstSeq >= 0) ctx.afterWrite?.(draft.firstSeq, draft.lastSeq);
    for (const a of draft.acks) ctx.afterStore?.(a.batch.firstSeq, a.batch.lastSeq);
    ranges.commitRelay(relay, spool, draft.next);
    draft.sessions.commit();
    reg.apply();
    ctx.onStored(draft.points.length);
  }
  for (const { batch, status } of draft.acks) ctx.ack(batch, status);
  return undefined;
}

/** Add the seqs of `records` (ascending) to `set` as runs, not one by one. */
function addRuns(set: RangeSet, records: readonly UplinkSequencedRecord[]): void {
  let start = -1;
  let prev = -1;
  for (const r of records) {
    if (start >= 0 && r.seq === prev + 1) {
      prev = r.seq;
      continue;
    }
    if (start >= 0) set.add(start, prev);
    start = prev = r.seq;
  }
  if (start >= 0) set.add(start, prev);
}
