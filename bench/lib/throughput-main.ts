/**
 * Shared main of the relay throughput benches: flags, the baseline run, the
 * relay run(s), the report with goals. bench/relay-v3.ts and
 * bench/relay-batch.ts call `throughputBench()` with their case.
 *
 * `--rate=N` paces the generator at N samples/s over all agents (unpaced by
 * default). `--zstd=napi|zlib|ab` picks the library that compresses PACKED records in
 * the relay (OWL_ZSTD_IMPL, protocol/uplink/zstd.ts); `ab` runs the relay
 * once with each, alternately, `--rounds=N` times (default 2), in one
 * invocation, so both see the same machine.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { printProfiles } from './cpu-profile.js';
import type { LoadOptions } from './load-main.js';
import { cpuCount, machineLoad } from './proc.js';
import { fmt, mb, numberFlag, parseFlags, printTable, verdict } from './report.js';
import { hasRelayKnobs, relayKnobs, withRig } from './rig.js';
import {
  runBaseline,
  runRelay,
  type BaselineResult,
  type RelayResult,
  type ThroughputOptions,
} from './throughput.js';

export interface ThroughputCase {
  title: string;
  load: Omit<LoadOptions, 'port' | 'agents'>;
  goalSamplesPerSec: number;
  goalCpuPerMillion: number;
}

/** Relay RSS goal at this load (issue 10: a gateway has 512 MB-1 GB for everything). */
const GOAL_RSS_MIB = 128;

type ZstdVariant = 'default' | 'napi' | 'zlib';

function zstdVariants(flags: Map<string, string>): ZstdVariant[] {
  const zstd = flags.get('zstd');
  if (zstd === undefined) return ['default'];
  if (zstd === 'napi' || zstd === 'zlib') return [zstd];
  if (zstd !== 'ab') throw new Error('--zstd must be napi, zlib or ab');
  const rounds = numberFlag(flags, 'rounds', 2, 1, 10);
  return Array.from({ length: rounds }, (): ZstdVariant[] => ['napi', 'zlib']).flat();
}

export async function throughputBench(c: ThroughputCase): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const seconds = numberFlag(flags, 'seconds', 10, 1, 20);
  const warmupS = numberFlag(flags, 'warmup', 3, 0, 10);
  const agents = numberFlag(flags, 'agents', 100, 1, 1000);
  // Paced load (samples/s over all agents), e.g. to see the relay's memory at a gateway's rate.
  const rate = flags.has('rate') ? numberFlag(flags, 'rate', 0, 1000, 10_000_000) : undefined;
  const skipBaseline = flags.has('no-baseline');
  const variants = zstdVariants(flags);
  const profile = flags.get('profile');
  const profileDir =
    profile === undefined
      ? undefined
      : profile === 'true'
        ? mkdtempSync(join(tmpdir(), 'owl-relay-prof-'))
        : profile;

  console.log(
    `${c.title}: ${agents} agents${rate === undefined ? '' : ` paced at ${fmt(rate)} samples/s`}, warm-up ${warmupS} s, measured ${seconds} s per run`,
  );
  console.log(`node ${process.version}, ${cpuCount()} CPUs, ${machineLoad()} at start`);
  const knobs = relayKnobs(flags);
  const options: ThroughputOptions = {
    load: { ...c.load, agents, ...(rate === undefined ? {} : { rate }) },
    warmupS,
    seconds,
    relay: knobs.config,
    relayProcess: { ...knobs.process, ...(profileDir === undefined ? {} : { profileDir }) },
  };
  if (hasRelayKnobs(flags)) console.log(`relay knobs: ${JSON.stringify(knobs)}`);
  if (knobs.process.source !== true) console.log('relay: transpiled to JavaScript (bench/lib/build.ts)');

  const limitMs = 58_000 + (1 + variants.length) * (seconds + warmupS + 5) * 1000;
  await withRig(limitMs, async (rig) => {
    let base: BaselineResult | undefined;
    if (!skipBaseline) base = await runBaseline(rig, options);
    const runs: Array<{ variant: ZstdVariant; r: RelayResult; load: string }> = [];
    for (const variant of variants) {
      const env = variant === 'default' ? undefined : { OWL_ZSTD_IMPL: variant };
      const relayProcess = { ...options.relayProcess, ...(env === undefined ? {} : { env }) };
      const r = await runRelay(rig, { ...options, relayProcess });
      runs.push({ variant, r, load: machineLoad() });
    }
    report(c, base, runs);
  });
  if (profileDir !== undefined) printProfiles(profileDir, 'the relay process');
}

function report(
  c: ThroughputCase,
  base: BaselineResult | undefined,
  runs: Array<{ variant: ZstdVariant; r: RelayResult; load: string }>,
): void {
  const rows: string[][] = [
    [
      'run',
      'samples/s',
      'relay CPU-s/M samples',
      'relay cores',
      'generator cores',
      'peer cores',
      'other cores',
      'relay RSS peak',
    ],
  ];
  if (base !== undefined) {
    rows.push([
      'baseline: generator → bare TCP sink',
      fmt(base.samplesPerSec),
      '-',
      '-',
      fmt(base.generatorCpu, 2),
      fmt(base.sinkCpu, 2),
      fmt(base.otherCpu, 2),
      '-',
    ]);
  }
  for (const { variant, r } of runs) {
    rows.push([
      `generator → relay → receiver (acked)${variant === 'default' ? '' : ` zstd ${variant}`}`,
      fmt(r.samplesPerSec),
      fmt(r.cpuPerMillion, 2),
      fmt(r.relayCores, 2),
      fmt(r.generatorCores, 2),
      fmt(r.receiverCores, 2),
      fmt(r.otherCores, 2),
      mb(r.relayRssHwm),
    ]);
  }
  console.log('');
  printTable(rows);
  console.log('');
  const first = runs[0] as { r: RelayResult };
  if (base !== undefined) {
    console.log(
      `baseline: ${fmt(base.bytesPerSample, 1)} wire bytes/sample, ${fmt(base.mbPerSec, 1)} MB/s into the sink; ` +
        `relay/baseline ratio ${fmt(first.r.samplesPerSec / base.samplesPerSec, 2)}`,
    );
  }
  for (const { variant, r, load } of runs) {
    console.log(
      `relay${variant === 'default' ? '' : ` (zstd ${variant})`}: spooled ${fmt(r.ingestPerSec)} samples/s (${fmt(r.cpuPerMillionSpooled, 2)} CPU-s per million spooled); spool backlog ${fmt(r.backlogStart)} → ${fmt(r.backlogEnd)} samples over the window; ` +
        `RSS ${mb(r.relayRss)} at the end of the window, peak ${mb(r.relayRssPeakWindow)} in it, ${mb(r.relayRssHwm)} since start (VmHWM) (heap ${mb(r.relayHeapUsed)}, external ${mb(r.relayExternal)}); uplink ${fmt(r.uplinkBytesPerSample, 1)} bytes/sample` +
        (r.ackP99 === null ? '' : `; agent ACK latency p50 ${r.ackP50} ms, p99 ${r.ackP99} ms`) +
        `; ${load} after it`,
    );
    if (r.errors.length > 0) console.log(`generator errors: ${r.errors.join('; ')}`);
  }
  const worst = (f: (r: RelayResult) => number, most: boolean): number =>
    runs.map((x) => f(x.r)).reduce((a, b) => (most ? Math.max(a, b) : Math.min(a, b)));
  const rate = worst((r) => r.samplesPerSec, false);
  const cpu = worst((r) => r.cpuPerMillion, true);
  const rss = worst((r) => r.relayRssHwm, true);
  console.log(
    `goals (worst run): >= ${fmt(c.goalSamplesPerSec)} samples/s: ${verdict(rate >= c.goalSamplesPerSec)}; ` +
      `<= ${c.goalCpuPerMillion} relay CPU-s per million samples: ${verdict(cpu <= c.goalCpuPerMillion)}; ` +
      `relay peak RSS (VmHWM) <= ${GOAL_RSS_MIB} MiB: ${verdict(rss <= GOAL_RSS_MIB * 1024 * 1024)}`,
  );
  console.log(`${machineLoad()} at end`);
}
