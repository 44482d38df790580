/**
 * Forwarding cursors over the store's log (rocks-store.ts, "Forwarding"):
 * per sink, the seq of the last log record it accepted, and the records
 * some sink still needs (forward-index.ts). Pure state and planning; every
 * change here is made by a caller right after the batch that makes it
 * durable was written, inside the write pipeline (group commit, checkpoint,
 * ack), so these never race each other.
 */
import type { SinkEncoder } from '../sinks/index.js';
import { StoreError, StoreErrorCode } from './errors.js';
import { RecordIndex } from './forward-index.js';
import type { ForwardOptions } from './options.js';
import type { ForwardStats, SinkForwardStats } from './types.js';

/** What a group commit must add to its batch to make room for a record (drop-oldest). */
export interface AdmitPlan {
  /** Advance every cursor below this seq to it. */
  dropTo: number;
  /** Records up to dropTo already folded: deleted in the same batch. */
  deletes: number[];
}

export class ForwardLog {
  readonly index = new RecordIndex();
  readonly cursors = new Map<string, number>();
  private readonly dropped = new Map<string, { records: number; points: number }>();
  rejectedWrites = 0;
  unresolvedPoints = 0;
  /** Series resolved by readForward, by id (forward-ops.ts bounds it). */
  readonly names = new Map<number, { metric: string; tags: Record<string, string> }>();
  /** Each sink's encoder (readForwardEncoded), made on first use: it keeps its series' encodings. */
  readonly encoders = new Map<string, SinkEncoder>();

  constructor(
    readonly options: ForwardOptions,
    readonly keepSamples: boolean,
  ) {
    for (const name of options.sinks) this.dropped.set(name, { records: 0, points: 0 });
  }

  /** The lowest cursor: every record above it is held. */
  get minCursor(): number {
    let min = Infinity;
    for (const c of this.cursors.values()) min = Math.min(min, c);
    return min === Infinity ? -1 : min;
  }

  cursorOf(sink: string): number {
    const c = this.cursors.get(sink);
    if (c === undefined) {
      throw new StoreError(StoreErrorCode.BAD_QUERY, `unknown forwarding sink ${JSON.stringify(sink)}`);
    }
    return c;
  }

  /**
   * Room for a record of `bytes`: undefined when it fits (or nothing is held: a record larger than
   * the cap alone is taken), the drops to make under drop-oldest; throws FORWARD_FULL under reject-new.
   */
  admit(bytes: number): AdmitPlan | undefined {
    const { maxBytes, policy } = this.options;
    if (this.index.size === 0 || this.index.bytes + bytes <= maxBytes) return undefined;
    if (policy === 'reject-new') {
      throw new StoreError(
        StoreErrorCode.FORWARD_FULL,
        `forwarding log full (${this.index.bytes} of ${maxBytes} bytes held for sinks)`,
        { retriable: true },
      );
    }
    const dropTo = this.index.dropTarget(maxBytes, bytes) as number;
    return { dropTo, deletes: this.index.foldedThrough(dropTo) };
  }

  /** The sinks whose cursors `dropTo` moves. */
  sinksBelow(seq: number): string[] {
    return [...this.cursors].filter(([, c]) => c < seq).map(([n]) => n);
  }

  /** After the batch holding the drops was written: count them, move the cursors, forget the records. */
  applyDrop(plan: AdmitPlan): void {
    for (const name of this.sinksBelow(plan.dropTo)) {
      const d = this.index.between(this.cursorOf(name), plan.dropTo);
      const counts = this.dropped.get(name) as { records: number; points: number };
      counts.records += d.records;
      counts.points += d.points;
      this.cursors.set(name, plan.dropTo);
    }
    this.index.popThrough(plan.dropTo);
  }

  /** After an ack's batch was written: move the cursor, forget records no sink needs. */
  applyAck(sink: string, seq: number): void {
    this.cursors.set(sink, seq);
    this.index.popThrough(this.minCursor);
  }

  stats(nowMs: number): ForwardStats {
    const perSink: SinkForwardStats[] = [];
    let droppedRecords = 0;
    let droppedPoints = 0;
    for (const [name, cursor] of this.cursors) {
      const lag = this.index.lagAfter(cursor);
      const d = this.dropped.get(name) as { records: number; points: number };
      droppedRecords += d.records;
      droppedPoints += d.points;
      perSink.push({
        name,
        cursor,
        lagRecords: lag.records,
        lagBytes: lag.bytes,
        lagPoints: lag.points,
        oldestAgeMs: lag.oldestAtMs === undefined ? 0 : Math.max(0, nowMs - lag.oldestAtMs),
        droppedRecords: d.records,
        droppedPoints: d.points,
      });
    }
    return {
      perSink,
      logBytes: this.index.bytes,
      droppedRecords,
      droppedPoints,
      rejectedWrites: this.rejectedWrites,
      unresolvedPoints: this.unresolvedPoints,
      keepSamples: this.keepSamples,
    };
  }
}

/** The forwarding state for the store's options (checked), or undefined when none is configured. */
export function forwardLogFor(
  options: ForwardOptions | undefined,
  keepSamples: boolean,
): ForwardLog | undefined {
  if (options === undefined) {
    if (!keepSamples) throw badOption('keepSamples: false needs `forward` with at least one sink');
    return undefined;
  }
  const { sinks, maxBytes, policy } = options;
  if (!Array.isArray(sinks) || sinks.some((n) => typeof n !== 'string' || n.length === 0 || n.length > 256)) {
    throw badOption('forward.sinks must be an array of names of 1 to 256 chars');
  }
  if (new Set(sinks).size !== sinks.length) throw badOption('forward.sinks names must be unique');
  if (!keepSamples && sinks.length === 0) throw badOption('keepSamples: false needs at least one sink');
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1)
    throw badOption('forward.maxBytes must be an integer >= 1');
  if (policy !== 'drop-oldest' && policy !== 'reject-new') {
    throw badOption("forward.policy must be 'drop-oldest' or 'reject-new'");
  }
  return new ForwardLog(options, keepSamples);
}

function badOption(message: string): StoreError {
  return new StoreError(StoreErrorCode.BAD_OPTION, message);
}
