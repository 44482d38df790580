/**
 * On-disk layout of one spool segment (one RocksDB instance). See rocks-spool.ts
 * for how segments make up a spool.
 *
 *   data key   8 bytes: seq, uint64 big-endian (so byte order = seq order)
 *   data value | float64 BE receivedAt ms | uint32 BE samples | payload |
 *   meta key   1 byte 0xFF: sorts after every data key (seq < 2^53), so the
 *              meta update in every batch overlaps only the newest SST file
 *              and sequential appends stay cheap to compact
 *   meta value UTF-8 JSON SegmentMeta, rewritten in the same synced batch as
 *              every data change of the segment
 *
 * Segment directories are named `seg-<first seq as 16 hex digits>`.
 */

const KEY_BYTES = 8;
export const VALUE_HEADER_BYTES = 12;
export const META_KEY = Buffer.from([0xff]);
const META_VERSION = 1;
const SEGMENT_PREFIX = 'seg-';
export const TRASH_PREFIX = 'trash-';

/** Logical bytes of one record: key + value. */
export function recordBytes(payloadLength: number): number {
  return KEY_BYTES + VALUE_HEADER_BYTES + payloadLength;
}

export function encodeKey(seq: number): Buffer {
  const key = Buffer.allocUnsafe(KEY_BYTES);
  key.writeUIntBE(Math.floor(seq / 2 ** 32), 0, 4);
  key.writeUInt32BE(seq % 2 ** 32, 4);
  return key;
}

export function decodeKey(key: Buffer): number {
  if (key.length !== KEY_BYTES) throw new RangeError(`bad spool key length ${key.length}`);
  return key.readUInt32BE(0) * 2 ** 32 + key.readUInt32BE(4);
}

/** The value into the start of `out` (at least VALUE_HEADER_BYTES + payload.length long); returns that view. */
export function encodeValueInto(out: Buffer, receivedAt: number, samples: number, payload: Buffer): Buffer {
  out.writeDoubleBE(receivedAt, 0);
  out.writeUInt32BE(samples, 8);
  payload.copy(out, VALUE_HEADER_BYTES);
  return out.subarray(0, VALUE_HEADER_BYTES + payload.length);
}

interface DecodedValue {
  receivedAt: number;
  samples: number;
  payload: Buffer;
}

export function decodeValue(value: Buffer): DecodedValue {
  if (value.length < VALUE_HEADER_BYTES) throw new RangeError(`bad spool value length ${value.length}`);
  return {
    receivedAt: value.readDoubleBE(0),
    samples: value.readUInt32BE(8),
    payload: value.subarray(VALUE_HEADER_BYTES),
  };
}

/** Counters of segments already removed from the spool (kept in the newest segment's meta). */
export interface RetiredCounters {
  appendedRecords: number;
  appendedSamples: number;
  droppedRecords: number;
  droppedSamples: number;
}

export interface SegmentMeta {
  v: number;
  spoolId: string;
  /** First seq this segment may hold (also in its directory name). */
  first: number;
  /** One past the highest seq ever appended here (first when none). */
  next: number;
  /** Logical bytes ever appended here; decides when to start a new segment. */
  appendedBytes: number;
  appendedRecords: number;
  appendedSamples: number;
  liveRecords: number;
  liveSamples: number;
  liveBytes: number;
  /** Records deleted from this segment by the age cap. */
  droppedRecords: number;
  droppedSamples: number;
  /** receivedAt of the last record appended here, null when none. */
  newestReceivedAt: number | null;
  /** Authoritative in the newest segment only (every segment carries a copy as of its last write). */
  retired: RetiredCounters;
  /** First seqs of segments whose counters are retired but whose directories may still exist. */
  pending: number[];
}

export function newRetired(): RetiredCounters {
  return { appendedRecords: 0, appendedSamples: 0, droppedRecords: 0, droppedSamples: 0 };
}

export function newSegmentMeta(spoolId: string, first: number): SegmentMeta {
  return {
    v: META_VERSION,
    spoolId,
    first,
    next: first,
    appendedBytes: 0,
    appendedRecords: 0,
    appendedSamples: 0,
    liveRecords: 0,
    liveSamples: 0,
    liveBytes: 0,
    droppedRecords: 0,
    droppedSamples: 0,
    newestReceivedAt: null,
    retired: newRetired(),
    pending: [],
  };
}

export function encodeMeta(meta: SegmentMeta): Buffer {
  return Buffer.from(JSON.stringify(meta));
}

const COUNT_FIELDS = [
  'first',
  'next',
  'appendedBytes',
  'appendedRecords',
  'appendedSamples',
  'liveRecords',
  'liveSamples',
  'liveBytes',
  'droppedRecords',
  'droppedSamples',
] as const;
const RETIRED_FIELDS = ['appendedRecords', 'appendedSamples', 'droppedRecords', 'droppedSamples'] as const;

/** Parse and check a meta value; throws RangeError when it is not one this version wrote. */
export function decodeMeta(value: Buffer): SegmentMeta {
  const m = JSON.parse(value.toString('utf8')) as Record<string, unknown>;
  if (m === null || typeof m !== 'object' || m.v !== META_VERSION)
    throw new RangeError('bad segment meta version');
  if (typeof m.spoolId !== 'string' || m.spoolId.length === 0)
    throw new RangeError('bad segment meta spoolId');
  for (const f of COUNT_FIELDS) if (!isCount(m[f])) throw new RangeError(`bad segment meta ${f}`);
  if (m.newestReceivedAt !== null && typeof m.newestReceivedAt !== 'number') {
    throw new RangeError('bad segment meta newestReceivedAt');
  }
  const r = m.retired as Record<string, unknown> | null;
  if (r === null || typeof r !== 'object') throw new RangeError('bad segment meta retired');
  for (const f of RETIRED_FIELDS) if (!isCount(r[f])) throw new RangeError(`bad segment meta retired.${f}`);
  if (!Array.isArray(m.pending) || !m.pending.every(isCount))
    throw new RangeError('bad segment meta pending');
  return m as unknown as SegmentMeta;
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

export function segmentName(first: number): string {
  return SEGMENT_PREFIX + first.toString(16).padStart(16, '0');
}

/** First seq of a segment directory name, or undefined when the name is not one. */
export function parseSegmentName(name: string): number | undefined {
  if (!name.startsWith(SEGMENT_PREFIX)) return undefined;
  const hex = name.slice(SEGMENT_PREFIX.length);
  if (!/^[0-9a-f]{16}$/.test(hex)) return undefined;
  const n = parseInt(hex, 16);
  return Number.isSafeInteger(n) && n >= 1 ? n : undefined;
}
