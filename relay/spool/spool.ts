/**
 * The relay's durable spool: an append-only log of opaque records keyed by a
 * monotonic relay sequence number. Agents' samples are acknowledged once
 * `append()` resolves; the uplink reads from it and `release()`s what the
 * upstream acknowledged, in any order.
 *
 * Counting. Every appended record leaves the spool once: released, or dropped
 * by a cap (byte cap under 'drop-oldest', or the age cap), which counts it in
 * `droppedRecords`/`droppedSamples`. A record can be dropped while a batch
 * holding it is in flight; its ack then releases nothing for it, and
 * `release()` says what it did remove, so the relay can tell such records
 * apart. The relay reports as dropped only the records removed by the cap
 * policy that never reached the upstream (drop-count.ts); the spool's own counters
 * count every removal by a cap.
 */

/** One record to spool: an opaque payload and how many samples it carries (for counting drops). */
export interface SpoolRecord {
  payload: Buffer;
  samples: number;
}

/** A spooled record as read back. */
export interface SpoolEntry {
  seq: number;
  payload: Buffer;
  samples: number;
  /** Clock reading (ms) when the record was appended. */
  receivedAt: number;
}

/** Inclusive range of sequence numbers given to one `append()` call (`last < first` when it was empty). */
export interface SeqRange {
  first: number;
  last: number;
}

/** What one `release()` removed: the records of its range that were still in the spool, and their samples. */
export interface Released {
  records: number;
  samples: number;
}

/** What to do when a cap would be exceeded. */
export type SpoolPolicy = 'drop-oldest' | 'reject-new';

export interface ReadLimits {
  /** Most entries returned. Default 1000. */
  maxRecords?: number;
  /** Stop once the payload bytes returned reach this. At least one entry is returned when any exists. Default 1 MiB. */
  maxBytes?: number;
}

export interface SpoolStats {
  /** Random id made when the spool was created; a spool that was reset (moved aside) gets a new one. */
  spoolId: string;
  /** Live (unreleased, undropped) records, their samples and logical bytes (key + value). */
  records: number;
  samples: number;
  bytes: number;
  /** Bytes the spool occupies on its medium (an estimate kept current; `diskBytes()` measures exactly). */
  diskBytes: number;
  firstSeq: number;
  nextSeq: number;
  /** receivedAt of the oldest live record, undefined when empty. */
  oldestReceivedAt: number | undefined;
  /** now - oldestReceivedAt, 0 when empty. */
  ageMs: number;
  /** Cumulative over the spool's life, persisted. */
  appendedRecords: number;
  appendedSamples: number;
  /**
   * Records (samples) removed by a cap rather than released, whether or not a batch holding them
   * was in flight (see Counting above: the relay subtracts those the upstream acknowledged).
   */
  droppedRecords: number;
  droppedSamples: number;
  /** Records whose append was refused (cap under 'reject-new', or too large). Since open, not persisted. */
  rejectedRecords: number;
  maxBytes: number;
  maxAgeMs: number;
  policy: SpoolPolicy;
}

export interface Spool {
  /** Identity of this spool's sequence space: (spoolId, seq) names a record for de-duplication upstream. */
  readonly spoolId: string;
  /** Append records; resolves with their sequence numbers once they are durable. Rejects with OWL_ERR_SPOOL_FULL under 'reject-new'. */
  append(records: readonly SpoolRecord[]): Promise<SeqRange>;
  /** Entries with seq >= fromSeq, in seq order, within the limits. */
  read(fromSeq: number, limits?: ReadLimits): Promise<SpoolEntry[]>;
  /**
   * The upstream acknowledged [first, last]: delete it durably. Any order; repeats and gaps are
   * harmless. Resolves with what this call removed: the records in the range still in the spool,
   * not those released or dropped before. Concurrent calls with overlapping ranges count each
   * record once, for the earliest call.
   */
  release(first: number, last: number): Promise<Released>;
  /** Apply the age cap now (it is also applied on append and periodically). */
  sweep(): Promise<void>;
  /**
   * Seq of the oldest live record, or nextSeq() when empty. Every record below it was released
   * or dropped (caps drop oldest first), and a dropped record is below it once the call that
   * dropped it settled. An append can resolve with records already dropped (RocksSpool: a later
   * append of the same group commit needed their segment's room), so whoever keeps appended
   * records in memory must not send those below firstSeq(): they are counted as dropped.
   */
  firstSeq(): number;
  /** Seq the next appended record will get. */
  nextSeq(): number;
  stats(): SpoolStats;
  /** Measure the bytes the spool occupies on disk (0 for memory-only spools). */
  diskBytes(): Promise<number>;
  /** Wait for pending appends and releases, then close. Later calls reject with OWL_ERR_SPOOL_CLOSED. */
  close(): Promise<void>;
}

/** The subset of a pino logger the spool uses. */
export interface SpoolLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const DEFAULT_READ_MAX_RECORDS = 1000;
export const DEFAULT_READ_MAX_BYTES = 1 << 20;
