/**
 * The uplink's live tail: just-appended spool records kept in memory (at most
 * `maxBytes`), so live batches are built without reading back from the
 * spool, whose reads queue behind its appends. It holds one contiguous run
 * of sequence numbers; a gap (records the tail never saw) starts it again.
 */
import type { SpoolEntry } from './spool/index.js';

export class LiveTail {
  private entries: SpoolEntry[] = [];
  /** `entries[head]` has seq `first`. */
  private head = 0;
  private first = 0;
  private bytesNow = 0;

  constructor(private readonly maxBytes: number) {}

  /** Payload bytes held. */
  get bytes(): number {
    return this.bytesNow;
  }

  /** Keep `entries` (ascending, just appended); forget what is below `from` or over the byte cap. */
  remember(entries: readonly SpoolEntry[], from: number): void {
    const first = entries[0];
    if (first === undefined) return;
    const held = this.entries.length - this.head;
    if (held === 0 || first.seq !== this.first + held) {
      this.entries = [];
      this.head = 0;
      this.first = first.seq;
      this.bytesNow = 0;
    }
    for (const e of entries) {
      this.entries.push(e);
      this.bytesNow += e.payload.length;
    }
    this.trim(from);
    while (this.bytesNow > this.maxBytes && this.head < this.entries.length) this.dropHead();
  }

  /** Forget entries below `seq` (sent live). */
  trim(seq: number): void {
    while (this.head < this.entries.length && this.first < seq) this.dropHead();
    if (this.head > 4096 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * Entries from `from` on, below `below`, at most `maxRecords`, while `fits`
   * says yes; undefined when the tail does not hold `from` (read the spool).
   */
  take(
    from: number,
    below: number,
    maxRecords: number,
    fits: (e: SpoolEntry) => boolean,
  ): SpoolEntry[] | undefined {
    const held = this.entries.length - this.head;
    if (held === 0 || from < this.first || from >= this.first + held) return undefined;
    const out: SpoolEntry[] = [];
    for (let i = this.head + (from - this.first); i < this.entries.length; i++) {
      const entry = this.entries[i] as SpoolEntry;
      if (entry.seq >= below || out.length >= maxRecords || !fits(entry)) break;
      out.push(entry);
    }
    return out;
  }

  private dropHead(): void {
    const e = this.entries[this.head] as SpoolEntry;
    this.entries[this.head] = undefined as unknown as SpoolEntry;
    this.head++;
    this.first++;
    this.bytesNow -= e.payload.length;
  }
}
