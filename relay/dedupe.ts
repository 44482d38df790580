/**
 * Remembers which (agent, session, seq) batches were recently accepted, so a
 * batch resent after a lost ACK is acknowledged again instead of spooled
 * twice. Per (agent, session) it keeps a bounded window of recent sequence
 * numbers; the LRU bounds how many (agent, session) pairs are remembered.
 * In memory only: after a relay restart the upstream's own de-duplication
 * (by agent session and sequence) catches a resend of a batch the relay had
 * spooled but not acknowledged.
 */
import { LRUCache } from 'lru-cache';

/** What became of a batch: accepted for the first time, or seen before (with its durability promise). */
export interface DedupeResult {
  duplicate: boolean;
  /** Resolves once the batch (the first copy of it) is durable. */
  durable: Promise<void>;
}

interface SessionWindow {
  /** seq → promise resolving once that batch is durable. Insertion order = arrival order. */
  seen: Map<number, Promise<void>>;
}

export interface BatchDedupeOptions {
  /** How many (agent, session) pairs to remember. */
  maxSessions?: number;
  /** How many recent sequence numbers to remember per session. */
  window?: number;
}

export class BatchDedupe {
  private readonly sessions: LRUCache<string, SessionWindow>;
  private readonly window: number;

  constructor(options: BatchDedupeOptions = {}) {
    this.sessions = new LRUCache({ max: options.maxSessions ?? 100_000 });
    this.window = options.window ?? 256;
  }

  /** Check a batch; when new, `durable` is remembered as its durability promise. */
  check(agent: string, session: string, seq: number, durable: () => Promise<void>): DedupeResult {
    const key = `${agent}\u0000${session}`;
    let win = this.sessions.get(key);
    if (win === undefined) {
      win = { seen: new Map() };
      this.sessions.set(key, win);
    }
    const previous = win.seen.get(seq);
    if (previous !== undefined) return { duplicate: true, durable: previous };
    const promise = durable();
    // A batch whose spooling failed may be sent again and must then be taken.
    promise.catch(() => win.seen.delete(seq));
    win.seen.set(seq, promise);
    if (win.seen.size > this.window) {
      const oldest = win.seen.keys().next().value;
      if (oldest !== undefined) win.seen.delete(oldest);
    }
    return { duplicate: false, durable: promise };
  }

  /** Number of (agent, session) pairs remembered. */
  get size(): number {
    return this.sessions.size;
  }
}
