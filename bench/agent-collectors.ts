/**
 * The agent's built-in collectors: cost of one round of all of them on this
 * machine (wall ms, CPU ms, heap bytes allocated), each collector's share,
 * one port and one asset discovery, and the tcp collector on a synthetic
 * table of 100k sockets (the chunked scan must not allocate the table).
 *
 *   node --expose-gc --import=tsx bench/agent-collectors.ts [--rounds=N]
 *
 * Allocation is the heap growth over a round started right after a full
 * GC, the median of the rounds (a scavenge inside one round would hide its
 * bytes; the median ignores such rounds). Without --expose-gc it is left out.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  builtinCollectors,
  discoverAssets,
  discoverPorts,
  tcpStatesCollector,
  type Collector,
} from '../agent/collectors/index.js';

const rounds = Number(process.argv.find((a) => a.startsWith('--rounds='))?.slice(9) ?? 50);
const gc = (globalThis as { gc?: () => void }).gc;

interface Cost {
  wallMs: number;
  cpuMs: number;
  allocBytes: number | undefined;
  readings: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Median cost of `rounds` runs of `fn` (after one warm-up run). */
async function measure(fn: () => Promise<number>, n = rounds): Promise<Cost> {
  await fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  const alloc: number[] = [];
  let readings = 0;
  for (let i = 0; i < n; i++) {
    gc?.();
    const heap0 = process.memoryUsage().heapUsed;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    readings = await fn();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(cpu0);
    cpu.push((c.user + c.system) / 1000);
    alloc.push(process.memoryUsage().heapUsed - heap0);
  }
  return {
    wallMs: median(wall),
    cpuMs: median(cpu),
    allocBytes: gc === undefined ? undefined : median(alloc),
    readings,
  };
}

function row(name: string, c: Cost): string {
  const kib = c.allocBytes === undefined ? 'n/a' : `${(c.allocBytes / 1024).toFixed(1)} KiB`;
  return `${name.padEnd(24)} ${c.wallMs.toFixed(2).padStart(8)} ms wall ${c.cpuMs.toFixed(2).padStart(8)} ms CPU ${kib.padStart(12)}  ${c.readings} readings`;
}

const roundOf = (cs: Collector[]) => async () => {
  const all = await Promise.all(cs.map((c) => c.read()));
  return all.reduce((n, r) => n + r.length, 0);
};

/** A /proc with a tcp table of `sockets` ESTABLISHED lines, 150 bytes each as the kernel writes them. */
async function syntheticProc(sockets: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'owl-bench-proc-'));
  await mkdir(join(dir, 'net'));
  const header =
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
  const line = (i: number) =>
    `${String(i).padStart(5)}: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 ${i} 1 0000000000000000 20 4 30 10 -1\n`;
  const lines: string[] = [header];
  for (let i = 0; i < sockets; i++) lines.push(line(i));
  await writeFile(join(dir, 'net/tcp'), lines.join(''));
  return dir;
}

async function main(): Promise<void> {
  console.log(
    `node ${process.version}, ${rounds} rounds, median per round${gc === undefined ? ' (no --expose-gc: allocation n/a)' : ''}`,
  );
  const collectors = builtinCollectors();
  console.log(row('all collectors', await measure(roundOf(collectors))));
  for (const c of collectors) console.log(row(`  ${c.name}`, await measure(roundOf([c]))));
  console.log(row('discoverPorts', await measure(async () => (await discoverPorts()).length, 5)));
  console.log(
    row('discoverAssets', await measure(async () => ((await discoverAssets('bench')).disks ?? []).length, 5)),
  );
  const proc = await syntheticProc(100_000);
  try {
    console.log(row('tcp, 100k sockets', await measure(roundOf([tcpStatesCollector(proc)]), 10)));
  } finally {
    await rm(proc, { recursive: true, force: true });
  }
  console.log(`RSS after: ${(process.memoryUsage().rss / 1024 ** 2).toFixed(1)} MiB`);
}

await main();
