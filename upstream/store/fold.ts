/**
 * Folding pending points into blocks (rocks-store.ts): cut a frozen set into
 * (series, bucket) units, then per chunk of units read the touched blocks,
 * merge (the later write of a timestamp wins), re-encode, and move the
 * `points` counter by the change, all in one batch. Idempotent: merging a
 * point already in its block changes nothing and counts nothing, which is
 * what lets a checkpoint cut short by a crash or an error simply run again.
 */
import { decodeBlock, encodeBlock } from './block-codec.js';
import { closeQuietly } from './db.js';
import { closedError } from './errors.js';
import { K_POINTS, blockKey, encodeU64 } from './keys.js';
import { mergeSorted, normalize, type PendingSet } from './pending.js';
import type { StoreState } from './store-state.js';

/** One (series, bucket) slice of a checkpoint: points [start, end) of `ts`/`vals`. */
interface FoldUnit {
  id: number;
  bucket: number;
  ts: number[];
  vals: number[];
  start: number;
  end: number;
}

/** The units of a set, in key order (the batches then touch the key space sequentially). */
export function planFold(set: PendingSet, bucketMs: number): FoldUnit[] {
  const units: FoldUnit[] = [];
  for (const [id, sp] of set.series) {
    const { ts, vals } = normalize(sp.ts, sp.vals);
    let start = 0;
    while (start < ts.length) {
      const bucket = Math.floor((ts[start] as number) / bucketMs);
      const limit = (bucket + 1) * bucketMs;
      let end = start + 1;
      while (end < ts.length && (ts[end] as number) < limit) end++;
      units.push({ id, bucket, ts, vals, start, end });
      start = end;
    }
  }
  units.sort((a, b) => a.id - b.id || a.bucket - b.bucket);
  return units;
}

/** Merge `units` into their blocks in one unsynced batch (WAL order keeps the log records until it lands). */
export async function foldChunk(s: StoreState, units: FoldUnit[]): Promise<void> {
  if (s.lifecycle === 'closed') throw closedError();
  const keys = units.map((u) => blockKey(u.id, u.bucket));
  const olds = await s.db.getMany(keys);
  const batch = s.db.batch();
  const w = s.blockWriter;
  let delta = 0;
  try {
    for (let i = 0; i < units.length; i++) {
      const u = units[i] as FoldUnit;
      const old = olds[i];
      const start = u.bucket * s.bucketMs;
      w.reset();
      if (old === undefined) {
        encodeBlock(w, start, u.ts, u.vals, u.start, u.end);
        delta += u.end - u.start;
      } else {
        const oTs: number[] = [];
        const oVals: number[] = [];
        const oldN = decodeBlock(old, start, oTs, oVals);
        const merged = mergeSorted(oTs, oVals, u.ts.slice(u.start, u.end), u.vals.slice(u.start, u.end));
        encodeBlock(w, start, merged.ts, merged.vals, 0, merged.ts.length);
        delta += merged.ts.length - oldN;
      }
      batch.put(keys[i] as Buffer, w.copy());
    }
    batch.put(K_POINTS, encodeU64(s.pointCount + delta));
    await batch.write({ sync: false });
  } finally {
    await closeQuietly(batch);
  }
  s.pointCount += delta;
}
