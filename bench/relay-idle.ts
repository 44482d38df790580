/**
 * Relay memory per idle agent connection, and whether it comes back.
 *
 *   npx tsx bench/relay-idle.ts [--connections=5000] [--cycles=10] [--sources=100]
 *
 * A client process opens `connections` agent connections (each sends a
 * HELLO, gets the relay's HELLO, then idles), spread over `sources` loopback
 * addresses so the default per-source cap (64) holds, then closes them all;
 * that is one round. RSS is read from /proc after a forced GC in the
 * measured process, before each round, with all open, and after. Per
 * connection = mean over the rounds after the first (a warm-up) of (RSS
 * with all open - RSS before opening) / connections. Baseline in the same
 * run: a bare Node `net` server process (3 rounds) holding the same
 * connections (same client, same HELLO bytes, no answer). The relay does
 * `cycles` rounds; its RSS after each shows whether anything is kept per
 * connection after it closes.
 *
 * Goals: <= 8 KB per idle connection; no RSS growth over the cycles, judged
 * by the least-squares slope of RSS over the second half of the cycles
 * (after the allocator has settled): below 1 % of one round's connection
 * memory per cycle.
 */
import { Child } from './lib/child.js';
import { cpuCount, machineLoad, memory } from './lib/proc.js';
import { fmt, mb, numberFlag, parseFlags, poll, printTable, sleep, verdict } from './lib/report.js';
import { withRig, type Rig } from './lib/rig.js';

const flags = parseFlags(process.argv.slice(2));
const connections = numberFlag(flags, 'connections', 5000, 100, 15_000);
const cycles = numberFlag(flags, 'cycles', 10, 2, 20);
const sources = numberFlag(flags, 'sources', 100, 1, 4096);

interface Target {
  name: string;
  child: Child;
  port: number;
  /** Open connections the target counts now. */
  count(): Promise<number>;
}

interface Round {
  /** RSS after GC before opening, with all open, and once all closed again. */
  before: number;
  full: number;
  /** RSS with all open, before that GC. */
  fullNoGc: number;
  after: number;
  openMs: number;
  closeMs: number;
}

/** RSS of the target after a forced GC (twice, a moment apart), bytes. */
async function settledRss(t: Target): Promise<number> {
  await t.child.ask('gc', /^GC /);
  await sleep(100);
  await t.child.ask('gc', /^GC /);
  return memory(t.child.pid).rss;
}

async function round(t: Target, client: Child, before: number): Promise<Round> {
  const opened = await client.ask(`open ${connections}`, /^OPENED (\d+) (\d+)$/, 60_000);
  await poll(
    async () => ((await t.count()) >= connections ? true : undefined),
    20_000,
    `${t.name}: all open`,
  );
  const fullNoGc = memory(t.child.pid).rss;
  const full = await settledRss(t);
  const closed = await client.ask('close', /^CLOSED (\d+)$/, 60_000);
  await poll(async () => ((await t.count()) === 0 ? true : undefined), 20_000, `${t.name}: all closed`);
  const after = await settledRss(t);
  return { before, full, fullNoGc, after, openMs: Number(opened[2]), closeMs: Number(closed[1]) };
}

/** `n` rounds of opening and closing every connection. */
async function measure(rig: Rig, t: Target, waitHello: boolean, n: number): Promise<Round[]> {
  const client = rig.track(
    Child.start('idle-main.ts', [JSON.stringify({ port: t.port, sources, waitHello })]),
  );
  await client.waitLine(/^READY$/);
  const rounds: Round[] = [];
  let before = await settledRss(t);
  for (let i = 0; i < n; i++) {
    const r = await round(t, client, before);
    rounds.push(r);
    before = r.after;
  }
  await client.stop();
  return rounds;
}

/** Mean RSS per open connection over the rounds after the first (a warm-up), bytes. */
function perConnection(rounds: readonly Round[], key: 'full' | 'fullNoGc'): number {
  const warm = rounds.slice(1);
  return warm.reduce((sum, r) => sum + (r[key] - r.before), 0) / warm.length / connections;
}

/** Least-squares slope of `ys` over their index. */
function slope(ys: readonly number[]): number {
  const n = ys.length;
  if (n < 2) return 0;
  const mx = (n - 1) / 2;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  ys.forEach((y, x) => {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  });
  return num / den;
}

console.log(
  `Relay idle connections: ${fmt(connections)} connections from ${sources} source addresses, ${cycles} open/close cycles`,
);
console.log(`node ${process.version}, ${cpuCount()} CPUs, ${machineLoad()} at start`);

await withRig(150_000, async (rig) => {
  const sink = await rig.startSink('count', true);
  const bare: Target = {
    name: 'bare net server',
    child: sink.child,
    port: sink.port,
    count: async () => (await sink.child.status<{ connections: number }>()).connections,
  };
  const b = await measure(rig, bare, false, 3);
  await sink.child.stop();

  const receiver = await rig.startReceiver();
  const relay = await rig.startRelay({ upstreams: [receiver.url] }, { exposeGc: true });
  const target: Target = {
    name: 'relay',
    child: relay.child,
    port: relay.port,
    count: async () => (await relay.status()).agents,
  };
  const r = await measure(rig, target, true, cycles);

  const perBare = perConnection(b, 'full');
  const perRelay = perConnection(r, 'full');
  const mean = (rounds: Round[], f: (x: Round) => number): number =>
    rounds.slice(1).reduce((sum, x) => sum + f(x), 0) / (rounds.length - 1);
  console.log('');
  printTable([
    [
      'process',
      'RSS, none open',
      `RSS, ${fmt(connections)} open`,
      'per connection',
      'same, before GC',
      'open all (ms)',
    ],
    [
      'baseline: bare net server',
      mb(mean(b, (x) => x.before)),
      mb(mean(b, (x) => x.full)),
      `${fmt(perBare / 1024, 2)} KiB`,
      `${fmt(perConnection(b, 'fullNoGc') / 1024, 2)} KiB`,
      fmt(mean(b, (x) => x.openMs)),
    ],
    [
      'relay',
      mb(mean(r, (x) => x.before)),
      mb(mean(r, (x) => x.full)),
      `${fmt(perRelay / 1024, 2)} KiB`,
      `${fmt(perConnection(r, 'fullNoGc') / 1024, 2)} KiB`,
      fmt(mean(r, (x) => x.openMs)),
    ],
  ]);
  console.log(
    `(means over the rounds after the first: ${b.length - 1} for the baseline, ${r.length - 1} for the relay); ` +
      `relay/baseline per-connection ratio: ${fmt(perRelay / perBare, 2)}`,
  );
  console.log('');
  console.log(
    `relay RSS after each cycle of ${fmt(connections)} opened and closed (after GC; ${mb((r[0] as Round).before)} before the first):`,
  );
  for (const [i, x] of r.entries()) {
    console.log(
      `  cycle ${String(i + 1).padStart(2)}: ${mb(x.after)} (all open: ${mb(x.full)}; open ${fmt(x.openMs)} ms, close ${fmt(x.closeMs)} ms)`,
    );
  }
  const after = r.map((x) => x.after);
  const all = slope(after);
  const late = slope(after.slice(Math.floor(after.length / 2)));
  const limit = 0.01 * perRelay * connections;
  console.log(
    `RSS slope over all cycles ${fmt(all / 1024, 1)} KiB/cycle, over the second half ${fmt(late / 1024, 1)} KiB/cycle ` +
      `(limit ${fmt(limit / 1024, 1)} KiB/cycle = 1 % of one round); first → last ${mb((after[after.length - 1] as number) - (after[0] as number), 2)}`,
  );
  console.log(
    `goals: <= 8 KB per idle connection: ${verdict(perRelay <= 8 * 1024)} (${fmt(perRelay / 1024, 2)} KiB); ` +
      `no RSS growth over the cycles: ${verdict(late <= limit)}`,
  );
  console.log(`${machineLoad()} at end`);
});
