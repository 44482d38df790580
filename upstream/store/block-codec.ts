/**
 * Block codec: the points of one series inside one time bucket, as stored in
 * the value of a block key (see rocks-store.ts for the key layout).
 *
 * Layout (all varints LEB128, "zz" = zigzag varint):
 *   u8     header = FORMAT_V1 << 4 | mode     mode 0 = scaled integers, 1 = XOR floats
 *   varint n                                  points, >= 1
 *   varint t0 - bucketStart                   bucketStart comes from the key
 *   varint t1 - t0                            (n >= 2; > 0, timestamps strictly ascend)
 *   zz     (t[i] - t[i-1]) - (t[i-1] - t[i-2]) for i >= 2: delta-of-delta, 1 byte for a steady interval
 *   mode 0: u8 k; zz round(v0 * 10^k); zz deltas of round(v * 10^k)
 *           chosen when every value equals round(v * 10^k) / 10^k exactly for
 *           one k in 0..6 (integers, percentages, fixed-decimal gauges) and
 *           |round(v * 10^k)| <= 2^50; decoding divides by the same 10^k, so
 *           the value comes back bit-identical.
 *   mode 1: f64 v0 (big-endian); per next value x = bits(v) XOR bits(prev):
 *           u8 (leadingZeroBytes << 4 | trailingZeroBytes), then the
 *           8 - lead - trail middle bytes (an unchanged value costs 1 byte).
 *
 * Invariants: timestamps strictly ascending and unique within a block, all in
 * [bucketStart, bucketStart + bucketMs). Decoding checks every length and
 * throws CORRUPT rather than returning made-up points.
 */
import { ByteReader, type ByteWriter, corrupt, unzigzag, zigzag } from './bytes.js';

const FORMAT_V1 = 1;
const MODE_SCALED = 0;
const MODE_XOR = 1;
const MAX_SCALE = 6;
/** Powers of ten for the decimal scales 0..6 (shared with the log record codec). */
export const POW10 = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000] as const;
const MAX_SCALED = 2 ** 50;

const scratch = new DataView(new ArrayBuffer(8));
const scratchBytes = new Uint8Array(scratch.buffer);

/** Smallest k in 0..6 with v === round(v*10^k)/10^k and |round(v*10^k)| <= max, or -1. */
export function scaleOf(v: number, max = MAX_SCALED): number {
  if (Object.is(v, -0)) return -1;
  for (let k = 0; k <= MAX_SCALE; k++) {
    const p = POW10[k] as number;
    const r = Math.round(v * p);
    if (r / p === v) return Math.abs(r) <= max ? k : -1;
  }
  return -1;
}

/**
 * Append the block for points [start, end) of `ts`/`vals` (ascending, unique,
 * all inside the bucket) to `w`.
 */
export function encodeBlock(
  w: ByteWriter,
  bucketStartMs: number,
  ts: ArrayLike<number>,
  vals: ArrayLike<number>,
  start: number,
  end: number,
): void {
  const n = end - start;
  if (n <= 0) throw new RangeError('empty block');
  const scaled = scaledValues(vals, start, end);
  w.u8((FORMAT_V1 << 4) | (scaled ? MODE_SCALED : MODE_XOR));
  w.varint(n);
  writeTimestamps(w, bucketStartMs, ts, start, end);
  if (scaled) {
    writeScaled(w, scaled.k, scaled.ints);
  } else {
    writeXor(w, vals, start, end);
  }
}

/** The values as integers of one decimal scale k (mode 0), or undefined when no k reproduces them all. */
function scaledValues(
  vals: ArrayLike<number>,
  start: number,
  end: number,
): { k: number; ints: number[] } | undefined {
  let k = 0;
  for (let i = start; i < end && k >= 0; i++) {
    const s = scaleOf(vals[i] as number);
    if (s < 0) k = -1;
    else if (s > k) k = s;
  }
  if (k < 0) return undefined;
  // The chosen k must reproduce every value, not only the one that needed it.
  const p = POW10[k] as number;
  const ints = new Array<number>(end - start);
  for (let i = 0; i < ints.length; i++) {
    const v = vals[start + i] as number;
    const r = Math.round(v * p);
    if (r / p !== v || Math.abs(r) > MAX_SCALED) return undefined;
    ints[i] = r;
  }
  return { k, ints };
}

/** t0 - bucketStart, t1 - t0, then delta-of-delta. */
function writeTimestamps(
  w: ByteWriter,
  bucketStartMs: number,
  ts: ArrayLike<number>,
  start: number,
  end: number,
): void {
  const t0 = ts[start] as number;
  w.varint(t0 - bucketStartMs);
  if (end - start < 2) return;
  let prevT = ts[start + 1] as number;
  let prevD = prevT - t0;
  w.varint(prevD);
  for (let i = start + 2; i < end; i++) {
    const t = ts[i] as number;
    const d = t - prevT;
    w.varint(zigzag(d - prevD));
    prevD = d;
    prevT = t;
  }
}

/** Mode 0: k, the first integer, then deltas. */
function writeScaled(w: ByteWriter, k: number, ints: number[]): void {
  w.u8(k);
  let prev = ints[0] as number;
  w.varint(zigzag(prev));
  for (let i = 1; i < ints.length; i++) {
    const x = ints[i] as number;
    w.varint(zigzag(x - prev));
    prev = x;
  }
}

/** Mode 1: the first value, then each one XOR the previous, zero bytes at both ends left out. */
function writeXor(w: ByteWriter, vals: ArrayLike<number>, start: number, end: number): void {
  const v0 = vals[start] as number;
  w.f64(v0);
  scratch.setFloat64(0, v0);
  let prevHi = scratch.getUint32(0);
  let prevLo = scratch.getUint32(4);
  for (let i = start + 1; i < end; i++) {
    scratch.setFloat64(0, vals[i] as number);
    const hi = scratch.getUint32(0);
    const lo = scratch.getUint32(4);
    const xh = (hi ^ prevHi) >>> 0;
    const xl = (lo ^ prevLo) >>> 0;
    prevHi = hi;
    prevLo = lo;
    if (xh === 0 && xl === 0) {
      w.u8(0x80);
      continue;
    }
    const lead = xh !== 0 ? Math.clz32(xh) >>> 3 : 4 + (Math.clz32(xl) >>> 3);
    const trail = xl !== 0 ? ctz32(xl) >>> 3 : 4 + (ctz32(xh) >>> 3);
    scratch.setUint32(0, xh);
    scratch.setUint32(4, xl);
    w.u8((lead << 4) | trail);
    w.bytes(scratchBytes, lead, 8 - trail);
  }
}

function ctz32(x: number): number {
  // x !== 0
  return 31 - Math.clz32(x & -x);
}

/** Number of points in a block, from its header only. */
export function blockCount(buf: Buffer): number {
  const r = new ByteReader(buf);
  checkHeader(r.u8());
  return r.varint();
}

function checkHeader(h: number): number {
  if (h >> 4 !== FORMAT_V1) throw corrupt(`unknown block format ${h >> 4}`);
  const mode = h & 0x0f;
  if (mode !== MODE_SCALED && mode !== MODE_XOR) throw corrupt(`unknown block mode ${mode}`);
  return mode;
}

/**
 * Decode a block, appending the points with fromMs <= t < toMs to `outTs` /
 * `outVals`. Returns the block's total point count.
 */
export function decodeBlock(
  buf: Buffer,
  bucketStartMs: number,
  outTs: number[],
  outVals: number[],
  fromMs = -Infinity,
  toMs = Infinity,
): number {
  const r = new ByteReader(buf);
  const mode = checkHeader(r.u8());
  const n = r.varint();
  if (n < 1 || n > r.remaining) throw corrupt('bad block point count');
  const ts = readTimestamps(r, bucketStartMs, n);
  // Only the in-range slice is materialised; values before it are still
  // decoded because each depends on the previous one.
  let lo = 0;
  while (lo < n && (ts[lo] as number) < fromMs) lo++;
  let hi = lo;
  while (hi < n && (ts[hi] as number) < toMs) hi++;
  if (mode === MODE_SCALED) readScaled(r, ts, lo, hi, outTs, outVals);
  else readXor(r, ts, lo, hi, outTs, outVals);
  return n;
}

function readTimestamps(r: ByteReader, bucketStartMs: number, n: number): number[] {
  const ts = new Array<number>(n);
  let t = bucketStartMs + r.varint();
  ts[0] = t;
  if (n < 2) return ts;
  let d = r.varint();
  if (d <= 0) throw corrupt('block timestamps not ascending');
  t += d;
  ts[1] = t;
  for (let i = 2; i < n; i++) {
    d += unzigzag(r.varint());
    if (d <= 0) throw corrupt('block timestamps not ascending');
    t += d;
    ts[i] = t;
  }
  return ts;
}

/** Mode 0 values of points [0, hi), appending those from `lo` on. */
function readScaled(
  r: ByteReader,
  ts: number[],
  lo: number,
  hi: number,
  outTs: number[],
  outVals: number[],
): void {
  const k = r.u8();
  if (k > MAX_SCALE) throw corrupt('bad block scale');
  const p = POW10[k] as number;
  let x = unzigzag(r.varint());
  for (let i = 0; i < hi; i++) {
    if (i > 0) x += unzigzag(r.varint());
    if (i >= lo) {
      outTs.push(ts[i] as number);
      outVals.push(x / p);
    }
  }
}

/** Mode 1 values of points [0, hi), appending those from `lo` on. */
function readXor(
  r: ByteReader,
  ts: number[],
  lo: number,
  hi: number,
  outTs: number[],
  outVals: number[],
): void {
  scratch.setFloat64(0, r.f64());
  let hiBits = scratch.getUint32(0);
  let loBits = scratch.getUint32(4);
  for (let i = 0; i < hi; i++) {
    if (i > 0) {
      const c = r.u8();
      if (c !== 0x80) {
        const lead = c >> 4;
        const trail = c & 0x0f;
        if (lead + trail >= 8) throw corrupt('bad block xor control');
        scratch.setUint32(0, 0);
        scratch.setUint32(4, 0);
        for (let j = lead; j < 8 - trail; j++) scratchBytes[j] = r.u8();
        hiBits = (hiBits ^ scratch.getUint32(0)) >>> 0;
        loBits = (loBits ^ scratch.getUint32(4)) >>> 0;
      }
    }
    if (i >= lo) {
      scratch.setUint32(0, hiBits);
      scratch.setUint32(4, loBits);
      outTs.push(ts[i] as number);
      outVals.push(scratch.getFloat64(0));
    }
  }
}
