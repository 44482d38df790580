/**
 * Reads of series: a query (the matching series of a metric from the
 * dictionary, then each one's points in a time range) and the listing of
 * series. Pending points are read before blocks and win over them, so a
 * checkpoint racing a query can only double a point, never hide it
 * (rocks-store.ts); the merge removes the double.
 */
import { scan } from './db.js';
import { badQuery, ioError } from './errors.js';
import { TWO_32, blockKey, blockKeyBucket, seriesDictKey } from './keys.js';
import { decodeBlock } from './block-codec.js';
import { mergeSorted, normalize } from './pending.js';
import { SEP, checkMetric, parseSeriesKey, tagsMatch } from './series-key.js';
import type { StoreState } from './store-state.js';
import type { ListSeriesOptions, SeriesInfo, SeriesQuery, SeriesResult } from './types.js';

const DEFAULT_QUERY_LIMIT = 1_000_000;
const DEFAULT_MAX_SERIES = 10_000;

interface MatchedSeries {
  id: number;
  metric: string;
  tags: Record<string, string>;
}

export async function query(s: StoreState, q: SeriesQuery): Promise<SeriesResult[]> {
  if (typeof q !== 'object' || q === null) throw badQuery('query must be an object');
  checkQueryMetric(s, q.metric);
  const { fromMs, toMs } = q;
  if (!Number.isSafeInteger(fromMs) || !Number.isSafeInteger(toMs) || fromMs > toMs) {
    throw badQuery('fromMs and toMs must be integers with fromMs <= toMs');
  }
  const filter = q.tags ?? {};
  if (typeof filter !== 'object' || filter === null) throw badQuery('tags must be an object');
  let budget = q.limit ?? DEFAULT_QUERY_LIMIT;
  const maxSeries = q.maxSeries ?? DEFAULT_MAX_SERIES;
  if (!(budget >= 0) || !(maxSeries >= 0)) throw badQuery('limit and maxSeries must be >= 0');

  const matched = await matchSeries(s, q.metric, filter, maxSeries);
  const out: SeriesResult[] = [];
  const lo = Math.max(0, fromMs);
  for (const m of matched) {
    if (budget <= 0) break;
    const r = await readSeries(s, m.id, lo, toMs);
    if (r.ts.length === 0) continue;
    if (r.ts.length > budget) {
      r.ts.length = budget;
      r.vals.length = budget;
    }
    budget -= r.ts.length;
    out.push({ metric: m.metric, tags: m.tags, timestampsMs: r.ts, values: r.vals });
  }
  return out;
}

/** A metric name as a query or listing argument: refused as BAD_QUERY, not BAD_POINT. */
function checkQueryMetric(s: StoreState, metric: unknown): void {
  try {
    checkMetric(metric, s.limits);
  } catch (err) {
    throw badQuery((err as Error).message);
  }
}

/** The first `maxSeries` series of `metric` (in key order) carrying every tag of `filter`. */
async function matchSeries(
  s: StoreState,
  metric: string,
  filter: Readonly<Record<string, string>>,
  maxSeries: number,
): Promise<MatchedSeries[]> {
  const matched: MatchedSeries[] = [];
  await scan(s.db, seriesDictKey(metric + SEP), 1024, (key, value) => {
    const parsed = parseSeriesKey(key.toString('utf8', 1));
    if (!tagsMatch(parsed.tags, filter)) return true;
    matched.push({ id: value.readUInt32BE(0), ...parsed });
    return matched.length < maxSeries;
  });
  return matched;
}

/** Points of one series in [fromMs, toMs), ascending, pending merged over blocks. */
async function readSeries(
  s: StoreState,
  id: number,
  fromMs: number,
  toMs: number,
): Promise<{ ts: number[]; vals: number[] }> {
  if (toMs <= fromMs) return { ts: [], vals: [] };
  // Pending first (see above): oldest set first, so later writes win in normalize().
  const pTs: number[] = [];
  const pVals: number[] = [];
  s.frozen?.collect(id, fromMs, toMs, pTs, pVals);
  s.pending.collect(id, fromMs, toMs, pTs, pVals);
  const pend = normalize(pTs, pVals);

  const span = s.bucketMs;
  const firstBucket = Math.floor(fromMs / span);
  const lastBucket = Math.min(TWO_32 - 1, Math.floor((toMs - 1) / span));
  const bTs: number[] = [];
  const bVals: number[] = [];
  let rows: Array<[Buffer, Buffer]>;
  try {
    rows = await s.db.iterator({ gte: blockKey(id, firstBucket), lte: blockKey(id, lastBucket) }).all();
  } catch (err) {
    throw ioError(err);
  }
  for (const [key, value] of rows) {
    decodeBlock(value, blockKeyBucket(key) * span, bTs, bVals, fromMs, toMs);
  }
  return mergeSorted(bTs, bVals, pend.ts, pend.vals);
}

export async function listSeries(s: StoreState, options: ListSeriesOptions): Promise<SeriesInfo[]> {
  const limit = options?.limit;
  if (!Number.isSafeInteger(limit) || limit < 0) throw badQuery('limit must be an integer >= 0');
  let prefix: Buffer;
  if (options.metric !== undefined) {
    checkQueryMetric(s, options.metric);
    prefix = seriesDictKey(options.metric + SEP);
  } else {
    if (options.prefix !== undefined && typeof options.prefix !== 'string')
      throw badQuery('prefix must be a string');
    prefix = seriesDictKey(options.prefix ?? '');
  }
  const out: SeriesInfo[] = [];
  if (limit === 0) return out;
  await scan(s.db, prefix, Math.min(limit, 1024), (key) => {
    out.push(parseSeriesKey(key.toString('utf8', 1)));
    return out.length < limit;
  });
  return out;
}
