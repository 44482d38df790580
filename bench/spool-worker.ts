/**
 * RocksSpool on the main thread vs WorkerSpool (the same spool in a worker
 * thread): append throughput and the main thread's event-loop lag while
 * appending.
 *
 *   npx tsx bench/spool-worker.ts [--mb=128] [--inflight=32] [--sizes=65536,4096]
 *
 * Load: `inflight` appenders each append one record, await it, and append the
 * next, as agents whose next batch waits for the ACK of the previous one; so
 * every group commit holds what arrived while the previous one was written,
 * as in the relay. `mb` MiB of records per run (after a warm-up of 200),
 * each run on a fresh spool in a temp dir.
 *
 * Figures: appends/s and MiB/s; the main thread's event-loop delay
 * (perf_hooks monitorEventLoopDelay, 1 ms resolution) p50/p99/max; the main
 * thread's event-loop utilisation (busy share); CPU per append of the main
 * thread and of the whole process (all threads: worker, RocksDB, GC), from
 * /proc. Ratios are WorkerSpool over RocksSpool. The machine's load is
 * printed: on a busy machine the lag maxima are the scheduler's.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { openRocksSpool, WorkerSpool, type Spool } from '../relay/index.js';
import { fmt, numberFlag, parseFlags, printTable } from './lib/report.js';
import { machineLoad } from './lib/proc.js';

const flags = parseFlags(process.argv.slice(2));
const totalMb = numberFlag(flags, 'mb', 128, 1, 4096);
const inFlight = numberFlag(flags, 'inflight', 32, 1, 4096);
const sizes = (flags.get('sizes') ?? '65536,4096').split(',').map(Number);
if (sizes.some((s) => !Number.isInteger(s) || s < 1 || s > 16 << 20)) throw new Error('--sizes: byte counts');

interface Result {
  impl: string;
  size: number;
  appends: number;
  seconds: number;
  p50: number;
  p99: number;
  max: number;
  elu: number;
  /** CPU µs per append: main thread, whole process. */
  mainCpu: number;
  allCpu: number;
}

/** CPU seconds of this process's main thread (Linux; /proc counts in USER_HZ = 100 ticks/s). */
function mainThreadCpu(): number {
  const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function appendLoad(spool: Spool, total: number, size: number): Promise<void> {
  let issued = 0;
  const appender = async (k: number) => {
    const payload = Buffer.alloc(size, k);
    while (issued < total) {
      issued++;
      await spool.append([{ payload, samples: 1 }]);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, (_, k) => appender(k)));
}

async function run(impl: 'RocksSpool' | 'WorkerSpool', size: number): Promise<Result> {
  const root = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'owl-bench-spool-'));
  const open = impl === 'RocksSpool' ? openRocksSpool : WorkerSpool.open;
  const spool = await open({ dir: path.join(root, 'spool'), maxBytes: 16 * 1024 ** 3 });
  try {
    await appendLoad(spool, 200, size);
    const appends = Math.max(1, Math.round((totalMb << 20) / size));
    const h = monitorEventLoopDelay({ resolution: 1 });
    const elu0 = performance.eventLoopUtilization();
    const main0 = mainThreadCpu();
    const all0 = process.cpuUsage();
    h.enable();
    const t0 = performance.now();
    await appendLoad(spool, appends, size);
    const seconds = (performance.now() - t0) / 1000;
    h.disable();
    const elu = performance.eventLoopUtilization(elu0).utilization;
    const all = process.cpuUsage(all0);
    const mainCpu = ((mainThreadCpu() - main0) * 1e6) / appends;
    const allCpu = (all.user + all.system) / appends;
    if (spool.stats().appendedRecords !== appends + 200) throw new Error(`${impl}: appends lost`);
    return {
      impl,
      size,
      appends,
      seconds,
      p50: h.percentile(50) / 1e6,
      p99: h.percentile(99) / 1e6,
      max: h.max / 1e6,
      elu,
      mainCpu,
      allCpu,
    };
  } finally {
    await spool.close();
    await fs.promises.rm(root, { recursive: true, force: true });
  }
}

console.log(`Spool appends, ${inFlight} in flight, ${totalMb} MiB per run; Node ${process.version}`);
console.log(`before: ${machineLoad()}`);
const results: Result[] = [];
for (const size of sizes) {
  for (const impl of ['RocksSpool', 'WorkerSpool'] as const) results.push(await run(impl, size));
}

const ms = (n: number) => fmt(n, 2);
printTable([
  [
    'spool',
    'record',
    'appends/s',
    'MiB/s',
    'lag p50 ms',
    'lag p99 ms',
    'lag max ms',
    'main ELU',
    'main CPU µs/append',
    'all CPU µs/append',
  ],
  ...results.map((r) => [
    r.impl,
    `${fmt(r.size / 1024, r.size % 1024 === 0 ? 0 : 1)} KiB`,
    fmt(r.appends / r.seconds),
    fmt((r.appends * r.size) / (1 << 20) / r.seconds, 1),
    ms(r.p50),
    ms(r.p99),
    ms(r.max),
    `${fmt(r.elu * 100, 0)} %`,
    fmt(r.mainCpu, 1),
    fmt(r.allCpu, 1),
  ]),
]);
console.log(`after: ${machineLoad()}`);
console.log('');
const ratios: string[][] = [['record', 'appends/s', 'lag p99', 'lag max', 'main ELU', 'main CPU', 'all CPU']];
for (const size of sizes) {
  const rocks = results.find((r) => r.size === size && r.impl === 'RocksSpool')!;
  const worker = results.find((r) => r.size === size && r.impl === 'WorkerSpool')!;
  const x = (a: number, b: number) => `${fmt(a / b, 2)}x`;
  ratios.push([
    `${fmt(size / 1024, 0)} KiB`,
    x(worker.appends / worker.seconds, rocks.appends / rocks.seconds),
    x(worker.p99, rocks.p99),
    x(worker.max, rocks.max),
    x(worker.elu, rocks.elu),
    x(worker.mainCpu, rocks.mainCpu),
    x(worker.allCpu, rocks.allCpu),
  ]);
}
console.log('WorkerSpool / RocksSpool');
printTable(ratios);
