/**
 * The messages between WorkerSampleStore (worker-store.ts, the main side) and
 * its worker (store-worker.ts), and how each side encodes and decodes them.
 * Structured clone, nothing JSON-encoded. Each direction sends at most one
 * message per event-loop turn, carrying every call (or answer) of that turn,
 * so the writes of one turn reach the worker together and join one group
 * commit there, as they would on the main thread.
 *
 *   calls    WireCall[]: { id, op, a, b } in call order (a, b: the method's
 *            arguments). Points are packed into columns at the call
 *            (PackedPoints: one transferred Float64Array of timestamps,
 *            values, metric and tags indexes, plus the distinct metric
 *            strings and tags objects): cloning one object per point cost the
 *            main thread about as much as the whole write on it did. Tags
 *            objects are deduplicated by identity and cloned in one message,
 *            so shared ones (also across calls of one turn) arrive shared,
 *            which the store's per-run tag lookup relies on. Points with a
 *            field of the wrong type are not packed but sent as they are, so
 *            the worker's store refuses them exactly as on the main thread.
 *            Other arguments are cloned at the end of the turn. Meta byte
 *            values are copied to exact-size arrays at the call (cloning a
 *            pooled Buffer would copy its whole pool slab).
 *   answers  { t: 'answers', answers: WireAnswer[] }: { id, v } or
 *            { id, e: WireError }. getMeta/listMeta bytes cross as exact-size
 *            Uint8Arrays and become Buffers (no copy) on the main side;
 *            readForward's records cross as one PackedPoints plus per-record
 *            seqs and counts (WireForwardBatch);
 *            errors become StoreError / OwlError / Error with the same code,
 *            retriable flag and message.
 *   other    { t: 'opened', blockSpanMs }, { t: 'open-failed', error } (the
 *            handshake of worker/),
 *            { t: 'bg-error', error }: a background checkpoint failure, passed
 *            to the main side's `onError`; { t: 'wal-cut', cut }: a damaged
 *            WAL tail cut at open, passed to `onWalTailCut`.
 *
 * All of it is @internal: only the two sides use it.
 */
import type { WireError } from '../../protocol/index.js';
import { errorRebuilder, type Outgoing, type Settled } from '../../worker/index.js';
import { StoreError, StoreErrorCode } from './errors.js';
import type { WalTailCut, WorkerSampleStoreOptions } from './options.js';
import type { ForwardBatch, MetaOp, StorePoint, WriteExtra } from './types.js';

/** Operation codes. */
export const Op = {
  WRITE: 1,
  QUERY: 2,
  LIST_SERIES: 3,
  STATS: 4,
  RETENTION: 5,
  GET_META: 6,
  LIST_META: 7,
  COUNTERS: 8,
  FLUSH: 9,
  CLOSE: 10,
  /** A write whose points went as columns (PackedPoints). */
  PACKED_WRITE: 11,
  /** a: { sink, afterSeq, maxPoints }; answered as WireForwardBatch. */
  READ_FORWARD: 12,
  /** a: sink, b: seq. */
  ACK_FORWARD: 13,
  FORWARD_STATS: 14,
  /** a: { sink, afterSeq, maxPoints, shards }; answered as EncodedForwardBatch (bodies copied: a few tens of KB). */
  READ_FORWARD_ENCODED: 15,
} as const;
export type Op = (typeof Op)[keyof typeof Op];

/** One call as it crosses. */
export interface WireCall {
  id: number;
  op: Op;
  a?: unknown;
  b?: unknown;
}

/** One answer. */
export type WireAnswer = { id: number; v: unknown } | { id: number; e: WireError };

/** What the worker gets as workerData. */
export interface WorkerInit {
  options: Omit<WorkerSampleStoreOptions, 'onError' | 'onWalTailCut'>;
}

/** What the worker's 'opened' message carries. */
export interface StoreOpened {
  blockSpanMs: number;
}

/** A message from the worker after the handshake. */
export type StoreEvent =
  | { t: 'answers'; answers: WireAnswer[] }
  | { t: 'bg-error'; error: WireError }
  | { t: 'wal-cut'; cut: WalTailCut };

// ---- points ------------------------------------------------------------------------

/**
 * Points as columns, which clone far cheaper than one object per point:
 * `nums` holds timestampMs × n, value × n, metric index × n, tags index × n
 * (transferred, not copied); `metrics` the distinct metric strings, `tags`
 * the distinct tags objects (by identity, so shared ones stay shared).
 */
export interface PackedPoints {
  nums: Float64Array;
  metrics: string[];
  tags: object[];
}

/**
 * Pack points whose fields have the right types, else undefined (they go as
 * they are, and the worker's store refuses them with its own error). Values
 * are only carried, never judged, here: the worker's store validates them.
 */
export function packPoints(points: unknown): PackedPoints | undefined {
  if (!Array.isArray(points)) return undefined;
  const list = points as unknown[];
  const n = list.length;
  const nums = new Float64Array(4 * n);
  const metrics: string[] = [];
  const metricIndex = new Map<string, number>();
  const tags: object[] = [];
  const tagIndex = new Map<object, number>();
  let prevTags: unknown;
  let prevTagIdx = 0;
  for (let i = 0; i < n; i++) {
    const p = list[i] as Partial<StorePoint> | null | undefined;
    if (typeof p !== 'object' || p === null) return undefined;
    const { metric, tags: t, timestampMs, value } = p;
    if (typeof metric !== 'string' || typeof timestampMs !== 'number' || typeof value !== 'number') {
      return undefined;
    }
    if (typeof t !== 'object' || t === null) return undefined;
    let mi = metricIndex.get(metric);
    if (mi === undefined) {
      mi = metrics.length;
      metrics.push(metric);
      metricIndex.set(metric, mi);
    }
    if (t !== prevTags) {
      let ti = tagIndex.get(t);
      if (ti === undefined) {
        ti = tags.length;
        tags.push(t);
        tagIndex.set(t, ti);
      }
      prevTags = t;
      prevTagIdx = ti;
    }
    nums[i] = timestampMs;
    nums[n + i] = value;
    nums[2 * n + i] = mi;
    nums[3 * n + i] = prevTagIdx;
  }
  return { nums, metrics, tags };
}

/** Rebuild packed points (in the worker). */
export function unpackPoints(packed: PackedPoints): StorePoint[] {
  const { nums, metrics, tags } = packed;
  const n = nums.length / 4;
  const out = new Array<StorePoint>(n);
  for (let i = 0; i < n; i++) {
    out[i] = {
      metric: metrics[nums[2 * n + i]!]!,
      tags: tags[nums[3 * n + i]!] as Record<string, string>,
      timestampMs: nums[i]!,
      value: nums[n + i]!,
    };
  }
  return out;
}

// ---- other arguments ---------------------------------------------------------------

/** A write's extra as it crosses: meta as wireMeta makes it, the rest as given (the worker validates). */
export function wireExtra(extra: WriteExtra | undefined): unknown {
  if (extra === undefined) return undefined;
  const out: Record<string, unknown> = { meta: wireMeta(extra.meta) };
  if (extra.countSamples !== undefined) out.countSamples = extra.countSamples;
  return out;
}

/** Meta ops with byte values copied to exact-size arrays; anything else passes as is (the worker validates). */
function wireMeta(meta: unknown): unknown {
  if (!Array.isArray(meta)) return meta;
  return (meta as unknown[]).map((op) => {
    const o = op as Partial<MetaOp> | null;
    if (o !== null && typeof o === 'object' && o.type === 'put' && o.value instanceof Uint8Array) {
      return { type: 'put', key: o.key, value: exactBytes(o.value) };
    }
    return op;
  });
}

/** The error RocksSampleStore would give for an argument of that kind, for a call that does not clone. */
export function uncloneable(c: WireCall, cause: unknown): StoreError {
  let code: StoreErrorCode = StoreErrorCode.BAD_QUERY;
  let what = 'argument';
  if (c.op === Op.WRITE || c.op === Op.PACKED_WRITE) {
    code = StoreErrorCode.BAD_META;
    what = 'meta op';
    try {
      structuredClone(c.a);
    } catch {
      code = StoreErrorCode.BAD_POINT;
      what = 'point';
    }
  }
  return new StoreError(code, `${what} holds a value that is not plain data`, { cause });
}

// ---- answers -----------------------------------------------------------------------

/** Bytes as they should cross: a view of exactly their own ArrayBuffer (else cloning copies the whole buffer). */
export function exactBytes(u8: Uint8Array): Uint8Array {
  // new Uint8Array(view) copies (Buffer#slice would not).
  return u8.byteOffset === 0 && u8.byteLength === u8.buffer.byteLength ? u8 : new Uint8Array(u8);
}

/** getMeta's answer as it crosses (in the worker). */
export function metaValueToWire(v: Buffer | undefined): Uint8Array | undefined {
  return v === undefined ? undefined : exactBytes(v);
}

/** listMeta's answer as it crosses (in the worker). */
export function metaRowsToWire(rows: Array<[string, Buffer]>): Array<[string, Uint8Array]> {
  return rows.map(([k, v]) => [k, exactBytes(v)]);
}

/** An answer's value as the contract gives it: bytes come back as Uint8Array, the contract promises Buffers. */
export function fromWireValue(op: Op, v: unknown): unknown {
  if (op === Op.GET_META) return v === undefined ? undefined : toBuffer(v as Uint8Array);
  if (op === Op.LIST_META) {
    const rows = v as Array<[string, Uint8Array]>;
    for (const row of rows) (row as unknown as [string, Buffer])[1] = toBuffer(row[1]);
    return rows;
  }
  if (op === Op.READ_FORWARD) return forwardFromWire(v as WireForwardBatch);
  return v;
}

/** readForward's answer as it crosses: every record's points as one set of columns, then per-record counts. */
export interface WireForwardBatch {
  seqs: number[];
  counts: number[];
  packed: PackedPoints;
  lastSeq: number;
}

/** readForward's answer as it crosses (in the worker). */
export function forwardToWire(batch: ForwardBatch): WireForwardBatch {
  const all: StorePoint[] = [];
  for (const r of batch.records) for (const p of r.points) all.push(p);
  return {
    seqs: batch.records.map((r) => r.seq),
    counts: batch.records.map((r) => r.points.length),
    packed: packPoints(all) as PackedPoints,
    lastSeq: batch.lastSeq,
  };
}

function forwardFromWire(w: WireForwardBatch): ForwardBatch {
  const all = unpackPoints(w.packed);
  let at = 0;
  const records = w.seqs.map((seq, i) => {
    const n = w.counts[i] as number;
    const points = all.slice(at, at + n);
    at += n;
    return { seq, points };
  });
  return { records, lastSeq: w.lastSeq };
}

function toBuffer(u8: Uint8Array): Buffer {
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

/** Answers settled together, as one message (in the worker). */
export function answersMessage(settled: Array<Settled<WireCall>>): Outgoing {
  const answers = settled.map((s): WireAnswer =>
    'error' in s ? { id: s.call.id, e: s.error } : { id: s.call.id, v: s.value },
  );
  const message: StoreEvent = { t: 'answers', answers };
  return { message, transfer: [] };
}

/** A worker's error, rebuilt: StoreError for its own codes. */
export const rebuildError = errorRebuilder(
  StoreErrorCode,
  (code, message, options) => new StoreError(code, message, options),
);
