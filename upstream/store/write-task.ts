/**
 * A write as it waits for its group commit: its points checked, each one's
 * series-key suffix built and its series id looked up in the cache. All of
 * that happens at the call, on the caller's turn, so a bad write is refused
 * before it is queued and commits nothing.
 */
import { StoreError, StoreErrorCode } from './errors.js';
import { TWO_32 } from './keys.js';
import { checkMetaOp } from './meta.js';
import type { TagEntry } from './series-cache.js';
import { checkMetric, tagSuffix } from './series-key.js';
import type { StoreState } from './store-state.js';
import type { MetaOp, StorePoint, WriteExtra } from './types.js';

/** Year 10889: keeps every timestamp delta a safe zigzag integer in the log and block codecs. */
const MAX_TIMESTAMP_MS = 2 ** 48;

export interface WriteTask {
  points: readonly StorePoint[];
  /** Tag suffix per point (series key = metric NUL suffix); runs share one string. */
  suffixes: string[];
  /** Series id per point from the cache, 0 where it missed (ids start at 1); valid while `epoch` is current. */
  ids: Uint32Array;
  epoch: number;
  misses: number;
  meta: readonly MetaOp[];
  /** Points counted as samples (all of them if the write was marked `countSamples`, else 0). */
  samples: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

type PreparedWrite = Omit<WriteTask, 'resolve' | 'reject'>;

/** Check a write and look its series up; undefined when it holds nothing to commit. Throws the coded refusal. */
export function prepareWrite(
  s: StoreState,
  points: readonly StorePoint[],
  extra: WriteExtra | undefined,
  maxWritePoints: number,
): PreparedWrite | undefined {
  if (!Array.isArray(points)) throw new StoreError(StoreErrorCode.BAD_POINT, 'points must be an array');
  if (points.length > maxWritePoints) {
    throw new StoreError(
      StoreErrorCode.WRITE_TOO_LARGE,
      `${points.length} points in one write (limit ${maxWritePoints})`,
    );
  }
  const suffixes = new Array<string>(points.length);
  const ids = new Uint32Array(points.length);
  const misses = lookUpPoints(s, points, suffixes, ids);
  const meta = extra?.meta ?? [];
  for (const op of meta) checkMetaOp(op);
  if (points.length === 0 && meta.length === 0) return undefined;
  const samples = extra?.countSamples === true ? points.length : 0;
  return { points, suffixes, ids, epoch: s.epoch, misses, meta, samples };
}

/** Check every point, filling in its suffix and cached id (0: missed). Returns the number of misses. */
function lookUpPoints(
  s: StoreState,
  points: readonly StorePoint[],
  suffixes: string[],
  ids: Uint32Array,
): number {
  let misses = 0;
  const maxTs = Math.min(s.bucketMs * TWO_32, MAX_TIMESTAMP_MS);
  // Points share tags objects (ingest makes one per host and tag set): build
  // and look up a suffix once per object in this write, then only the metric
  // per point. Runs of one object skip even the map.
  const byTags = new Map<unknown, { suffix: string; entry: TagEntry }>();
  let prevTags: unknown;
  let suffix = '';
  let entry: TagEntry | undefined;
  for (let i = 0; i < points.length; i++) {
    const p = points[i] as StorePoint;
    if (typeof p !== 'object' || p === null)
      throw new StoreError(StoreErrorCode.BAD_POINT, `point ${i} is not an object`);
    if (entry === undefined || p.tags !== prevTags) {
      let known = byTags.get(p.tags);
      if (known === undefined) {
        const sfx = tagSuffix(p.tags, s.limits);
        known = { suffix: sfx, entry: s.ids.lookup(sfx) };
        if (typeof p.tags === 'object' && p.tags !== null) byTags.set(p.tags, known);
      }
      suffix = known.suffix;
      entry = known.entry;
      prevTags = p.tags;
    }
    checkMetric(p.metric, s.limits);
    suffixes[i] = suffix;
    const id = entry.get(p.metric);
    if (id === undefined) {
      misses++;
    } else {
      ids[i] = id;
    }
    const t = p.timestampMs;
    if (!Number.isSafeInteger(t) || t < 0 || t >= maxTs) {
      throw new StoreError(StoreErrorCode.BAD_POINT, `point ${i}: timestampMs must be an integer ms >= 0`);
    }
    if (typeof p.value !== 'number' || !Number.isFinite(p.value)) {
      throw new StoreError(StoreErrorCode.BAD_POINT, `point ${i}: value must be a finite number`);
    }
  }
  return misses;
}
