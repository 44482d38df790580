/**
 * Opening a store (rocks-store.ts describes the format): cut a damaged WAL
 * tail before RocksDB replays it, read or create the format record, load the
 * counters, and replay every log record a crash left into the pending set,
 * in seq order. Replaying is safe however often it happens: folding is
 * idempotent, so a checkpoint cut short is simply done again.
 */
import { cutDamagedWalTails } from '../../rocks/index.js';
import type { DB } from './db.js';
import { StoreError, StoreErrorCode, ioError } from './errors.js';
import { loadCursors, settleCursors } from './forward-open.js';
import {
  FORMAT_KEY,
  K_FOLDED_BELOW,
  K_NEXT_ID,
  K_POINTS,
  K_SERIES,
  P_LOG,
  decodeU64,
  logKey,
  logKeySeq,
} from './keys.js';
import { logRecordCount, readLogRecord } from './log-codec.js';
import { DEFAULT_BUCKET_MS, type WalTailCut } from './options.js';
import type { StoreState } from './store-state.js';

const FORMAT_VERSION = 1;
const MIN_BUCKET_MS = 60_000;

/** Open the database at `location`, first cutting damaged WAL tails off (kept under `<location>.damaged-<nowMs>`). */
export async function openDatabase(
  db: DB,
  location: string,
  nowMs: number,
  onWalTailCut: ((cut: WalTailCut) => void) | undefined,
): Promise<void> {
  try {
    const cut = cutDamagedWalTails(location, `${location}.damaged-${nowMs}`);
    for (const c of cut) onWalTailCut?.(c);
    await db.open();
  } catch (err) {
    throw ioError(err);
  }
}

/** Load an open database into `s`: format, counters, and the points of the log records left. */
export async function loadStore(
  s: StoreState,
  requestedBucketMs: number | undefined,
  nowMs: number,
): Promise<void> {
  const [format, nextId, series, points, foldedBelow] = await s.db.getMany([
    FORMAT_KEY,
    K_NEXT_ID,
    K_SERIES,
    K_POINTS,
    K_FOLDED_BELOW,
  ]);
  if (format === undefined) {
    s.bucketMs = checkBucketMs(requestedBucketMs ?? DEFAULT_BUCKET_MS);
    await s.db.batch(
      [
        {
          type: 'put',
          key: FORMAT_KEY,
          value: Buffer.from(JSON.stringify({ version: FORMAT_VERSION, bucketMs: s.bucketMs })),
        },
      ],
      { sync: true },
    );
  } else {
    // The stored bucket size wins: blocks on disk were cut with it.
    s.bucketMs = storedBucketMs(format);
  }
  s.nextId = Math.max(1, decodeU64(nextId));
  s.seriesCount = decodeU64(series);
  s.pointCount = decodeU64(points);
  s.foldedBelow = decodeU64(foldedBelow);
  const stale = s.fw === undefined ? [] : await loadCursors(s, s.fw);
  await replayLog(s, nowMs);
  if (s.fw !== undefined) await settleCursors(s, s.fw, stale);
}

function checkBucketMs(bucketMs: number): number {
  if (!Number.isSafeInteger(bucketMs) || bucketMs < MIN_BUCKET_MS) {
    throw new StoreError(StoreErrorCode.BAD_OPTION, `bucketMs must be an integer >= ${MIN_BUCKET_MS}`);
  }
  return bucketMs;
}

function storedBucketMs(format: Buffer): number {
  let parsed: { version?: unknown; bucketMs?: unknown };
  try {
    parsed = JSON.parse(format.toString('utf8')) as typeof parsed;
  } catch (err) {
    throw new StoreError(StoreErrorCode.CORRUPT, 'unreadable format record', { cause: err });
  }
  if (parsed.version !== FORMAT_VERSION || typeof parsed.bucketMs !== 'number') {
    throw new StoreError(StoreErrorCode.CORRUPT, `unsupported store format ${String(parsed.version)}`);
  }
  return parsed.bucketMs;
}

/**
 * Every log record not yet folded, in seq order, into `s.pending`; records below `c foldedBelow`
 * were kept only for sinks (or `keepSamples: false`) and are not replayed: they go to the
 * forwarding index, or are deleted when no sink is configured. The next seq follows the last
 * record, the fold marker and every cursor, so a seq is never reused while a cursor names it.
 */
async function replayLog(s: StoreState, nowMs: number): Promise<void> {
  const fw = s.fw;
  const orphans: number[] = [];
  const it = s.db.iterator({ gte: Buffer.from([P_LOG]), lt: Buffer.from([P_LOG + 1]) });
  try {
    for (;;) {
      const rows = await it.nextv(256);
      if (rows.length === 0) break;
      for (const [key, value] of rows) {
        const seq = logKeySeq(key);
        const folded = !s.keepSamples || seq < s.foldedBelow;
        if (folded) {
          if (fw === undefined) orphans.push(seq);
          else fw.index.push(seq, value.length, logRecordCount(value), nowMs, true);
        } else {
          const n = readLogRecord(value, (id, ts, v) => s.pending.add(id, ts, v));
          s.pending.seqs.push(seq);
          fw?.index.push(seq, value.length, n, nowMs, false);
        }
        s.nextSeq = seq + 1;
      }
    }
  } finally {
    await it.close();
  }
  s.nextSeq = Math.max(s.nextSeq, s.foldedBelow);
  if (orphans.length > 0) await deleteLogRecords(s, orphans);
}

/** Delete log records (folded ones no sink needs), in one unsynced batch. */
export async function deleteLogRecords(s: StoreState, seqs: readonly number[]): Promise<void> {
  if (seqs.length === 0) return;
  await s.db.batch(
    seqs.map((seq) => ({ type: 'del' as const, key: logKey(seq) })),
    { sync: false },
  );
}
