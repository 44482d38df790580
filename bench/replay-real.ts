/**
 * Outage and replay into the real upstream and its store (issue 9): not the
 * test receiver of relay-replay.ts, but `owl-upstream run` and `owl-relay run`
 * started from their CLIs on their default configs (only state dirs,
 * loopback ports and tokens set), fed by v4 agents at 10,000 samples/s.
 *
 *   npx tsx bench/replay-real.ts [--outage=60] [--rate=10000] [--agents=5] [--baseline=10] [--drain-limit=60] [--no-check]
 *
 * Diagnostic knob (not for the reference figures): --upstream-node-args="<node flags>" for the
 * upstream that returns after the outage, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
 *
 * Agents: `agents` NoisyAgents (test/helpers/noisy-agent.ts) in this
 * process, SERIESBATCHes of 100 samples of 300 series per host, random-walk
 * values with 2-4 decimals, real-time timestamps, at most 16 batches
 * un-ACKed each, paced to `rate` samples/s in total; plus one marker agent
 * sending one sample of the series `owl.bench.marker` every 100 ms.
 *
 * 1. Baseline (upstream up, `baseline` s after a 3 s warm-up): live delay =
 *    the time a marker sample becomes visible through GET /api/v1/query
 *    (polled every 100 ms) - its timestamp (its making, just before it is
 *    sent); the store's write rate (GET /api/v1/stats `samples`).
 * 2. Outage: the upstream is stopped (SIGTERM) for `outage` s; the relay
 *    spools. Backlog = the relay's spooled samples just before the return
 *    (`owl-relay status`).
 * 3. Return: the upstream restarts on its state dir and port. Drained = the
 *    first poll (every 100 ms) at which the relay's spool holds no record
 *    received before the return (its oldest record is younger than the time
 *    since the return). Drain time = drained - upstream listening again.
 *    Replay rate = backlog / (drained - the relay's uplink connect, as
 *    GET /api/v1/relays reports it). Store write rate over the drain =
 *    `samples` the restarted upstream wrote by then (backlog and live) / the
 *    same time. Live delay during the drain: markers made from the relay's
 *    reconnect (what it spools from then on is live, not backlog) to the
 *    drain's end, at least 3 s, as in the baseline; a marker not visible
 *    10 s after that window counts as a miss.
 * 4. Unless --no-check: the load stops, every batch is ACKed and the spool
 *    empties; every sample the agents made is read back through the query
 *    API and compared with what was sent (exactly once, exact values).
 *
 * Goals: replay >= 200,000 samples/s with live traffic flowing; live delay
 * p99 <= 5 s during the drain; a 60 s outage drained in <= 15 s (for
 * another --outage, a quarter of it).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UPLINK_PATH } from '../protocol/index.js';
import { callApi, type ApiTarget } from '../test/helpers/upstream-api.js';
import { checkStored, NoisyAgent, Pacer, type SeriesDef } from '../test/helpers/noisy-agent.js';
import {
  addRelay,
  listedRelay,
  startRelayCli,
  startUpstreamCli,
  upstreamStats,
  type RelayCli,
  type UpstreamCli,
} from '../test/helpers/owl-cli.js';
import { cpuCount, cpuSeconds, machineLoad, memory } from './lib/proc.js';
import { fmt, numberFlag, parseFlags, printTable, sleep, verdict } from './lib/report.js';
import { freePort } from './lib/rig.js';

const flags = parseFlags(process.argv.slice(2));
const outageS = numberFlag(flags, 'outage', 60, 1, 600);
const rate = numberFlag(flags, 'rate', 10_000, 100, 200_000);
const agentCount = numberFlag(flags, 'agents', 5, 1, 100);
const baselineS = numberFlag(flags, 'baseline', 10, 2, 120);
const drainLimitS = numberFlag(flags, 'drain-limit', 60, 5, 600);
const check = !flags.has('no-check');
/** Diagnostics: node flags for the upstream process after the outage (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"). */
const upstreamNodeArgs = (flags.get('upstream-node-args') ?? '').split(' ').filter((a) => a !== '');
const ZONE = 'bench-zone';
const ZONE_TOKEN = 'bench-zone-token-0123';
const MARKER_METRIC = 'owl.bench.marker';
const MARKER_EVERY_MS = 100;
/** Live delay is measured for at least this long after the return, however fast the drain. */
const LIVE_WINDOW_MS = 3000;
const drainGoalS = outageS / 4;

const dir = mkdtempSync(join(tmpdir(), 'owl-bench-real-'));
const limitMs = (3 + baselineS + outageS + drainLimitS + 150) * 1000;
const watchdog = setTimeout(() => {
  console.error(`bench exceeded its ${limitMs / 1000} s limit: killing its processes`);
  rmSync(dir, { recursive: true, force: true });
  process.exit(2); // owl-cli.ts SIGKILLs the upstream and relay on exit
}, limitMs);
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  });

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/**
 * Polls the marker series through the query API (all of it since the start:
 * a few thousand points at most) and records when each marker first became
 * visible. Markers may become visible out of order (live batches go before
 * the backlog), so nothing is skipped by a cursor.
 */
class MarkerWatch {
  /** Marker timestamp → when it was first seen. */
  readonly seen = new Map<number, number>();
  newest = 0;

  constructor(
    private api: ApiTarget,
    private readonly fromMs: number,
  ) {}

  retarget(api: ApiTarget): void {
    this.api = api;
  }

  async poll(): Promise<void> {
    const q = await callApi(
      this.api,
      'GET',
      `/api/v1/query?metric=${MARKER_METRIC}&tag.zone=${ZONE}&from=${this.fromMs}`,
    ).catch(() => undefined);
    const at = Date.now();
    if (q?.status !== 200) return;
    for (const series of q.body as { timestampsMs: number[] }[])
      for (const ts of series.timestampsMs) {
        if (!this.seen.has(ts)) this.seen.set(ts, at);
        if (ts > this.newest) this.newest = ts;
      }
  }

  /** Delays (ms, ascending) of the markers made in [fromMs, toMs) and seen. */
  delays(fromMs: number, toMs: number): number[] {
    return [...this.seen]
      .filter(([ts]) => ts >= fromMs && ts < toMs)
      .map(([ts, at]) => at - ts)
      .sort((a, b) => a - b);
  }
}

function describe(d: readonly number[]): string {
  if (d.length === 0) return 'no markers';
  return `p50 ${fmt(percentile(d, 50) ?? 0)} ms, p99 ${fmt(percentile(d, 99) ?? 0)} ms, max ${fmt(d.at(-1) ?? 0)} ms (${d.length} markers)`;
}

console.log(
  `Outage and replay into the real upstream: ${agentCount} v4 agents at ${fmt(rate)} samples/s, upstream down ${outageS} s`,
);
console.log(`node ${process.version}, ${cpuCount()} CPUs, ${machineLoad()} at start`);

const agents: NoisyAgent[] = [];
const pacers: Pacer[] = [];
try {
  const upstreamDir = join(dir, 'upstream');
  const uplinkPort = await freePort();
  let up: UpstreamCli = await startUpstreamCli(upstreamDir, uplinkPort);
  const token = await addRelay(up.api, ZONE);
  const relay: RelayCli = await startRelayCli({
    stateDir: join(dir, 'relay'),
    relayId: ZONE,
    token,
    upstreamUrl: `ws://127.0.0.1:${uplinkPort}${UPLINK_PATH}`,
    zoneToken: ZONE_TOKEN,
  });
  for (let i = 0; i < agentCount; i++) {
    agents.push(
      new NoisyAgent({
        uuid: `bench-host-${i}`.padEnd(32, '0'),
        session: `bench-${Date.now()}-${i}`,
        token: ZONE_TOKEN,
        seed: 1000 + i,
      }),
    );
  }
  const markerSeries: SeriesDef[] = [{ metric: MARKER_METRIC, tags: {}, digits: 0, lo: 0, hi: 1e6, step: 1 }];
  const marker = new NoisyAgent({
    uuid: 'bench-marker'.padEnd(32, '0'),
    session: `bench-marker-${Date.now()}`,
    token: ZONE_TOKEN,
    seed: 7,
    series: markerSeries,
    samplesPerBatch: 1,
    window: 64,
  });
  for (const a of [...agents, marker]) await a.connect(relay.agentPort);
  const maxSeconds = 3 + baselineS + outageS + drainLimitS + 60;
  pacers.push(new Pacer(agents, rate, Math.ceil((rate / agentCount / 100) * maxSeconds)));
  pacers.push(new Pacer([marker], 1000 / MARKER_EVERY_MS, Math.ceil((maxSeconds * 1000) / MARKER_EVERY_MS)));
  for (const p of pacers) p.start();
  const watch = new MarkerWatch(up.api, Date.now());

  // 1. Warm-up and baseline.
  const warmEnd = Date.now() + 3000;
  while (Date.now() < warmEnd) {
    await watch.poll();
    await sleep(MARKER_EVERY_MS);
  }
  const baseStart = Date.now();
  const baseWritten0 = (await upstreamStats(up.api)).samples;
  while (Date.now() - baseStart < baselineS * 1000) {
    await watch.poll();
    await sleep(MARKER_EVERY_MS);
  }
  const baseEnd = Date.now();
  // Markers made in the last second may not be visible yet: poll a little longer, count only earlier ones.
  for (let i = 0; i < 10; i++) {
    await watch.poll();
    await sleep(MARKER_EVERY_MS);
  }
  const baseWrittenRate =
    ((await upstreamStats(up.api)).samples - baseWritten0) / ((Date.now() - baseStart) / 1000);
  const baseDelays = watch.delays(baseStart, baseEnd - 1000);

  // 2. Outage.
  const upCpuBefore = cpuSeconds(up.proc.pid);
  await up.proc.stop();
  const downAt = Date.now();
  let relayStatus = await relay.status();
  while (Date.now() - downAt < outageS * 1000) {
    await sleep(500);
    relayStatus = await relay.status();
  }
  const backlog = relayStatus.spool.samples;
  const backlogBytes = relayStatus.spool.bytes;

  // 3. Return.
  up = await startUpstreamCli(upstreamDir, uplinkPort, upstreamNodeArgs);
  const backAt = up.startedAt;
  watch.retarget(up.api);
  const relayCpu0 = cpuSeconds(relay.proc.pid);
  let drainedAt: number | undefined;
  let writtenAtDrain = 0;
  let connectedAt: number | undefined;
  let peakUpRss = 0;
  while (Date.now() - backAt < drainLimitS * 1000) {
    const [s] = await Promise.all([relay.status(), watch.poll()]);
    const now = Date.now();
    peakUpRss = Math.max(peakUpRss, memory(up.proc.pid).rss);
    if (connectedAt === undefined) connectedAt = (await listedRelay(up.api, ZONE))?.live?.connectedAtMs;
    if (drainedAt === undefined && (s.spool.records === 0 || s.spool.oldestAgeMs < now - backAt)) {
      drainedAt = now;
      writtenAtDrain = (await upstreamStats(up.api)).samples;
    }
    if (drainedAt !== undefined && now - (connectedAt ?? backAt) >= LIVE_WINDOW_MS) break;
    await sleep(100);
  }
  // Live = made once the relay was connected again (what it spools from then on is live, not backlog).
  const liveStart = connectedAt ?? backAt;
  const liveEnd = Math.max(drainedAt ?? Date.now(), liveStart + LIVE_WINDOW_MS);
  const madeIn = (fromMs: number, toMs: number): number => {
    let n = 0;
    for (let seq = 1; seq <= marker.made; seq++) {
      const ts = marker.batchTimes(seq).timestampMs;
      if (ts >= fromMs && ts < toMs) n++;
    }
    return n;
  };
  // Let the markers made up to the end of the window show up (or not, within 10 s).
  const settleEnd = Date.now() + 10_000;
  while (
    Date.now() < settleEnd &&
    (Date.now() < liveEnd || watch.delays(liveStart, liveEnd).length < madeIn(liveStart, liveEnd))
  ) {
    await watch.poll();
    await sleep(MARKER_EVERY_MS);
  }
  const drainDelays = watch.delays(liveStart, liveEnd);
  const markersMade = madeIn(liveStart, liveEnd);
  const relayCpu = cpuSeconds(relay.proc.pid) - relayCpu0;
  const upCpu = cpuSeconds(up.proc.pid);
  const afterDrain = await upstreamStats(up.api);
  const problems = up.proc.problems();

  // 4. Exactly once.
  let verdictLine = 'not checked (--no-check)';
  if (check) {
    for (const p of pacers) p.stop();
    try {
      await Promise.all([...agents, marker].map((a) => a.allAcked(60_000)));
      const deadline = Date.now() + 60_000;
      for (;;) {
        const s = await relay.status();
        if (s.spool.records === 0 && s.uplink.inFlight === 0) break;
        if (Date.now() > deadline) throw new Error(`relay spool not empty: ${s.spool.samples} samples`);
        await sleep(100);
      }
      const result = await checkStored(up.api, agents, ZONE);
      const acked = agents.reduce((n, a) => n + a.acked.size * a.samplesPerBatch, 0);
      const ok =
        result.missing === 0 &&
        result.extra === 0 &&
        result.wrongValue === 0 &&
        result.notAscending === 0 &&
        result.found === acked;
      verdictLine =
        `${ok ? 'yes' : 'NO'}: ${fmt(acked)} samples ACKed, ${fmt(result.found)} read back in ${fmt(result.series)} series ` +
        `(missing ${result.missing}, extra ${result.extra}, wrong value ${result.wrongValue}, repeated ${result.notAscending})` +
        (ok ? '' : `; ${result.firstProblems.slice(0, 3).join('; ')}`);
    } catch (err) {
      verdictLine = `NOT checked: ${(err as Error).message}`;
    }
  }

  const drainMs = drainedAt === undefined ? undefined : drainedAt - backAt;
  const replayMs = drainedAt === undefined ? undefined : drainedAt - (connectedAt ?? backAt);
  const replayRate = replayMs === undefined ? 0 : backlog / Math.max(0.001, replayMs / 1000);
  const writeRate = replayMs === undefined ? 0 : writtenAtDrain / Math.max(0.001, replayMs / 1000);
  const baseP99 = percentile(baseDelays, 99);
  const drainP99 = percentile(drainDelays, 99);
  const lostMarkers = markersMade - drainDelays.length;

  console.log('');
  console.log(
    `baseline (upstream up, ${baselineS} s): store wrote ${fmt(baseWrittenRate)} samples/s; live delay ${describe(baseDelays)}`,
  );
  console.log(
    `outage ${outageS} s: backlog ${fmt(backlog)} samples (${fmt(backlogBytes / 1024 / 1024, 1)} MiB in the spool, ` +
      `${fmt(backlogBytes / Math.max(1, backlog), 1)} bytes/sample); upstream CPU before the outage ${fmt(upCpuBefore, 1)} s`,
  );
  console.log(
    `return: relay reconnected ${connectedAt === undefined ? '?' : fmt(connectedAt - backAt)} ms after the upstream listened; ` +
      (drainMs === undefined
        ? `backlog NOT drained within ${drainLimitS} s (relay spool ${fmt(relayStatus.spool.samples)} samples before the return)`
        : `drained in ${fmt(drainMs)} ms; the restarted upstream wrote ${fmt(writtenAtDrain)} samples by then ` +
          `(${fmt(afterDrain.batches)} batches so far, ${afterDrain.duplicates} duplicate, ${afterDrain.rejected} rejected)`),
  );
  console.log(
    `during the drain: live delay ${describe(drainDelays)}` +
      (lostMarkers > 0
        ? `; ${lostMarkers} of ${markersMade} markers not visible 10 s after the window`
        : '') +
      `; relay ${fmt(relayCpu, 1)} CPU-s, upstream ${fmt(upCpu, 1)} CPU-s since its restart, upstream peak RSS ${fmt(peakUpRss / 1024 / 1024)} MiB`,
  );
  if (problems.length > 0)
    console.log(
      `upstream warnings/errors after the return (${problems.length}): ${problems.slice(-3).join(' | ')}`,
    );
  console.log(`every ACKed sample stored exactly once: ${verdictLine}`);
  console.log('');
  printTable([
    ['figure', 'measured', 'goal', ''],
    [
      'backlog replay rate into the store (live flowing)',
      replayMs === undefined ? 'not drained' : `${fmt(replayRate)} samples/s`,
      '>= 200,000 samples/s',
      verdict(replayRate >= 200_000),
    ],
    [
      'store write rate over the drain (backlog + live)',
      replayMs === undefined ? 'not drained' : `${fmt(writeRate)} samples/s`,
      '',
      '',
    ],
    [
      'live delay p99 during the drain (made → queryable)',
      drainP99 === null
        ? 'no markers'
        : `${fmt(drainP99)} ms` +
          (baseP99 === null ? '' : ` (${fmt(drainP99 / Math.max(1, baseP99), 1)}x baseline)`),
      '<= 5,000 ms',
      verdict(drainP99 !== null && drainP99 <= 5000 && lostMarkers <= 0),
    ],
    [
      `${outageS} s outage drained in`,
      drainMs === undefined ? `> ${drainLimitS} s` : `${fmt(drainMs / 1000, 1)} s`,
      `<= ${fmt(drainGoalS, 1)} s`,
      verdict(drainMs !== undefined && drainMs <= drainGoalS * 1000),
    ],
  ]);
  console.log(
    `(baseline live delay p99 ${baseP99 === null ? '-' : `${fmt(baseP99)} ms`}; replay rate = backlog / (drained - relay connected); ` +
      `drain = drained - upstream listening; delays have a 100 ms polling resolution)`,
  );
  console.log(`${machineLoad()} at end`);
  for (const p of pacers) p.stop();
  for (const a of [...agents, marker]) a.close();
  await relay.proc.stop();
  await up.proc.stop();
} finally {
  for (const p of pacers) p.stop();
  for (const a of agents) a.close();
  clearTimeout(watchdog);
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
