/**
 * Upstream store query benchmark: time to read one day of one 10-second
 * series (8,640 points) with RocksSampleStore.query.
 *
 *   npx tsx bench/upstream-store-query.ts [--queries=N]
 *
 * Setup: 100 series x 1 day (864,000 samples, value mix as in
 * upstream-store-data.ts) written in 1,000-sample batches, folded, the store
 * closed and reopened (RocksDB replays its WAL into SST files on open, so
 * reads come from SST files and the block cache, not the memtable).
 * Cases:
 *  - folded: the whole day is in blocks;
 *  - with pending: the last hour was rewritten and not yet folded, so the
 *    query merges in-memory pending points over blocks (a live dashboard).
 * Each case queries series in turn (so most reads are not of the series just
 * read) and reports the first query, the median, p95 and max. Bounded: about
 * 10 s in all.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { RocksSampleStore, type StorePoint } from '../upstream/index.js';
import { DAY_MS, Dataset, START_MS } from './upstream-store-data.js';

const SERIES = 100;
const POINTS_PER_DAY = DAY_MS / 10_000;

function parseQueries(argv: readonly string[]): number {
  for (const arg of argv) {
    const m = /^--queries=(\d+)$/.exec(arg);
    if (m) return Math.min(Number(m[1]), 5000);
  }
  return 300;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] as number;
}

async function runCase(
  store: RocksSampleStore,
  data: Dataset,
  queries: number,
  expect: number,
): Promise<{ first: number; p50: number; p95: number; max: number }> {
  const times: number[] = [];
  let first = 0;
  for (let q = 0; q < queries; q++) {
    const s = data.series[(q * 37) % SERIES] as Dataset['series'][number];
    const t0 = performance.now();
    const r = await store.query({
      metric: s.metric,
      tags: s.tags,
      fromMs: START_MS,
      toMs: START_MS + DAY_MS,
    });
    const ms = performance.now() - t0;
    const n = r[0]?.timestampsMs.length ?? 0;
    if (r.length !== 1 || n !== expect) throw new Error(`query returned ${r.length} series, ${n} points`);
    if (q === 0) first = ms;
    times.push(ms);
  }
  times.sort((a, b) => a - b);
  return { first, p50: pct(times, 50), p95: pct(times, 95), max: times[times.length - 1] as number };
}

async function main(): Promise<void> {
  const queries = parseQueries(process.argv.slice(2));
  const root = await mkdtemp(path.join(os.tmpdir(), 'owl-store-query-'));
  const location = path.join(root, 'store');
  const data = new Dataset(SERIES, { seed: 7 });
  let store = await RocksSampleStore.open({ location });
  const total = SERIES * POINTS_PER_DAY;
  const t0 = performance.now();
  while (data.produced < total) await store.write(data.batch(Math.min(1000, total - data.produced)));
  await store.close();
  const writeMs = performance.now() - t0;
  store = await RocksSampleStore.open({ location });
  const stats = await store.stats();

  const folded = await runCase(store, data, queries, POINTS_PER_DAY);

  // Rewrite the last hour of every series (same timestamps, new values), unfolded.
  const lastHour: StorePoint[] = [];
  const replay = new Dataset(SERIES, { seed: 7 });
  while (replay.produced < total) {
    for (const p of replay.batch(1000)) {
      if (p.timestampMs >= START_MS + DAY_MS - 3_600_000) lastHour.push({ ...p, value: p.value + 1 });
    }
  }
  for (let i = 0; i < lastHour.length; i += 1000) await store.write(lastHour.slice(i, i + 1000));
  const pendingPoints = store.counters().pendingPoints;
  const pending = await runCase(store, data, queries, POINTS_PER_DAY);
  await store.close();
  await rm(root, { recursive: true, force: true });

  const f = (n: number): string => n.toFixed(2).padStart(7);
  console.log(
    `upstream store query: one day of one 10 s series (${POINTS_PER_DAY} points); ` +
      `${stats.series} series, ${stats.points.toLocaleString('en-US')} points stored ` +
      `(written in ${(writeMs / 1000).toFixed(1)} s); ${queries} queries per case`,
  );
  console.log('');
  console.log('case                               first ms   p50 ms   p95 ms   max ms');
  console.log('---------------------------------  --------  -------  -------  -------');
  console.log(
    `folded (blocks only)               ${f(folded.first)}  ${f(folded.p50)}  ${f(folded.p95)}  ${f(folded.max)}`,
  );
  console.log(
    `last hour pending (${String(pendingPoints / SERIES).padStart(3)} pts/series) ${f(pending.first)}  ${f(pending.p50)}  ${f(pending.p95)}  ${f(pending.max)}`,
  );
}

await main();
