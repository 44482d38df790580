/**
 * Forwarding to a local VictoriaMetrics (issue 14). One run, three parts, each upstream in its
 * own process fed by one scripted relay connection (bench/lib/uplink-driver.ts: 1,000-sample
 * batches, one PACKED record each, as the relay sends them), the first 10 % of the batches a
 * warm-up:
 *   1. baseline: ingest without sinks, as bench/upstream-ingest.ts: samples/s acknowledged and
 *      upstream CPU-s per million;
 *   2. one remote_write sink to a Debian VictoriaMetrics (dedup on, started here, killed at the
 *      end): samples/s acknowledged, samples/s forwarded (until the sink has everything that was
 *      acknowledged), upstream CPU-s per million for ingest + forwarding, VictoriaMetrics' own;
 *   3. lag at half the rate of 2: ingest paced, one batch in ~100 ms carries a `lagmark` sample;
 *      the time from its BATCH_ACK to the first /api/v1/export poll (every --poll-ms) that shows it;
 *   4. the sink alone: the same batches ingested while the sink's URL answers nothing, the upstream
 *      restarted on that state with the sink pointing at VictoriaMetrics; samples/s and CPU-s per
 *      million while it forwards the backlog with no ingest beside it.
 * Goal: forwarding keeps up with ingest (>= 400,000 samples/s) at <= 1.5 upstream CPU-s per million
 * for forwarding (the sink run's CPU over the baseline's, and the sink alone's; whichever is more).
 *
 *   npx tsx bench/sink-forward.ts [--seconds=10] [--batches=1500] [--lag-seconds=10] [--poll-ms=20] [--profile]
 *
 * --profile runs the sink run's upstream under `node --cpu-prof` and prints where its time went.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { printProfiles } from './lib/cpu-profile.js';
import { cpuSeconds, machineLoad } from './lib/proc.js';
import { fmt, numberFlag, parseFlags, poll, sleep } from './lib/report.js';
import {
  api,
  BATCH_SAMPLES,
  batchMessages,
  seriesBody,
  startUpstream,
  stopUpstream,
  Uplink,
  type UpstreamChild,
} from './lib/uplink-driver.js';
import { freeTcpPort, VictoriaMetrics } from '../test/helpers/tsdb.js';

const flags = parseFlags(process.argv.slice(2));
const SECONDS = numberFlag(flags, 'seconds', 10, 1, 120);
const BATCHES = numberFlag(flags, 'batches', 1500, 20, 20_000);
const LAG_SECONDS = numberFlag(flags, 'lag-seconds', 10, 1, 120);
const POLL_MS = numberFlag(flags, 'poll-ms', 20, 5, 1000);
const PROFILE = flags.has('profile');
const CATCH_UP_MS = 180_000;

interface IngestFigures {
  rate: number;
  cpuPerM: number;
  fwdRate?: number;
  vmCpuPerM?: number;
  /** Seq of the last batch sent. */
  lastSeq: number;
}

/** Samples the sink has accepted, as `GET /api/v1/sinks` says. */
async function sinkSent(up: UpstreamChild): Promise<number> {
  const view = (await api(up, 'GET', '/api/v1/sinks')) as { sent: number }[];
  return view[0]?.sent ?? 0;
}

async function caughtUp(up: UpstreamChild, samples: number): Promise<number> {
  await poll(
    async () => ((await sinkSent(up)) >= samples ? true : undefined),
    CATCH_UP_MS,
    'sink caught up',
    20,
  );
  return Date.now();
}

/** Warm-up, then the measured ingest (and, with a sink, until it has caught up). */
async function ingestRun(
  up: UpstreamChild,
  link: Uplink,
  built: Buffer[],
  vm?: VictoriaMetrics,
): Promise<IngestFigures> {
  const warm = Math.floor(built.length / 10);
  await link.drive(built.slice(0, warm), { deadlineMs: Date.now() + 60_000 });
  if (vm !== undefined) await caughtUp(up, warm * BATCH_SAMPLES);
  const t0 = Date.now();
  const cpu0 = cpuSeconds(up.pid);
  const vmCpu0 = vm === undefined ? 0 : cpuSeconds(vm.pid);
  const acked = await link.drive(built.slice(warm), { deadlineMs: t0 + SECONDS * 1000 });
  const tAck = Date.now();
  const samples = acked * BATCH_SAMPLES;
  const out: IngestFigures = { rate: samples / ((tAck - t0) / 1000), cpuPerM: 0, lastSeq: warm + acked };
  if (vm !== undefined) {
    const tFwd = await caughtUp(up, (warm + acked) * BATCH_SAMPLES);
    out.fwdRate = samples / ((tFwd - t0) / 1000);
    out.vmCpuPerM = ((cpuSeconds(vm.pid) - vmCpu0) / samples) * 1e6;
  }
  out.cpuPerM = ((cpuSeconds(up.pid) - cpu0) / samples) * 1e6;
  return out;
}

/** Part 4: a backlog forwarded with nothing else to do. */
async function backlogRun(dir: string, vm: VictoriaMetrics): Promise<{ rate: number; cpuPerM: number }> {
  const bodies = Array.from({ length: BATCHES }, (_, i) =>
    seriesBody(2_000_000 + i, 1_600_000_000_000 + i * 10_000),
  );
  const built = await batchMessages(bodies, 1);
  const dead = `http://127.0.0.1:${await freeTcpPort()}/api/v1/write`;
  let up = await startUpstream(dir, { sinks: [{ name: 'vm', type: 'remote_write', url: dead }] });
  const link = await Uplink.open(up);
  const acked = await link.drive(built, { deadlineMs: Date.now() + 120_000 });
  link.close();
  await stopUpstream(up);
  up = await startUpstream(dir, { sinks: [{ name: 'vm', type: 'remote_write', url: vm.writeUrl }] });
  try {
    const t0 = Date.now();
    const cpu0 = cpuSeconds(up.pid);
    const samples = acked * BATCH_SAMPLES;
    const t1 = await caughtUp(up, samples);
    return { rate: samples / ((t1 - t0) / 1000), cpuPerM: ((cpuSeconds(up.pid) - cpu0) / samples) * 1e6 };
  } finally {
    await stopUpstream(up);
  }
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** Paced ingest at `rate` samples/s; lag from each marker's ack to its first sight in VictoriaMetrics. */
async function lagRun(up: UpstreamChild, link: Uplink, vm: VictoriaMetrics, firstSeq: number, rate: number) {
  const intervalMs = (BATCH_SAMPLES / rate) * 1000;
  const count = Math.min(20_000, Math.ceil((LAG_SECONDS * 1000) / intervalMs));
  const every = Math.max(1, Math.round(100 / intervalMs));
  const startMs = Date.now();
  const markerOfSeq = new Map<number, number>();
  const bodies = Array.from({ length: count }, (_, j) => {
    if (j % every !== 0) return seriesBody(1_000_000 + j, startMs + j * 10);
    const value = markerOfSeq.size;
    markerOfSeq.set(firstSeq + j, value);
    return seriesBody(1_000_000 + j, startMs + j * 10, { value, timestampMs: startMs + j });
  });
  const built = await batchMessages(bodies, firstSeq);
  const ackAt = new Map<number, number>();
  const seenAt = new Map<number, number>();
  const sentAt = new Map<number, number>();
  const seqOf = new Map([...markerOfSeq].map(([seq, m]) => [m, seq]));
  let driving = true;
  const poller = (async () => {
    let endBy = Infinity;
    while (seenAt.size < markerOfSeq.size && Date.now() < endBy) {
      const asked = Date.now();
      // The sink forwards the log in order: marker m is accepted once `sent` covers its batch.
      const sent = await sinkSent(up);
      for (const [m, seq] of seqOf)
        if (!sentAt.has(m) && sent >= seq * BATCH_SAMPLES) sentAt.set(m, Date.now());
      for (const v of (
        await vm.export('{__name__=~".*lagmark"}', { flush: false, startMs: startMs - 60_000 })
      ).flatMap((series) => series.values))
        if (!seenAt.has(v)) seenAt.set(v, Date.now());
      if (!driving && endBy === Infinity) endBy = Date.now() + 30_000;
      await sleep(Math.max(0, POLL_MS - (Date.now() - asked)));
    }
  })();
  const t0 = Date.now();
  const acked = await link.drive(built, {
    intervalMs,
    deadlineMs: t0 + LAG_SECONDS * 1000 + 5000,
    onAck: (seq, at) => {
      const m = markerOfSeq.get(seq);
      if (m !== undefined) ackAt.set(m, at);
    },
  });
  const paced = (acked * BATCH_SAMPLES) / ((Date.now() - t0) / 1000);
  driving = false;
  await poller;
  const since = (to: Map<number, number>): number[] =>
    [...ackAt]
      .filter(([m]) => to.has(m))
      .map(([m, at]) => (to.get(m) as number) - at)
      .sort((a, b) => a - b);
  return { paced, markers: markerOfSeq.size, lags: since(seenAt), accepted: since(sentAt) };
}

async function main(): Promise<void> {
  console.log(`Forwarding to VictoriaMetrics; node ${process.version}; ${machineLoad()}`);
  const dir = mkdtempSync(join(tmpdir(), 'owl-bench-sink-'));
  const bodies = Array.from({ length: BATCHES }, (_, i) => seriesBody(i, 1_700_000_000_000 + i * 10_000));
  const built = await batchMessages(bodies, 1);
  let vm: VictoriaMetrics | undefined;
  let up: UpstreamChild | undefined;
  try {
    up = await startUpstream(join(dir, 'base'), {});
    let link = await Uplink.open(up);
    const base = await ingestRun(up, link, built);
    link.close();
    await stopUpstream(up);

    vm = await VictoriaMetrics.start({ dir: join(dir, 'vm'), dedup: true });
    const profileDir = join(dir, 'profile');
    up = await startUpstream(
      join(dir, 'sink'),
      { sinks: [{ name: 'vm', type: 'remote_write', url: vm.writeUrl }] },
      PROFILE ? profileDir : undefined,
    );
    link = await Uplink.open(up);
    const sink = await ingestRun(up, link, built, vm);
    const max = Math.min(sink.rate, sink.fwdRate ?? sink.rate);
    const lag = await lagRun(up, link, vm, sink.lastSeq + 1, max / 2);
    link.close();
    await stopUpstream(up);
    if (PROFILE) printProfiles(profileDir, 'the upstream (sink run)');
    up = undefined;
    const backlog = await backlogRun(join(dir, 'backlog'), vm);

    const fwd = sink.fwdRate ?? 0;
    console.log(
      `baseline: ingest, no sinks, acknowledged          ${fmt(base.rate)} samples/s  (${base.cpuPerM.toFixed(2)} upstream CPU-s per million)`,
    );
    console.log(
      `with a remote_write sink: ingest, acknowledged    ${fmt(sink.rate)} samples/s  (x${(sink.rate / base.rate).toFixed(2)} of baseline)`,
    );
    console.log(
      `                          forwarded (caught up)   ${fmt(fwd)} samples/s  (x${(fwd / base.rate).toFixed(2)} of baseline)`,
    );
    console.log(
      `                          upstream CPU-s per million, ingest + forwarding ${sink.cpuPerM.toFixed(2)} (x${(sink.cpuPerM / base.cpuPerM).toFixed(2)} of baseline; forwarding ~${(sink.cpuPerM - base.cpuPerM).toFixed(2)})`,
    );
    console.log(
      `                          VictoriaMetrics CPU-s per million ${(sink.vmCpuPerM ?? 0).toFixed(2)}`,
    );
    const keeps = fwd >= 400_000 && fwd >= 0.9 * sink.rate;
    // The goal's CPU figure is forwarding's own: with ingest (its share over the baseline) and alone.
    const fwdCpu = Math.max(sink.cpuPerM - base.cpuPerM, backlog.cpuPerM);
    console.log(
      `goal: forwarding >= 400,000 samples/s and keeps up with ingest: ${keeps ? 'met' : 'MISSED'}; ` +
        `forwarding <= 1.5 upstream CPU-s per million (${fwdCpu.toFixed(2)}): ${fwdCpu <= 1.5 ? 'met' : 'MISSED'}`,
    );
    console.log(
      `lag at ${fmt(lag.paced)} samples/s (half of ${fmt(max)}), ack -> visible in /api/v1/export (polled every ${POLL_MS} ms): ` +
        `p50 ${fmt(percentile(lag.lags, 50))} ms, p99 ${fmt(percentile(lag.lags, 99))} ms, max ${fmt(lag.lags.at(-1) ?? NaN)} ms ` +
        `(${lag.lags.length} of ${lag.markers} markers seen)`,
    );
    console.log(
      `    of which ack -> accepted by VictoriaMetrics (the sink's sent count, same polls): p50 ${fmt(percentile(lag.accepted, 50))} ms, p99 ${fmt(percentile(lag.accepted, 99))} ms`,
    );
    console.log(
      `the sink alone, a backlog of ${fmt(BATCHES * BATCH_SAMPLES)} samples, no ingest: ${fmt(backlog.rate)} samples/s forwarded (${backlog.cpuPerM.toFixed(2)} upstream CPU-s per million)`,
    );
    console.log(`at end: ${machineLoad()}`);
  } finally {
    if (up !== undefined) await stopUpstream(up);
    await vm?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
