/**
 * RocksSampleStore on this thread vs WorkerSampleStore (the same store in a
 * worker thread): samples/s of synced 1,000-sample writes, and what they cost
 * the main thread, which in the upstream also parses the relays' batches.
 *
 *   npx tsx bench/upstream-store-worker.ts [--seconds=2]
 *
 * Load as bench/upstream-store-ingest.ts: 1,000 series, 1,000-sample
 * batches, one write in flight (await each before the next) and 8 in flight
 * (eight writers, e.g. eight relays); each phase ends with flush(), so the
 * checkpoints it triggers are included. The four phases are interleaved in
 * rounds (2 rounds of `--seconds` each, default 2; ~25 s in all).
 *
 * Main-thread cost, per million samples, two ways:
 *  - busy ms: performance.eventLoopUtilization() active time, i.e. wall time
 *    the event loop was not waiting for events. On this thread the synced
 *    batch write blocks the loop, so its fdatasync counts as busy although
 *    it is no CPU: that is the stall the relays' sockets see.
 *  - CPU ms: the main thread's own utime + stime from
 *    /proc/self/task/<pid>/stat (Linux; 10 ms ticks, so a phase of a few
 *    seconds reads to about 1 %). Node 20 has no process.threadCpuUsage.
 * Both include generating the test data on the main thread, the same for
 * every phase; the "data only" row measures that alone, and the net column
 * subtracts it. Ratios are against RocksSampleStore on this thread.
 */
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { RocksSampleStore, WorkerSampleStore, type StorePoint } from '../upstream/index.js';
import { Dataset } from './upstream-store-data.js';
import { fmt, numberFlag, parseFlags, printTable } from './lib/report.js';
import { machineLoad } from './lib/proc.js';

const BATCH = 1000;
const SERIES = 1000;
const ROUNDS = 2;
const CONCURRENCY = 8;

const flags = parseFlags(process.argv.slice(2));
const seconds = numberFlag(flags, 'seconds', 2, 0.2, 5);

/** CPU ms of this process's main thread (Linux; /proc counts in USER_HZ = 100 ticks/s). */
function mainThreadCpuMs(): number {
  const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

interface Tally {
  samples: number;
  ms: number;
  busyMs: number;
  cpuMs: number;
}

const zero = (): Tally => ({ samples: 0, ms: 0, busyMs: 0, cpuMs: 0 });

function add(a: Tally, b: Tally): void {
  a.samples += b.samples;
  a.ms += b.ms;
  a.busyMs += b.busyMs;
  a.cpuMs += b.cpuMs;
}

async function measure(body: () => Promise<number>): Promise<Tally> {
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = mainThreadCpuMs();
  const t0 = performance.now();
  const samples = await body();
  const ms = performance.now() - t0;
  const cpuMs = mainThreadCpuMs() - cpu0;
  const busyMs = performance.eventLoopUtilization(elu0).active;
  return { samples, ms, busyMs, cpuMs };
}

interface Store {
  write(points: readonly StorePoint[]): Promise<void>;
  flush(): Promise<void>;
}

function storePhase(store: Store, data: Dataset, secs: number, concurrency: number): Promise<Tally> {
  return measure(async () => {
    const end = performance.now() + secs * 1000;
    let samples = 0;
    const writer = async (): Promise<void> => {
      while (performance.now() < end) {
        const points = data.batch(BATCH);
        await store.write(points);
        samples += points.length;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, writer));
    await store.flush();
    return samples;
  });
}

/** Generating the data alone: the part of every phase's main-thread cost that is not the store's. */
function dataPhase(data: Dataset, secs: number): Promise<Tally> {
  return measure(async () => {
    const end = performance.now() + secs * 1000;
    let samples = 0;
    while (performance.now() < end) {
      samples += data.batch(BATCH).length;
      // Yield as the store phases do, so the loop's accounting is alike.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return samples;
  });
}

const perM = (ms: number, samples: number): number => (ms / samples) * 1e6;

async function main(): Promise<void> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'owl-store-worker-'));
  try {
    const rocks = await RocksSampleStore.open({ location: path.join(root, 'rocks') });
    const worker = await WorkerSampleStore.open({ location: path.join(root, 'worker') });
    const rocksData = new Dataset(SERIES, { seed: 1 });
    const workerData = new Dataset(SERIES, { seed: 1 });
    const genData = new Dataset(SERIES, { seed: 2 });
    // Warm-up: JIT on both threads and the series dictionaries.
    await storePhase(rocks, rocksData, 0.5, 1);
    await storePhase(worker, workerData, 0.5, 1);
    await dataPhase(genData, 0.3);

    const phases = [
      { name: `RocksSampleStore, 1 in flight`, store: rocks as Store, data: rocksData, c: 1, base: 0 },
      { name: `WorkerSampleStore, 1 in flight`, store: worker as Store, data: workerData, c: 1, base: 0 },
      {
        name: `RocksSampleStore, ${CONCURRENCY} in flight`,
        store: rocks,
        data: rocksData,
        c: CONCURRENCY,
        base: 2,
      },
      {
        name: `WorkerSampleStore, ${CONCURRENCY} in flight`,
        store: worker,
        data: workerData,
        c: CONCURRENCY,
        base: 2,
      },
    ];
    const totals = phases.map(zero);
    const gen = zero();
    for (let r = 0; r < ROUNDS; r++) {
      for (const [i, p] of phases.entries()) add(totals[i]!, await storePhase(p.store, p.data, seconds, p.c));
      add(gen, await dataPhase(genData, seconds / 4));
    }
    const rs = await rocks.stats();
    const ws = await worker.stats();
    await rocks.close();
    await worker.close();

    const genCpu = perM(gen.cpuMs, gen.samples);
    const genBusy = perM(gen.busyMs, gen.samples);
    const rows: string[][] = [
      ['case', 'samples/s', 'x rate', 'busy ms/M', 'x busy', 'CPU ms/M', 'net CPU ms/M', 'x net CPU'],
    ];
    for (const [i, p] of phases.entries()) {
      const t = totals[i]!;
      const b = totals[p.base]!;
      const rate = t.samples / (t.ms / 1000);
      const baseRate = b.samples / (b.ms / 1000);
      const busy = perM(t.busyMs, t.samples);
      const cpu = perM(t.cpuMs, t.samples);
      const net = Math.max(0, cpu - genCpu);
      const baseNet = Math.max(0, perM(b.cpuMs, b.samples) - genCpu);
      rows.push([
        p.name,
        fmt(rate),
        (rate / baseRate).toFixed(2),
        fmt(busy),
        (busy / perM(b.busyMs, b.samples)).toFixed(2),
        fmt(cpu),
        fmt(net),
        baseNet > 0 ? (net / baseNet).toFixed(2) : '-',
      ]);
    }
    rows.push([
      'data generation only',
      fmt(gen.samples / (gen.ms / 1000)),
      '',
      fmt(genBusy),
      '',
      fmt(genCpu),
      '',
      '',
    ]);
    console.log(
      `Upstream sample store on vs off the main thread: ${SERIES} series, ${BATCH}-sample synced writes, ` +
        `${ROUNDS} x ${seconds} s per case; Node ${process.version}; ${machineLoad()}`,
    );
    console.log('');
    printTable(rows);
    console.log('');
    console.log(
      `stored: this thread ${fmt(rs.points)} points in ${fmt(rs.series)} series; ` +
        `worker ${fmt(ws.points)} points in ${fmt(ws.series)} series`,
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

await main();
