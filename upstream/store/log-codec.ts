/**
 * Log record: the points of one group commit, stored under `w|seq` until a
 * checkpoint folds them into blocks (see rocks-store.ts). Compact because a
 * synced write's cost grows with its bytes (WAL append + fdatasync):
 *
 *   u8 version (2) | varint count | count x point
 *   point = varint seriesId | zz (timestampMs - previous point's, 0 before the first) | value
 *   value = varint h: h = zz(round(v * 10^k)) * 8 + k for the smallest k in 0..6 that
 *           reproduces v exactly (|round| <= 2^49), else h = 7 followed by f64 v (big-endian)
 *
 * "zz" is a zigzag varint. Decoding checks lengths and throws CORRUPT.
 */
import { ByteReader, type ByteWriter, corrupt, unzigzag, zigzag } from './bytes.js';
import { POW10, scaleOf } from './block-codec.js';

const LOG_V2 = 2;
const RAW = 7;
const MAX_LOG_SCALED = 2 ** 49;

/** Start a record of `count` points in `w` (which is reset). */
export function beginLogRecord(w: ByteWriter, count: number): void {
  w.reset();
  w.u8(LOG_V2);
  w.varint(count);
}

/** Append one point; `prevTs` is the previous point's timestamp (0 for the first). */
export function pushLogPoint(w: ByteWriter, prevTs: number, id: number, ts: number, value: number): void {
  w.varint(id);
  w.varint(zigzag(ts - prevTs));
  const k = scaleOf(value, MAX_LOG_SCALED);
  if (k >= 0) {
    w.varint(zigzag(Math.round(value * (POW10[k] as number))) * 8 + k);
  } else {
    w.u8(RAW);
    w.f64(value);
  }
}

/** The number of points in a record, read from its header only. */
export function logRecordCount(buf: Buffer): number {
  const r = new ByteReader(buf);
  if (r.u8() !== LOG_V2) throw corrupt('bad log record version');
  return r.varint();
}

/** Call `fn` for each point of a record, in write order; returns the count. */
export function readLogRecord(buf: Buffer, fn: (id: number, ts: number, value: number) => void): number {
  const r = new ByteReader(buf);
  if (r.u8() !== LOG_V2) throw corrupt('bad log record version');
  const count = r.varint();
  if (count > r.remaining) throw corrupt('bad log record count');
  let ts = 0;
  for (let i = 0; i < count; i++) {
    const id = r.varint();
    ts += unzigzag(r.varint());
    const h = r.varint();
    const k = h % 8;
    let value: number;
    if (k === RAW) {
      value = r.f64();
    } else {
      value = unzigzag((h - k) / 8) / (POW10[k] as number);
    }
    fn(id, ts, value);
  }
  if (r.remaining !== 0) throw corrupt('bytes after the last log point');
  return count;
}
