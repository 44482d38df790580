import { SpoolError, SpoolErrorCode } from './errors.js';
import { recordBytes } from './format.js';
import type { SpoolLogger, SpoolRecord } from './spool.js';

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
