/**
 * Remembers which (agent, session, seq) batches were accepted, so a batch
 * resent after a lost ACK is acknowledged again (`duplicate: true`) instead
 * of spooled twice (docs/protocol.md 7.3). Per (agent, session) it keeps the
 * seqs made durable as ranges (`RangeSet`): an agent numbers its batches
 * 1, 2, 3, …, so however many it sent, they stay one range, and a resend of
 * any of them, in any order, is known. Batches still being spooled are kept
 * apart with their durability promise, so a resend of one of those waits for
 * it and is then acknowledged as a duplicate.
 *
 * Memory is bounded: an LRU of (agent, session) pairs, and per pair at most
 * `maxRanges` ranges (gaps that are never filled: past that, the lowest
 * ranges are forgotten). In memory only: after a relay restart, or for a
 * forgotten seq, the upstream's own de-duplication (by agent, session and
 * seq) catches a resend of a batch the relay had spooled.
 */
import { LRUCache } from 'lru-cache';
import { RangeSet } from '../protocol/index.js';

/** What became of a batch: accepted for the first time, or seen before (with its durability promise). */
export interface DedupeResult {
  duplicate: boolean;
  /** Resolves once the batch (the first copy of it) is durable. */
  durable: Promise<void>;
}

interface SessionSeqs {
  /** Seqs whose batch is durable. */
  durable: RangeSet;
  /** Seqs being spooled → promise resolving once that batch is durable. */
  pending: Map<number, Promise<void>>;
}

export interface BatchDedupeOptions {
  /** How many (agent, session) pairs to remember. */
  maxSessions?: number;
  /** Most disjoint seq ranges remembered per (agent, session); the lowest go first. */
  maxRanges?: number;
}

const DURABLE = Promise.resolve();

export class BatchDedupe {
  private readonly sessions: LRUCache<string, SessionSeqs>;
  private readonly maxRanges: number;

  constructor(options: BatchDedupeOptions = {}) {
    this.sessions = new LRUCache({ max: options.maxSessions ?? 100_000 });
    this.maxRanges = options.maxRanges ?? 128;
  }

  /** Check a batch; when new, `durable()` spools it and its promise is remembered until it settles. */
  check(agent: string, session: string, seq: number, durable: () => Promise<void>): DedupeResult {
    const key = `${agent}\u0000${session}`;
    let seqs = this.sessions.get(key);
    if (seqs === undefined) {
      seqs = { durable: new RangeSet(), pending: new Map() };
      this.sessions.set(key, seqs);
    }
    if (seqs.durable.covers(seq)) return { duplicate: true, durable: DURABLE };
    const previous = seqs.pending.get(seq);
    if (previous !== undefined) return { duplicate: true, durable: previous };
    const promise = durable();
    seqs.pending.set(seq, promise);
    // Registered before the caller's ACK: once an agent has its ACK, the seq is in `durable`.
    promise.then(
      () => {
        seqs.pending.delete(seq);
        this.remember(seqs, seq);
      },
      // A batch whose spooling failed may be sent again and must then be taken.
      () => seqs.pending.delete(seq),
    );
    return { duplicate: false, durable: promise };
  }

  /** Number of (agent, session) pairs remembered. */
  get size(): number {
    return this.sessions.size;
  }

  private remember(seqs: SessionSeqs, seq: number): void {
    seqs.durable.add(seq, seq);
    if (seqs.durable.size <= this.maxRanges) return;
    // Many gaps never filled (batches the agent dropped): keep the newer half of the ranges.
    seqs.durable = RangeSet.of(...seqs.durable.toJSON().slice(-Math.max(1, this.maxRanges >> 1)));
  }
}
