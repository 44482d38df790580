/**
 * Relay outage and recovery: build a backlog with the upstream down, bring
 * the upstream back while live traffic continues, and measure the drain.
 *
 *   npx tsx bench/relay-replay.ts [--samples=1000000] [--live-rate=20000] [--build-limit=20] [--drain-limit=25]
 *
 * 1. The relay starts with its upstream URL pointing at a port nobody listens
 *    on. 100 v4 agents send 100-sample SERIESBATCHes as fast as the relay
 *    ACKs them until the spool holds `samples` samples (or `build-limit` s
 *    pass), then drop to `live-rate` samples/s of live traffic.
 * 2. After 4 s more of live traffic with the upstream still down: spool
 *    bytes per sample = bytes of the spool
 *    directory (allocated blocks; apparent size also shown) / samples
 *    spooled. Relay "idle" RSS: the mean over those 4 s.
 * 3. The receiver starts on the upstream's port. Reconnect time = the
 *    relay's uplink HELLO at the receiver - the receiver's listening time.
 *    Replay rate = replayed samples / (last replay batch - HELLO). Live
 *    delay = receiver clock at storage - the record's receivedAtMs, for
 *    every live record during the drain and at least 3 s after the return. Peak RSS = the highest relay RSS
 *    sampled every 100 ms during the drain. Uplink bytes per sample = bytes
 *    of BATCH messages at the receiver (WebSocket payloads) / samples.
 *
 * Goals: reconnect <= 1 s; replay >= 200,000 samples/s with live traffic
 * flowing; live delay p99 <= 5 s; peak RSS <= idle + 50 MB; spool <= 24
 * bytes/sample on disk; uplink <= 10 bytes/sample.
 *
 * Diagnostic knobs (not used for the reference figures): --relay-config=<JSON
 * RelayConfigInput merged over the defaults>, --relay-node-args="<node
 * flags>", --relay-import=<module run in the relay process before it starts,
 * e.g. an experimental patch>.
 */
import { join } from 'node:path';
import { cpuCount, cpuSeconds, dirUsage, machineLoad, memory } from './lib/proc.js';
import { fmt, mb, numberFlag, parseFlags, poll, printTable, sleep, verdict } from './lib/report.js';
import { freePort, hasRelayKnobs, receiverUrl, relayKnobs, withRig } from './lib/rig.js';

const flags = parseFlags(process.argv.slice(2));
const target = numberFlag(flags, 'samples', 1_000_000, 10_000, 10_000_000);
/** Shortest time live traffic is watched after the upstream returns. */
const LIVE_WINDOW_MS = 3000;
const liveRate = numberFlag(flags, 'live-rate', 20_000, 0, 200_000);
const buildLimitS = numberFlag(flags, 'build-limit', 20, 1, 60);
const drainLimitS = numberFlag(flags, 'drain-limit', 25, 1, 120);
const agents = numberFlag(flags, 'agents', 100, 1, 1000);
const knobs = relayKnobs(flags);

console.log(
  `Relay outage and replay: backlog target ${fmt(target)} samples, live ${fmt(liveRate)} samples/s, ${agents} v4 agents`,
);
console.log(`node ${process.version}, ${cpuCount()} CPUs, ${machineLoad()} at start`);
if (hasRelayKnobs(flags)) {
  console.log(`relay knobs: ${JSON.stringify(knobs)}`);
}

await withRig((buildLimitS + drainLimitS + 40) * 1000, async (rig) => {
  const port = await freePort();
  const url = receiverUrl(port);
  const relay = await rig.startRelay({ upstreams: [url], ...knobs.config }, knobs.process);
  await sleep(500);
  const freshRss = relay.rss();

  // 1. Build the backlog.
  const load = await rig.startLoad({
    mode: 'v4',
    agents,
    port: relay.port,
    window: 8,
    samplesPerBatch: 100,
    // Fresh samples in every batch: the spool and uplink bytes per sample must not profit from repeats.
    distinctBatches: 0,
  });
  const buildStart = Date.now();
  await load.child.ask('go', /^GOING$/);
  const built = await poll(
    async () => {
      const s = await relay.status();
      return s.spool.samples >= target || Date.now() - buildStart > buildLimitS * 1000 ? s : undefined;
    },
    (buildLimitS + 10) * 1000,
    'backlog built',
    250,
  );
  const buildS = (Date.now() - buildStart) / 1000;
  await load.child.ask(`rate ${liveRate}`, /^RATE /);

  // 2. Live traffic, upstream still down: spool size and idle RSS.
  const idleRss: number[] = [];
  for (let i = 0; i < 20; i++) {
    await sleep(200);
    idleRss.push(relay.rss());
  }
  const before = await relay.status();
  const spoolDisk = dirUsage(join(relay.stateDir, 'spool'));
  const idle = idleRss.reduce((a, b) => a + b, 0) / idleRss.length;

  // 3. The upstream returns.
  await load.child.ask('reset-latency', /^RESET$/);
  const loadBefore = await load.status();
  const receiver = await rig.startReceiver({ port, decode: 'live' });
  const hello = await receiver.child.waitLine(/^HELLO (\d+)$/, 10_000);
  const helloAt = Number(hello[1]);
  const reconnectMs = helloAt - receiver.listeningAt;
  const cpu0 = relay.cpu();
  let peak = 0;
  const drainStart = Date.now();
  let rec = await receiver.status();
  let drained = false;
  while (Date.now() - drainStart < drainLimitS * 1000) {
    peak = Math.max(peak, memory(relay.child.pid).rss);
    await sleep(100);
    rec = await receiver.status();
    if (rec.replaySamples >= before.spool.samples) drained = true;
    // Live delay is measured over the drain and at least LIVE_WINDOW_MS after the return: a drain
    // that ends within a fraction of a second must not leave the live figure without data.
    if (drained && Date.now() - drainStart >= LIVE_WINDOW_MS) break;
  }
  peak = Math.max(peak, memory(relay.child.pid).rss);
  const cpuDrain = relay.cpu() - cpu0;
  const drainWall = (Date.now() - drainStart) / 1000;
  const loadAfter = await load.status();
  const after = await relay.status();
  await load.child.stop();

  const replayEnd = rec.lastReplayAt ?? helloAt;
  const replaySeconds = Math.max(0.001, (replayEnd - helloAt) / 1000);
  const replayRate = rec.replaySamples / replaySeconds;
  const liveSent = loadAfter.sentSamples - loadBefore.sentSamples;
  const liveOffered = (liveRate * (loadAfter.now - loadBefore.now)) / 1000;
  const spoolBytesPerSample = spoolDisk.allocated / before.spool.samples;
  const uplinkBytesPerSample = rec.batchBytes / rec.samples;
  const rssGrowth = peak - idle;

  console.log('');
  console.log(
    `backlog: ${fmt(built.spool.samples)} samples spooled in ${fmt(buildS, 1)} s (${fmt(built.spool.samples / buildS)} samples/s, upstream down)` +
      (built.spool.samples < target ? `; build limit reached before the ${fmt(target)} target` : ''),
  );
  console.log(
    `spool before the upstream returned: ${fmt(before.spool.samples)} samples in ${fmt(before.spool.records)} records, ` +
      `${mb(spoolDisk.allocated)} allocated on disk (${mb(spoolDisk.apparent)} apparent, ${spoolDisk.files} files), ` +
      `${mb(before.spool.bytes)} logical`,
  );
  console.log(
    `drain: ${drained ? 'complete' : `NOT complete within ${drainLimitS} s`}: ${fmt(rec.replaySamples)} replayed samples, ` +
      `${fmt(rec.liveSamples)} live samples stored; relay used ${fmt(cpuDrain, 1)} CPU-s over ${fmt(drainWall, 1)} s ` +
      `(${fmt(cpuDrain / drainWall, 2)} cores); spool now ${fmt(after.spool.samples)} samples`,
  );
  console.log(
    `live traffic from the upstream's return to the end of the drain: offered ${fmt(liveOffered)} samples, sent ${fmt(liveSent)}; agent send→ACK p50 ${String(loadAfter.ackP50)} ms, p99 ${String(loadAfter.ackP99)} ms, max ${String(loadAfter.ackMax)} ms`,
  );
  console.log(
    `relay RSS: fresh ${mb(freshRss)}, idle with backlog ${mb(idle)}, peak while draining ${mb(peak)}`,
  );
  console.log('');
  printTable([
    ['figure', 'measured', 'goal', ''],
    [
      'reconnect after the upstream returns',
      `${fmt(reconnectMs)} ms`,
      '<= 1,000 ms',
      verdict(reconnectMs <= 1000),
    ],
    [
      'backlog replay rate (live flowing)',
      `${fmt(replayRate)} samples/s`,
      '>= 200,000 samples/s',
      verdict(replayRate >= 200_000),
    ],
    [
      'live delay p99 (relay receipt → stored)',
      rec.liveDelayP99 === null
        ? 'no live records'
        : `${fmt(rec.liveDelayP99)} ms (p50 ${fmt(rec.liveDelayP50 ?? 0)}, max ${fmt(rec.liveDelayMax ?? 0)})`,
      '<= 5,000 ms',
      verdict(rec.liveDelayP99 !== null && rec.liveDelayP99 <= 5000),
    ],
    ['relay peak RSS draining - idle', mb(rssGrowth), '<= 50 MB', verdict(rssGrowth <= 50e6)],
    [
      'spool bytes per sample on disk',
      fmt(spoolBytesPerSample, 1),
      '<= 24',
      verdict(spoolBytesPerSample <= 24),
    ],
    ['uplink bytes per sample', fmt(uplinkBytesPerSample, 1), '<= 10', verdict(uplinkBytesPerSample <= 10)],
  ]);
  console.log(
    `(spool apparent bytes/sample ${fmt(spoolDisk.apparent / before.spool.samples, 1)}; logical ${fmt(before.spool.bytes / before.spool.samples, 1)}; ` +
      `receiver CPU ${fmt(cpuSeconds(receiver.child.pid), 1)} s in total)`,
  );
  console.log(`${machineLoad()} at end`);
});
