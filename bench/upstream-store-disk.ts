/**
 * Upstream store disk benchmark: bytes on disk per stored sample.
 *
 *   npx tsx bench/upstream-store-disk.ts [--series=N]
 *
 * For each value kind (upstream-store-data.ts) and the default mix: write
 * N series (default 50) x 1 day at 10 s (432,000 samples) in 1,000-sample
 * batches, fold, close, reopen (RocksDB replays the WAL into an SST file)
 * and close again; then count the bytes of every file in the database
 * directory (SST, WAL, MANIFEST, OPTIONS, LOG) and of the SST files alone.
 * The binding exposes no manual compaction, so SST figures may still include
 * superseded block versions and log-record tombstones; "live" is RocksDB's
 * own `rocksdb.estimate-live-data-size` after reopening.
 * A baseline stores the mixed data as one RocksDB key per sample (series key
 * + timestamp -> f64, RocksDB's default zstd compression), same steps.
 * Bounded: about 20 s.
 */
import { RocksLevel } from '@nxtedition/rocksdb';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { RocksSampleStore, seriesKey } from '../upstream/index.js';
import { DAY_MS, Dataset, INTERVAL_MS, type ValueKind } from './upstream-store-data.js';

function parseSeries(argv: readonly string[]): number {
  for (const arg of argv) {
    const m = /^--series=(\d+)$/.exec(arg);
    if (m) return Math.min(Number(m[1]), 1000);
  }
  return 50;
}

async function dirBytes(dir: string): Promise<{ all: number; sst: number }> {
  let all = 0;
  let sst = 0;
  for (const name of await readdir(dir)) {
    const s = await stat(path.join(dir, name));
    if (!s.isFile()) continue;
    all += s.size;
    if (name.endsWith('.sst')) sst += s.size;
  }
  return { all, sst };
}

async function liveBytes(dir: string): Promise<number> {
  const db = new RocksLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  const live = Number(db.getProperty('rocksdb.estimate-live-data-size'));
  await db.close();
  return live;
}

interface Row {
  name: string;
  samples: number;
  all: number;
  sst: number;
  live: number;
}

async function storeCase(root: string, name: string, seriesCount: number, kinds?: ValueKind[]): Promise<Row> {
  const location = path.join(root, name);
  const data = new Dataset(seriesCount, kinds === undefined ? { seed: 3 } : { seed: 3, kinds });
  const total = seriesCount * (DAY_MS / INTERVAL_MS);
  const store = await RocksSampleStore.open({ location });
  while (data.produced < total) await store.write(data.batch(Math.min(1000, total - data.produced)));
  const stats = await store.stats();
  await store.close();
  if (stats.points !== total) throw new Error(`${name}: stored ${stats.points}, expected ${total}`);
  const live = await liveBytes(location);
  return { name, samples: total, ...(await dirBytes(location)), live };
}

async function baselineCase(root: string, seriesCount: number): Promise<Row> {
  const location = path.join(root, 'baseline');
  const data = new Dataset(seriesCount, { seed: 3 });
  const total = seriesCount * (DAY_MS / INTERVAL_MS);
  const db = new RocksLevel<Buffer, Buffer>(location, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  while (data.produced < total) {
    const batch = db.batch();
    for (const p of data.batch(Math.min(1000, total - data.produced))) {
      const k = Buffer.from(seriesKey(p.metric, p.tags) + '\u0000________', 'utf8');
      k.writeDoubleBE(p.timestampMs, k.length - 8);
      const v = Buffer.allocUnsafe(8);
      v.writeDoubleBE(p.value);
      batch.put(k, v);
    }
    await batch.write({ sync: true });
  }
  await db.close();
  const live = await liveBytes(location);
  return { name: 'baseline: key per sample (mix)', samples: total, ...(await dirBytes(location)), live };
}

async function main(): Promise<void> {
  const seriesCount = parseSeries(process.argv.slice(2));
  const root = await mkdtemp(path.join(os.tmpdir(), 'owl-store-disk-'));
  const rows: Row[] = [];
  try {
    rows.push(await storeCase(root, 'mix', seriesCount));
    for (const kind of ['int', 'decimal', 'counter', 'rate'] as const) {
      rows.push(await storeCase(root, kind, seriesCount, [kind]));
    }
    rows.push(await baselineCase(root, seriesCount));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  console.log(
    `upstream store disk: ${seriesCount} series x 1 day at 10 s per case, after fold + close + reopen`,
  );
  console.log('');
  console.log(
    'case                              samples   all files B/sample   SST B/sample   live B/sample',
  );
  console.log(
    '--------------------------------  -------   ------------------   ------------   -------------',
  );
  for (const r of rows) {
    const f = (n: number): string => (n / r.samples).toFixed(2);
    console.log(
      `${(r.name === 'mix' ? 'store: mix (40/30/20/10)' : r.name.startsWith('baseline') ? r.name : `store: ${r.name} only`).padEnd(32)}  ${String(r.samples).padStart(7)}   ${f(r.all).padStart(18)}   ${f(r.sst).padStart(12)}   ${f(r.live).padStart(13)}`,
    );
  }
}

await main();
