/**
 * The sample-store contract. The upstream writes through `SampleStore` only,
 * so another sink (a distributed TSDB) can replace the embedded RocksDB store.
 * Meta operations ride in the same atomic write as the points: the upstream
 * keeps its de-duplication record there, so "batch stored" and "batch marked
 * as stored" can never disagree after a crash.
 */

import type { EncodedRequests } from '../sinks/index.js';

/** One sample to store. Series identity = metric + the full tag set (order does not matter). */
export interface StorePoint {
  metric: string;
  tags: Readonly<Record<string, string>>;
  /** Unix time in milliseconds: an integer in [0, 2^48). */
  timestampMs: number;
  /** Finite number. */
  value: number;
}

/** A caller-owned key/value change committed atomically with a write's points. */
export type MetaOp = { type: 'put'; key: string; value: Uint8Array | string } | { type: 'del'; key: string };

/** Build a meta put for `write(points, { meta: [...] })`. */
export function putMeta(key: string, value: Uint8Array | string): MetaOp {
  return { type: 'put', key, value };
}

/** Build a meta delete for `write(points, { meta: [...] })`. */
export function delMeta(key: string): MetaOp {
  return { type: 'del', key };
}

export interface WriteExtra {
  /** Applied in order, in the same durable batch as the points. */
  meta?: readonly MetaOp[];
  /** Count these points in StoreStats.samples (the upstream marks the points of relay batches). */
  countSamples?: boolean;
}

export interface SeriesQuery {
  metric: string;
  /** Exact-match filter: a series matches when it carries every listed tag with that value. */
  tags?: Readonly<Record<string, string>>;
  /** Inclusive start, ms. */
  fromMs: number;
  /** Exclusive end, ms. */
  toMs: number;
  /** Most points returned in total (series in key order, points in time order); default 1,000,000. */
  limit?: number;
  /** Most series returned; default 10,000. */
  maxSeries?: number;
}

/** One series of a query result; `timestampsMs[i]` goes with `values[i]`, ascending, unique. */
export interface SeriesResult {
  metric: string;
  tags: Record<string, string>;
  timestampsMs: number[];
  values: number[];
}

export interface ListSeriesOptions {
  /** Only series of exactly this metric. */
  metric?: string;
  /** Only series whose metric starts with this string. Ignored when `metric` is given. */
  prefix?: string;
  /** Most series returned. */
  limit: number;
}

export interface SeriesInfo {
  metric: string;
  tags: Record<string, string>;
}

export interface StoreStats {
  /** Series that hold at least one point (or had one since the last retention pass). */
  series: number;
  /** Distinct (series, timestamp) points stored. */
  points: number;
  /**
   * Points of the writes marked `countSamples` since the store was opened, counted as `points`
   * is: when they are folded into blocks. Both figures of one answer cover the same writes, so
   * when only marked writes came and none repeated a (series, timestamp), the two are equal.
   */
  samples: number;
}

export interface RetentionResult {
  /** Points deleted by this pass. */
  deletedPoints: number;
  /** Series removed because no point was left. */
  deletedSeries: number;
}

/** One log record (one group commit) as a sink reads it: the points in commit order, names resolved. */
export interface ForwardRecord {
  seq: number;
  points: StorePoint[];
}

export interface ForwardBatch {
  /** Ascending seqs, no committed record left out (except those drop-oldest moved the sink past). */
  records: ForwardRecord[];
  /** Seq of the last record returned, or the position read from when none was there: ack this once stored. */
  lastSeq: number;
}

/** readForwardEncoded's answer: the read as requests of the sink's encoder. */
export interface EncodedForwardBatch extends EncodedRequests {
  /** Log records read. */
  records: number;
  /** Points read (body samples + dropped). */
  points: number;
  /** As ForwardBatch.lastSeq: ack this once the sink accepted the body. */
  lastSeq: number;
}

export interface SinkForwardStats {
  name: string;
  /** Seq of the last log record the sink accepted (-1: none yet). */
  cursor: number;
  lagRecords: number;
  lagBytes: number;
  lagPoints: number;
  /** Age of the oldest record the sink has not accepted (commit time; open time for records found at open); 0 when none. */
  oldestAgeMs: number;
  /** Records and points the drop-oldest policy advanced this sink's cursor past, since open. */
  droppedRecords: number;
  droppedPoints: number;
}

export interface ForwardStats {
  perSink: SinkForwardStats[];
  /** Bytes of log held for sinks (what `maxBytes` caps). */
  logBytes: number;
  /** Records and points dropped for any sink (drop-oldest), since open. */
  droppedRecords: number;
  droppedPoints: number;
  /** Writes refused because the log was full (reject-new), since open. */
  rejectedWrites: number;
  /** Points of held records whose series retention removed before they were read: skipped. */
  unresolvedPoints: number;
  /** False in `keepSamples: false` mode: queries return nothing, only the log and dictionary are kept. */
  keepSamples: boolean;
}

/** Points one write takes by default: far above what one relay record can hold (batch-commit.ts). */
export const DEFAULT_MAX_WRITE_POINTS = 100_000;

/** What the upstream needs from a place to put samples. */
export interface SampleStore {
  /** Most points one `write` takes; more is refused (OWL_ERR_STORE_WRITE_TOO_LARGE). */
  readonly maxWritePoints: number;
  /** Store points (and meta ops) atomically and durably; resolves only once they survive power loss. */
  write(points: readonly StorePoint[], extra?: WriteExtra): Promise<void>;
  /** Points of the matching series in [fromMs, toMs), time-ordered. */
  query(q: SeriesQuery): Promise<SeriesResult[]>;
  listSeries(options: ListSeriesOptions): Promise<SeriesInfo[]>;
  /** Exact counts (may first fold buffered writes into storage). */
  stats(): Promise<StoreStats>;
  /** Delete every point with timestampMs < olderThanMs. */
  applyRetention(olderThanMs: number): Promise<RetentionResult>;
  /**
   * Forwarding (store option `forward`): the records committed after max(afterSeq, the sink's
   * cursor), whole, about `maxPoints` points (at least one record). Refused (BAD_QUERY) for an
   * unknown sink or when forwarding is not configured.
   */
  readForward(sink: string, afterSeq: number, maxPoints: number): Promise<ForwardBatch>;
  /**
   * readForward's records as request bodies built by the sink's encoder (option
   * `forward.encodings`), where the log is read: in the worker, only the bodies cross. Up to
   * `shards` of them (default 1), each series in one only.
   */
  readForwardEncoded(
    sink: string,
    afterSeq: number,
    maxPoints: number,
    shards?: number,
  ): Promise<EncodedForwardBatch>;
  /** The sink accepted every record up to `seq`: its cursor moves there (never back) and survives a restart. */
  ackForward(sink: string, seq: number): Promise<void>;
  /** Cursors, lag, the log held and what the cap dropped; undefined when forwarding is not configured. */
  forwardStats(): Promise<ForwardStats | undefined>;
  /** A meta value committed by `write`, or undefined. */
  getMeta(key: string): Promise<Buffer | undefined>;
  /** Meta entries whose key starts with `prefix`, in key order. */
  listMeta(prefix: string, limit?: number): Promise<Array<[string, Buffer]>>;
  /** Wait for pending operations, then release the store. */
  close(): Promise<void>;
}
