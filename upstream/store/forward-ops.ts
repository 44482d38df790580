/**
 * The forwarding calls (rocks-store.ts, "Forwarding"): read the records a
 * sink has not accepted, with every point's metric and tags resolved from
 * the dictionary, and acknowledge them (move the sink's cursor, delete the
 * folded records no sink needs any more).
 */
import { createSinkEncoder, type SinkEncoder } from '../sinks/index.js';
import { StoreError, StoreErrorCode, badQuery, closedError, ioError } from './errors.js';
import type { ForwardLog } from './forward-log.js';
import { cursorKey, encodeU64, idKey, logKey, logKeySeq } from './keys.js';
import { readLogRecord } from './log-codec.js';
import { parseSeriesKey } from './series-key.js';
import type { StoreState } from './store-state.js';
import type { EncodedForwardBatch, ForwardBatch, ForwardRecord, StorePoint } from './types.js';

/** Resolved series kept across reads (ids are never reused, so entries never go stale). */
const MAX_NAMES = 100_000;
type Names = ForwardLog['names'];

export function forwardLog(s: StoreState): ForwardLog {
  if (s.fw === undefined) throw badQuery('forwarding is not configured (store option `forward`)');
  return s.fw;
}

interface RawRecord {
  seq: number;
  ids: number[];
  ts: number[];
  vals: number[];
}

interface RawRead {
  raw: RawRecord[];
  names: Names;
  lastSeq: number;
}

/** Up to about `maxPoints` points (whole records, at least one) committed after max(afterSeq, the sink's cursor). */
export async function readForward(
  s: StoreState,
  sink: string,
  afterSeq: number,
  maxPoints: number,
): Promise<ForwardBatch> {
  const fw = forwardLog(s);
  const { raw, names, lastSeq } = await readRaw(s, fw, sink, afterSeq, maxPoints);
  const records: ForwardRecord[] = raw.map((r) => ({ seq: r.seq, points: toPoints(fw, names, r) }));
  return { records, lastSeq };
}

/** The same read, as up to `shards` requests built by the sink's encoder (options `forward.encodings`). */
export async function readForwardEncoded(
  s: StoreState,
  sink: string,
  afterSeq: number,
  maxPoints: number,
  shards = 1,
): Promise<EncodedForwardBatch> {
  if (!Number.isSafeInteger(shards) || shards < 1 || shards > 256) throw badQuery('shards must be 1 to 256');
  const fw = forwardLog(s);
  const encoder = encoderOf(fw, sink);
  const { raw, names, lastSeq } = await readRaw(s, fw, sink, afterSeq, maxPoints);
  const ids: number[] = [];
  const ts: number[] = [];
  const vals: number[] = [];
  for (const r of raw) {
    for (let i = 0; i < r.ids.length; i++) {
      const id = r.ids[i] as number;
      // Retention removed the series (its points were older than the cutoff): counted, skipped.
      if (!names.has(id)) {
        fw.unresolvedPoints++;
        continue;
      }
      ids.push(id);
      ts.push(r.ts[i] as number);
      vals.push(r.vals[i] as number);
    }
  }
  const encoded = encoder.encode({ ids, ts, vals, nameOf: (id) => names.get(id) }, shards);
  return { ...encoded, records: raw.length, points: ids.length, lastSeq };
}

function encoderOf(fw: ForwardLog, sink: string): SinkEncoder {
  fw.cursorOf(sink); // an unknown sink is refused first
  let encoder = fw.encoders.get(sink);
  if (encoder === undefined) {
    const encoding = fw.options.encodings?.[sink];
    if (encoding === undefined)
      throw badQuery(`no encoding for sink ${JSON.stringify(sink)} (forward.encodings)`);
    encoder = createSinkEncoder(encoding);
    fw.encoders.set(sink, encoder);
  }
  return encoder;
}

async function readRaw(
  s: StoreState,
  fw: ForwardLog,
  sink: string,
  afterSeq: number,
  maxPoints: number,
): Promise<RawRead> {
  if (!Number.isSafeInteger(afterSeq) || afterSeq < -1) throw badQuery('afterSeq must be an integer >= -1');
  if (!Number.isSafeInteger(maxPoints) || maxPoints < 1) throw badQuery('maxPoints must be an integer >= 1');
  const from = Math.max(afterSeq, fw.cursorOf(sink)) + 1;
  // Only published records: a batch being synced may already be readable.
  const end = s.nextSeq;
  const raw: RawRecord[] = [];
  let n = 0;
  if (from < end) {
    const it = s.db.iterator({ gte: logKey(from), lt: logKey(end) });
    try {
      while (n < maxPoints) {
        const rows = await it.nextv(16);
        if (rows.length === 0) break;
        for (const [key, value] of rows) {
          const r: RawRecord = { seq: logKeySeq(key), ids: [], ts: [], vals: [] };
          n += readLogRecord(value, (id, t, v) => (r.ids.push(id), r.ts.push(t), r.vals.push(v)));
          raw.push(r);
          if (n >= maxPoints) break;
        }
      }
    } catch (err) {
      throw ioError(err);
    } finally {
      await it.close().catch(() => {});
    }
  }
  const names = await resolveNames(s, fw, raw);
  return { raw, names, lastSeq: raw.length > 0 ? (raw[raw.length - 1] as RawRecord).seq : from - 1 };
}

function toPoints(
  fw: ForwardLog,
  names: Names,
  r: { ids: number[]; ts: number[]; vals: number[] },
): StorePoint[] {
  const out: StorePoint[] = [];
  for (let i = 0; i < r.ids.length; i++) {
    const name = names.get(r.ids[i] as number);
    // Retention removed the series (its points were older than the cutoff): counted, skipped.
    if (name === undefined) fw.unresolvedPoints++;
    else
      out.push({
        metric: name.metric,
        tags: name.tags,
        timestampMs: r.ts[i] as number,
        value: r.vals[i] as number,
      });
  }
  return out;
}

/** Metric and tags of every id in `raw` (one tags object per series, shared by its points). */
async function resolveNames(s: StoreState, fw: ForwardLog, raw: Array<{ ids: number[] }>): Promise<Names> {
  const names = fw.names;
  if (names.size > MAX_NAMES) names.clear();
  const missing = new Set<number>();
  for (const r of raw) for (const id of r.ids) if (!names.has(id)) missing.add(id);
  if (missing.size === 0) return names;
  const ids = [...missing];
  let found: Array<Buffer | undefined>;
  try {
    found = await s.db.getMany(ids.map(idKey));
  } catch (err) {
    throw ioError(err);
  }
  for (let i = 0; i < ids.length; i++) {
    const key = found[i];
    if (key !== undefined) names.set(ids[i] as number, parseSeriesKey(key.toString('utf8')));
  }
  return names;
}

/**
 * Move `sink`'s cursor to `seq` (run alone in the write pipeline). An unsynced batch: a lost
 * ack only resends records the sink stores once; the next group commit's sync makes it durable,
 * and WAL order keeps it before any delete it allowed.
 */
export async function ackForward(s: StoreState, sink: string, seq: number): Promise<void> {
  if (s.lifecycle === 'closed') throw closedError();
  const fw = forwardLog(s);
  const cursor = fw.cursorOf(sink);
  if (!Number.isSafeInteger(seq)) throw badQuery('seq must be an integer');
  if (seq >= s.nextSeq) {
    throw new StoreError(StoreErrorCode.BAD_QUERY, `seq ${seq} was not committed (next is ${s.nextSeq})`);
  }
  if (seq <= cursor) return;
  const oldMin = fw.minCursor;
  fw.cursors.set(sink, seq);
  const newMin = fw.minCursor;
  fw.cursors.set(sink, cursor);
  const deletes = newMin > oldMin ? fw.index.foldedThrough(newMin) : [];
  try {
    await s.db.batch(
      [
        { type: 'put', key: cursorKey(sink), value: encodeU64(seq) },
        ...deletes.map((d) => ({ type: 'del' as const, key: logKey(d) })),
      ],
      { sync: false },
    );
  } catch (err) {
    throw ioError(err);
  }
  fw.applyAck(sink, seq);
}
