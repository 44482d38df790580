/**
 * The throughput run shared by bench/relay-v3.ts and bench/relay-batch.ts.
 *
 * Baseline: the load generator → a bare TCP sink process (counts bytes; in
 * v4 mode also answers HELLO and ACKs) — the generator's own ceiling on this
 * machine. Relay: the same generator → relay process → receiver process;
 * samples/s counted where the receiver acknowledges them (end to end), and
 * the relay process's CPU from /proc over the same window.
 */
import { cpuSeconds, machineBusySeconds, memory } from './proc.js';
import type { LoadOptions } from './load-main.js';
import { sleep } from './report.js';
import { uplinkConnected, type RelayProcessOptions, type Rig } from './rig.js';
import type { RelayConfigInput } from '../../relay/index.js';

export interface ThroughputOptions {
  load: Omit<LoadOptions, 'port'>;
  warmupS: number;
  seconds: number;
  relay?: RelayConfigInput;
  relayProcess?: RelayProcessOptions;
}

export interface BaselineResult {
  samplesPerSec: number;
  bytesPerSample: number;
  mbPerSec: number;
  generatorCpu: number;
  sinkCpu: number;
  otherCpu: number;
}

export interface RelayResult {
  /** Samples acknowledged by the receiver per second. */
  samplesPerSec: number;
  /** Samples the relay spooled per second. */
  ingestPerSec: number;
  /** Relay CPU seconds per million samples acknowledged by the receiver. */
  cpuPerMillion: number;
  /** Relay CPU seconds per million samples spooled (taken in from agents). */
  cpuPerMillionSpooled: number;
  /** Relay CPU seconds per wall second (1.0 = one core). */
  relayCores: number;
  generatorCores: number;
  receiverCores: number;
  /** CPU used by everything else on the machine over the window, in cores. */
  otherCores: number;
  /** Spool backlog (samples) at the start and end of the window. */
  backlogStart: number;
  backlogEnd: number;
  /** v4: ACK latency at the agents (send → ACK), ms. */
  ackP50: number | null;
  ackP99: number | null;
  /** Relay RSS at the end of the window, its highest in the window (sampled every 100 ms), VmHWM then. */
  relayRss: number;
  relayRssPeakWindow: number;
  relayRssHwm: number;
  /** The relay's own view at the end of the window (process.memoryUsage of its main thread). */
  relayHeapUsed: number;
  relayExternal: number;
  uplinkBytesPerSample: number;
  errors: string[];
}

export async function runBaseline(rig: Rig, o: ThroughputOptions): Promise<BaselineResult> {
  const sink = await rig.startSink(o.load.mode === 'v4' ? 'v4' : 'count');
  const load = await rig.startLoad({ ...o.load, port: sink.port });
  await load.child.ask('go', /^GOING$/);
  await sleep(o.warmupS * 1000);
  const snap = async () => ({
    sink: await sink.child.status<{ now: number; bytes: number }>(),
    load: await load.status(),
    gen: cpuSeconds(load.child.pid),
    sinkCpu: cpuSeconds(sink.child.pid),
    busy: machineBusySeconds(),
  });
  const a = await snap();
  await sleep(o.seconds * 1000);
  const b = await snap();
  await load.child.stop();
  await sink.child.stop();
  const dt = (b.sink.now - a.sink.now) / 1000;
  const bytesPerSample = b.load.sentBytes / b.load.sentSamples;
  const bytes = b.sink.bytes - a.sink.bytes;
  const gen = b.gen - a.gen;
  const sinkCpu = b.sinkCpu - a.sinkCpu;
  return {
    samplesPerSec: bytes / bytesPerSample / dt,
    bytesPerSample,
    mbPerSec: bytes / 1e6 / dt,
    generatorCpu: gen / dt,
    sinkCpu: sinkCpu / dt,
    otherCpu: (b.busy - a.busy - gen - sinkCpu) / dt,
  };
}

export async function runRelay(rig: Rig, o: ThroughputOptions): Promise<RelayResult> {
  const receiver = await rig.startReceiver({ decode: 'none' });
  const relay = await rig.startRelay({ upstreams: [receiver.url], ...o.relay }, o.relayProcess ?? {});
  await uplinkConnected(relay);
  const load = await rig.startLoad({ ...o.load, port: relay.port });
  await load.child.ask('go', /^GOING$/);
  await sleep(o.warmupS * 1000);
  // /proc figures and the receiver's count first, all within a few ms; the relay
  // answers its status from its own event loop, which a busy relay may hold up.
  const snap = async () => {
    const relayCpu = relay.cpu();
    const gen = cpuSeconds(load.child.pid);
    const recCpu = cpuSeconds(receiver.child.pid);
    const busy = machineBusySeconds();
    const rec = await receiver.status();
    const l = await load.status();
    const rel = await relay.status();
    return { rec, rel, load: l, relayCpu, gen, recCpu, busy };
  };
  await load.child.ask('reset-latency', /^RESET$/);
  const a = await snap();
  let rssPeak = 0;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, memory(relay.child.pid).rss);
  }, 100);
  await sleep(o.seconds * 1000);
  const b = await snap();
  clearInterval(sampler);
  // Read before the load stops: a relay draining its agents' last bytes is not the steady state.
  const { rss, peak: hwm } = memory(relay.child.pid);
  await load.child.stop();
  // Stop the relay now so a --cpu-prof profile covers the load, not a long idle tail.
  await relay.child.stop();
  const dt = (b.rec.now - a.rec.now) / 1000;
  const delivered = b.rec.samples - a.rec.samples;
  const relayCpu = b.relayCpu - a.relayCpu;
  const gen = b.gen - a.gen;
  const recCpu = b.recCpu - a.recCpu;
  return {
    samplesPerSec: delivered / dt,
    ingestPerSec: (b.rel.spool.appendedSamples - a.rel.spool.appendedSamples) / dt,
    cpuPerMillion: relayCpu / (delivered / 1e6),
    cpuPerMillionSpooled: relayCpu / ((b.rel.spool.appendedSamples - a.rel.spool.appendedSamples) / 1e6),
    relayCores: relayCpu / dt,
    generatorCores: gen / dt,
    receiverCores: recCpu / dt,
    otherCores: (b.busy - a.busy - relayCpu - gen - recCpu) / dt,
    backlogStart: a.rel.spool.samples,
    backlogEnd: b.rel.spool.samples,
    ackP50: b.load.ackP50,
    ackP99: b.load.ackP99,
    relayRss: rss,
    relayRssPeakWindow: Math.max(rssPeak, rss),
    relayRssHwm: hwm,
    relayHeapUsed: b.rel.heapUsed,
    relayExternal: b.rel.external,
    uplinkBytesPerSample: (b.rec.batchBytes - a.rec.batchBytes) / delivered,
    errors: b.load.errors,
  };
}
