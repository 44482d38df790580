/**
 * Shared main of the relay throughput benches: flags, the baseline run, the
 * relay run, the report with goals. bench/relay-v3.ts and
 * bench/relay-batch.ts call `throughputBench()` with their case.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { printProfiles } from './cpu-profile.js';
import type { LoadOptions } from './load-main.js';
import { cpuCount, machineLoad } from './proc.js';
import { fmt, mb, numberFlag, parseFlags, printTable, verdict } from './report.js';
import { relayKnobs, withRig } from './rig.js';
import { runBaseline, runRelay, type BaselineResult } from './throughput.js';

export interface ThroughputCase {
  title: string;
  load: Omit<LoadOptions, 'port' | 'agents'>;
  goalSamplesPerSec: number;
  goalCpuPerMillion: number;
}

export async function throughputBench(c: ThroughputCase): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const seconds = numberFlag(flags, 'seconds', 10, 1, 20);
  const warmupS = numberFlag(flags, 'warmup', 3, 0, 10);
  const agents = numberFlag(flags, 'agents', 100, 1, 1000);
  const skipBaseline = flags.has('no-baseline');
  const profile = flags.get('profile');
  const profileDir =
    profile === undefined
      ? undefined
      : profile === 'true'
        ? mkdtempSync(join(tmpdir(), 'owl-relay-prof-'))
        : profile;

  console.log(`${c.title}: ${agents} agents, warm-up ${warmupS} s, measured ${seconds} s per run`);
  console.log(`node ${process.version}, ${cpuCount()} CPUs, ${machineLoad()} at start`);
  const knobs = relayKnobs(flags);
  const options = {
    load: { ...c.load, agents },
    warmupS,
    seconds,
    relay: knobs.config,
    relayProcess: { ...knobs.process, ...(profileDir === undefined ? {} : { profileDir }) },
  };
  if (flags.has('relay-config') || flags.has('relay-node-args') || flags.has('relay-import')) {
    console.log(`relay knobs: ${JSON.stringify(knobs)}`);
  }

  await withRig(58_000 + 2 * (seconds + warmupS) * 1000, async (rig) => {
    let base: BaselineResult | undefined;
    if (!skipBaseline) base = await runBaseline(rig, options);
    const r = await runRelay(rig, options);

    const rows: string[][] = [
      [
        'run',
        'samples/s',
        'relay CPU-s/M samples',
        'relay cores',
        'generator cores',
        'peer cores',
        'other cores',
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
      ]);
    }
    rows.push([
      'generator → relay → receiver (acked)',
      fmt(r.samplesPerSec),
      fmt(r.cpuPerMillion, 2),
      fmt(r.relayCores, 2),
      fmt(r.generatorCores, 2),
      fmt(r.receiverCores, 2),
      fmt(r.otherCores, 2),
    ]);
    console.log('');
    printTable(rows);
    console.log('');
    if (base !== undefined) {
      console.log(
        `baseline: ${fmt(base.bytesPerSample, 1)} wire bytes/sample, ${fmt(base.mbPerSec, 1)} MB/s into the sink; ` +
          `relay/baseline ratio ${fmt(r.samplesPerSec / base.samplesPerSec, 2)}`,
      );
    }
    console.log(
      `relay: spooled ${fmt(r.ingestPerSec)} samples/s (${fmt(r.cpuPerMillionSpooled, 2)} CPU-s per million spooled); spool backlog ${fmt(r.backlogStart)} → ${fmt(r.backlogEnd)} samples over the window; ` +
        `RSS ${mb(r.relayRss)} (heap ${mb(r.relayHeapUsed)}, external ${mb(r.relayExternal)}); uplink ${fmt(r.uplinkBytesPerSample, 1)} bytes/sample` +
        (r.ackP99 === null ? '' : `; agent ACK latency p50 ${r.ackP50} ms, p99 ${r.ackP99} ms`),
    );
    if (r.errors.length > 0) console.log(`generator errors: ${r.errors.join('; ')}`);
    console.log(
      `goals: >= ${fmt(c.goalSamplesPerSec)} samples/s: ${verdict(r.samplesPerSec >= c.goalSamplesPerSec)}; ` +
        `<= ${c.goalCpuPerMillion} relay CPU-s per million samples: ${verdict(r.cpuPerMillion <= c.goalCpuPerMillion)}`,
    );
    console.log(`${machineLoad()} at end`);
  });
  if (profileDir !== undefined) printProfiles(profileDir, 'the relay process');
}
