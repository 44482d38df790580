import { SpoolError, SpoolErrorCode } from './errors.js';
import { recordBytes } from './format.js';
import type { Released, SpoolLogger, SpoolRecord } from './spool.js';

/** Check records before accepting them; returns their logical bytes and samples. */
export function checkRecords(records: readonly SpoolRecord[]): { bytes: number; samples: number } {
  if (!Array.isArray(records)) throw new SpoolError(SpoolErrorCode.BAD_RECORD, 'records must be an array');
  let bytes = 0;
  let samples = 0;
  for (const r of records) {
    if (r === null || typeof r !== 'object' || !Buffer.isBuffer(r.payload)) {
      throw new SpoolError(SpoolErrorCode.BAD_RECORD, 'record payload must be a Buffer');
    }
    if (!Number.isInteger(r.samples) || r.samples < 0 || r.samples > 0xffffffff) {
      throw new SpoolError(SpoolErrorCode.BAD_RECORD, 'record samples must be an integer in [0, 2^32)');
    }
    bytes += recordBytes(r.payload.length);
    samples += r.samples;
  }
  return { bytes, samples };
}

/** Sort inclusive ranges and merge the overlapping or adjacent ones. */
export function mergeRanges(ranges: Array<[number, number]>): Array<[number, number]> {
  const sorted = ranges.filter(([a, b]) => a <= b).sort((x, y) => x[0] - y[0]);
  const out: Array<[number, number]> = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

export const noopLogger: SpoolLogger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/**
 * Give each release what it removed, from the (seq, samples) pairs deleted for the whole group
 * (seq ascending). Overlapping releases of one group count a record once, for the earliest call,
 * as if they had been applied one by one.
 */
export function attributeReleased(
  releases: ReadonlyArray<{ first: number; last: number; removed: Released }>,
  deleted: readonly number[],
): void {
  const n = deleted.length / 2;
  const claimed = new Uint8Array(n);
  for (const r of releases) {
    // First deleted record with seq >= r.first.
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (deleted[2 * mid]! < r.first) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < n && deleted[2 * i]! <= r.last; i++) {
      if (claimed[i] === 1) continue;
      claimed[i] = 1;
      r.removed.records += 1;
      r.removed.samples += deleted[2 * i + 1]!;
    }
  }
}
