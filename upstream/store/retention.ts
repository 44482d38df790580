/**
 * Retention (rocks-store.ts): fold first, then walk the series in slices of
 * 256 (each an exclusive job, so writes run between slices), deleting whole
 * old blocks, trimming the block holding the cutoff, and removing a series
 * (both dictionary keys) once it has no block and no pending point. Ids are
 * never reused; removing series bumps the epoch so a queued write re-resolves
 * ids it took from the cache before.
 */
import type { ChainedBatch } from '@nxtedition/rocksdb';
import { blockCount, decodeBlock, encodeBlock } from './block-codec.js';
import { closeQuietly } from './db.js';
import { closedError, ioError } from './errors.js';
import {
  K_POINTS,
  K_SERIES,
  P_ID,
  TWO_32,
  blockKey,
  blockKeyBucket,
  encodeU64,
  idKey,
  seriesDictKey,
} from './keys.js';
import { SEP } from './series-key.js';
import type { StoreState } from './store-state.js';
import type { RetentionResult } from './types.js';

const SLICE_SERIES = 256;

/** Delete every point older than `cutoffMs`, after `flush` folded every pending one. */
export async function runRetention(
  s: StoreState,
  cutoffMs: number,
  flush: () => Promise<void>,
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>,
): Promise<RetentionResult> {
  // Fold first, so old points are all in blocks and none hides in a log record
  // that a crash would replay after the blocks were trimmed.
  await flush();
  const result: RetentionResult = { deletedPoints: 0, deletedSeries: 0 };
  let after = 0;
  for (;;) {
    const r = await exclusive(() => retentionSlice(s, after, cutoffMs, SLICE_SERIES));
    result.deletedPoints += r.deletedPoints;
    result.deletedSeries += r.deletedSeries;
    if (r.lastId === undefined) break;
    after = r.lastId + 1;
  }
  return result;
}

/** Retention over the `count` series from id `fromId` on, in one unsynced batch; `lastId` undefined when none was left. */
async function retentionSlice(
  s: StoreState,
  fromId: number,
  cutoffMs: number,
  count: number,
): Promise<RetentionResult & { lastId: number | undefined }> {
  if (s.lifecycle === 'closed') throw closedError();
  const cutBucket = Math.floor(cutoffMs / s.bucketMs);
  const series = await s.db
    .iterator({ gte: idKey(fromId), lt: Buffer.from([P_ID + 1]), limit: count })
    .all()
    .catch((err: unknown) => {
      throw ioError(err);
    });
  if (series.length === 0) return { deletedPoints: 0, deletedSeries: 0, lastId: undefined };
  const batch = s.db.batch();
  let deletedPoints = 0;
  const removed: string[] = [];
  try {
    for (const [ik, keyBuf] of series) {
      const id = ik.readUInt32BE(1);
      const trimmed = await trimSeries(s, batch, id, cutoffMs, cutBucket);
      deletedPoints += trimmed.deletedPoints;
      if (trimmed.kept || !(await isEmptied(s, id, cutBucket))) continue;
      const key = keyBuf.toString('utf8');
      batch.del(seriesDictKey(key));
      batch.del(ik);
      removed.push(key);
    }
    if (deletedPoints > 0) batch.put(K_POINTS, encodeU64(s.pointCount - deletedPoints));
    if (removed.length > 0) batch.put(K_SERIES, encodeU64(s.seriesCount - removed.length));
    if (deletedPoints > 0 || removed.length > 0) await batch.write({ sync: false });
  } catch (err) {
    throw ioError(err);
  } finally {
    await closeQuietly(batch);
  }
  publishRemoval(s, deletedPoints, removed);
  const last = series[series.length - 1] as [Buffer, Buffer];
  return { deletedPoints, deletedSeries: removed.length, lastId: last[0].readUInt32BE(1) };
}

/**
 * Add to `batch` the deletion of the series' blocks wholly before the cutoff
 * and the trimmed block holding it. `kept`: a point at or after the cutoff is
 * left in a block up to the cutoff's.
 */
async function trimSeries(
  s: StoreState,
  batch: ChainedBatch<Buffer, Buffer>,
  id: number,
  cutoffMs: number,
  cutBucket: number,
): Promise<{ deletedPoints: number; kept: boolean }> {
  const span = s.bucketMs;
  const rows = await s.db.iterator({ gte: blockKey(id, 0), lte: blockKey(id, cutBucket) }).all();
  let deletedPoints = 0;
  let kept = false;
  for (const [bk, value] of rows) {
    const bucket = blockKeyBucket(bk);
    if ((bucket + 1) * span <= cutoffMs) {
      deletedPoints += blockCount(value);
      batch.del(bk);
      continue;
    }
    const ts: number[] = [];
    const vals: number[] = [];
    const n = decodeBlock(value, bucket * span, ts, vals, cutoffMs, Infinity);
    deletedPoints += n - ts.length;
    if (ts.length === 0) {
      batch.del(bk);
    } else {
      kept = true;
      if (ts.length < n) {
        s.blockWriter.reset();
        encodeBlock(s.blockWriter, bucket * span, ts, vals, 0, ts.length);
        batch.put(bk, s.blockWriter.copy());
      }
    }
  }
  return { deletedPoints, kept };
}

/** True when nothing of the series is left once its blocks up to the cutoff's are gone: no pending point, no later block. */
async function isEmptied(s: StoreState, id: number, cutBucket: number): Promise<boolean> {
  if (s.pending.series.has(id) || s.frozen?.series.has(id)) return false;
  const end = blockKey(id, TWO_32 - 1);
  const later = await s.db.keys({ gt: blockKey(id, cutBucket), lte: end, limit: 1 }).all();
  return later.length === 0;
}

/** The slice's batch is written: counters down, removed series out of the cache. */
function publishRemoval(s: StoreState, deletedPoints: number, removed: string[]): void {
  s.pointCount -= deletedPoints;
  s.seriesCount -= removed.length;
  for (const key of removed) {
    const cut = key.indexOf(SEP);
    s.ids.delete(key.slice(cut + 1), key.slice(0, cut));
  }
  if (removed.length > 0) s.epoch++;
}
