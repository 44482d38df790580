import { randomUUID } from 'node:crypto';
import {
  DEFAULT_READ_MAX_BYTES,
  DEFAULT_READ_MAX_RECORDS,
  type ReadLimits,
  type Released,
  type SeqRange,
  type Spool,
  type SpoolEntry,
  type SpoolPolicy,
  type SpoolRecord,
  type SpoolStats,
} from './spool.js';
import { SpoolError, SpoolErrorCode } from './errors.js';
import { recordBytes } from './format.js';
import { checkRecords } from './common.js';
import { SerialQueue } from './serial-queue.js';

export interface MemorySpoolOptions {
  /** Cap on logical bytes (key + value, as RocksSpool counts them). Default unlimited. */
  maxBytes?: number;
  maxAgeMs?: number;
  policy?: SpoolPolicy;
  now?: () => number;
}

/**
 * A Spool in memory, for tests of the components around the spool. Nothing
 * survives the process. It passes the same conformance suite as RocksSpool;
 * its cap counts logical bytes, and drop-oldest drops single records.
 */
export class MemorySpool implements Spool {
  readonly spoolId = randomUUID();
  readonly maxBytes: number;
  readonly maxAgeMs: number;
  readonly policy: SpoolPolicy;
  private readonly now: () => number;
  /** Insertion order is seq order. */
  private readonly entries = new Map<number, SpoolEntry & { bytes: number }>();
  private readonly queue = new SerialQueue();
  private next = 1;
  private bytes = 0;
  private samples = 0;
  private counters = { appendedRecords: 0, appendedSamples: 0, droppedRecords: 0, droppedSamples: 0 };
  private rejected = 0;
  private closed = false;

  constructor(options: MemorySpoolOptions = {}) {
    this.maxBytes = options.maxBytes ?? Infinity;
    this.maxAgeMs = options.maxAgeMs ?? Infinity;
    this.policy = options.policy ?? 'drop-oldest';
    this.now = options.now ?? Date.now;
  }

  append(records: readonly SpoolRecord[]): Promise<SeqRange> {
    return this.op(async () => {
      const { bytes, samples } = checkRecords(records);
      this.sweepNow();
      if (bytes > this.maxBytes) {
        this.rejected += records.length;
        throw new SpoolError(SpoolErrorCode.RECORD_TOO_LARGE, `append of ${bytes} bytes exceeds the cap`);
      }
      if (this.bytes + bytes > this.maxBytes) {
        if (this.policy === 'reject-new') {
          this.rejected += records.length;
          throw new SpoolError(SpoolErrorCode.FULL, 'spool is full', { retriable: true });
        }
        for (const e of this.entries.values()) {
          if (this.bytes + bytes <= this.maxBytes) break;
          this.remove(e.seq, true);
        }
      }
      const at = this.now();
      const first = this.next;
      for (const r of records) {
        const seq = this.next++;
        const b = recordBytes(r.payload.length);
        this.entries.set(seq, {
          seq,
          payload: Buffer.from(r.payload),
          samples: r.samples,
          receivedAt: at,
          bytes: b,
        });
      }
      this.bytes += bytes;
      this.samples += samples;
      this.counters.appendedRecords += records.length;
      this.counters.appendedSamples += samples;
      return { first, last: this.next - 1 };
    });
  }

  read(fromSeq: number, limits: ReadLimits = {}): Promise<SpoolEntry[]> {
    return this.op(async () => {
      const maxRecords = limits.maxRecords ?? DEFAULT_READ_MAX_RECORDS;
      const maxBytes = limits.maxBytes ?? DEFAULT_READ_MAX_BYTES;
      const out: SpoolEntry[] = [];
      let bytes = 0;
      for (const e of this.entries.values()) {
        if (e.seq < fromSeq) continue;
        out.push({ seq: e.seq, payload: e.payload, samples: e.samples, receivedAt: e.receivedAt });
        bytes += e.payload.length;
        if (out.length >= maxRecords || bytes >= maxBytes) break;
      }
      return out;
    });
  }

  release(first: number, last: number): Promise<Released> {
    return this.op(async () => {
      const out: Released = { records: 0, samples: 0 };
      const take = (seq: number): void => {
        const samples = this.remove(seq, false);
        if (samples === undefined) return;
        out.records += 1;
        out.samples += samples;
      };
      if (last - first < this.entries.size) {
        for (let s = Math.max(1, first); s <= last; s++) take(s);
      } else {
        for (const e of [...this.entries.values()]) if (e.seq >= first && e.seq <= last) take(e.seq);
      }
      return out;
    });
  }

  sweep(): Promise<void> {
    return this.op(async () => this.sweepNow());
  }

  firstSeq(): number {
    for (const e of this.entries.values()) return e.seq;
    return this.next;
  }

  nextSeq(): number {
    return this.next;
  }

  stats(): SpoolStats {
    const oldest = this.entries.values().next().value?.receivedAt;
    return {
      spoolId: this.spoolId,
      records: this.entries.size,
      samples: this.samples,
      bytes: this.bytes,
      diskBytes: 0,
      firstSeq: this.firstSeq(),
      nextSeq: this.next,
      oldestReceivedAt: oldest,
      ageMs: oldest === undefined ? 0 : Math.max(0, this.now() - oldest),
      ...this.counters,
      rejectedRecords: this.rejected,
      maxBytes: this.maxBytes,
      maxAgeMs: this.maxAgeMs,
      policy: this.policy,
    };
  }

  async diskBytes(): Promise<number> {
    return 0;
  }

  close(): Promise<void> {
    this.closed = true;
    return this.queue.idle();
  }

  private op<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new SpoolError(SpoolErrorCode.CLOSED, 'spool is closed'));
    return this.queue.run(fn);
  }

  private sweepNow(): void {
    if (this.maxAgeMs === Infinity) return;
    const cutoff = this.now() - this.maxAgeMs;
    for (const e of this.entries.values()) {
      if (e.receivedAt >= cutoff) break;
      this.remove(e.seq, true);
    }
  }

  /** Remove a live record (counted as dropped if `drop`); returns its samples, undefined if it was gone. */
  private remove(seq: number, drop: boolean): number | undefined {
    const e = this.entries.get(seq);
    if (!e) return undefined;
    this.entries.delete(seq);
    this.bytes -= e.bytes;
    this.samples -= e.samples;
    if (drop) {
      this.counters.droppedRecords += 1;
      this.counters.droppedSamples += e.samples;
    }
    return e.samples;
  }
}
