/**
 * Upstream store ingest benchmark: samples/s stored by RocksSampleStore.write
 * with 1,000-sample batches, against a baseline of plain synced RocksDB batch
 * puts of the same data (one key per sample: series key + timestamp -> f64),
 * measured in the same process on the same disk.
 *
 *   npx tsx bench/upstream-store-ingest.ts [--seconds=N]
 *
 * Phases, interleaved in rounds so all see the same machine conditions:
 *  - baseline: one synced 1,000-put batch at a time;
 *  - store, 1 in flight: await each write before the next;
 *  - store, 8 in flight: eight writers (e.g. eight relays), so group commit
 *    can put several writes in one synced batch;
 *  - store, 1 in flight, own tags: as the first, but every point carries its
 *    own tags object (the other phases share one per host, as the upstream
 *    does per relay record, which lets the store resolve a tag set once).
 * Store phases include the checkpoints they trigger and a final flush(), so
 * the figure is the sustained rate, not just log appends. Bounded: each phase
 * runs about `--seconds` (default 2) and 2 rounds are made (~20 s total).
 */
import { RocksLevel } from '@nxtedition/rocksdb';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { RocksSampleStore, seriesKey, type StorePoint } from '../upstream/index.js';
import { Dataset } from './upstream-store-data.js';

const BATCH = 1000;
const SERIES = 1000;
const ROUNDS = 2;
const CONCURRENCY = 8;

function parseSeconds(argv: readonly string[]): number {
  for (const arg of argv) {
    const m = /^--seconds=(\d+(?:\.\d+)?)$/.exec(arg);
    if (m) return Math.min(Number(m[1]), 10);
  }
  return 2;
}

interface Tally {
  samples: number;
  ms: number;
}

async function baselinePhase(db: RocksLevel<Buffer, Buffer>, data: Dataset, seconds: number): Promise<Tally> {
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  let samples = 0;
  while (performance.now() < end) {
    const points = data.batch(BATCH);
    const batch = db.batch();
    for (const p of points) {
      const k = Buffer.from(seriesKey(p.metric, p.tags) + '\u0000________', 'utf8');
      k.writeDoubleBE(p.timestampMs, k.length - 8);
      const v = Buffer.allocUnsafe(8);
      v.writeDoubleBE(p.value);
      batch.put(k, v);
    }
    await batch.write({ sync: true });
    samples += points.length;
  }
  return { samples, ms: performance.now() - t0 };
}

async function storePhase(
  store: RocksSampleStore,
  data: Dataset,
  seconds: number,
  concurrency: number,
  copyTags = false,
): Promise<Tally> {
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  let samples = 0;
  const writer = async (): Promise<void> => {
    while (performance.now() < end) {
      const points: StorePoint[] = data.batch(BATCH, copyTags);
      await store.write(points);
      samples += points.length;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, writer));
  await store.flush();
  return { samples, ms: performance.now() - t0 };
}

function rate(t: Tally): number {
  return t.samples / (t.ms / 1000);
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

async function main(): Promise<void> {
  const seconds = parseSeconds(process.argv.slice(2));
  const root = await mkdtemp(path.join(os.tmpdir(), 'owl-store-ingest-'));
  const baseDb = new RocksLevel<Buffer, Buffer>(path.join(root, 'baseline'), {
    keyEncoding: 'buffer',
    valueEncoding: 'buffer',
  });
  await baseDb.open();
  const store = await RocksSampleStore.open({ location: path.join(root, 'store') });
  const baseData = new Dataset(SERIES, { seed: 1 });
  const storeData = new Dataset(SERIES, { seed: 1 });
  // Warm-up: JIT and the series dictionary (first sight of each series costs a lookup and insert).
  await storePhase(store, storeData, 0.5, 1);
  await baselinePhase(baseDb, baseData, 0.5);

  const totals = {
    base: { samples: 0, ms: 0 },
    one: { samples: 0, ms: 0 },
    many: { samples: 0, ms: 0 },
    copied: { samples: 0, ms: 0 },
  };
  const add = (a: Tally, b: Tally): void => {
    a.samples += b.samples;
    a.ms += b.ms;
  };
  const rows: string[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const base = await baselinePhase(baseDb, baseData, seconds);
    const one = await storePhase(store, storeData, seconds, 1);
    const many = await storePhase(store, storeData, seconds, CONCURRENCY);
    const copied = await storePhase(store, storeData, seconds, 1, true);
    add(totals.base, base);
    add(totals.one, one);
    add(totals.many, many);
    add(totals.copied, copied);
    rows.push(
      `round ${r + 1}: baseline ${fmt(rate(base))}/s, store 1 in flight ${fmt(rate(one))}/s, ` +
        `${CONCURRENCY} in flight ${fmt(rate(many))}/s, own tags per point ${fmt(rate(copied))}/s`,
    );
  }
  const stats = await store.stats();
  await store.close();
  await baseDb.close();
  await rm(root, { recursive: true, force: true });

  const b = rate(totals.base);
  const one = rate(totals.one);
  const many = rate(totals.many);
  const copied = rate(totals.copied);
  console.log(`upstream store ingest: ${SERIES} series, ${BATCH}-sample batches, synced writes`);
  for (const row of rows) console.log('  ' + row);
  console.log('');
  console.log('case                               samples/s   vs baseline');
  console.log('---------------------------------  ----------  -----------');
  console.log(`baseline: synced 1,000-put batch   ${fmt(b).padStart(10)}        1.00x`);
  console.log(
    `store.write, 1 in flight           ${fmt(one).padStart(10)}  ${(one / b).toFixed(2).padStart(10)}x`,
  );
  console.log(
    `store.write, ${CONCURRENCY} in flight           ${fmt(many).padStart(10)}  ${(many / b).toFixed(2).padStart(10)}x`,
  );
  console.log(
    `store.write, 1 in flight, own tags   ${fmt(copied).padStart(10)}  ${(copied / b).toFixed(2).padStart(10)}x`,
  );
  console.log('');
  console.log(`stored: ${fmt(stats.points)} points in ${fmt(stats.series)} series`);
}

await main();
