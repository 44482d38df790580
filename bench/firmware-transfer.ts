/**
 * Live delay while a firmware bundle crosses the uplink (issue 16). The real `owl-upstream run`
 * and `owl-relay run`, the relay's uplink through a TCP forwarder that carries at most
 * --link-mbps each way (a zone's slow link; test/helpers/tcp-proxy.ts), a v4 agent sending a
 * batch of --samples every --every-ms. One run, two phases:
 *   1. baseline: --seconds of live sending, no transfer;
 *   2. transfer: an --mb MB agent bundle (incompressible) published to the zone; live sending goes
 *      on until the relay holds the whole bundle.
 * The delay of a batch is from its send to its samples being counted in the upstream's store
 * (test/helpers/live-delay.ts). Prints each phase's p50/p99/max and the relay's CPU, the p99
 * ratio to the baseline, the transfer's time and share of the link, and the relay's CPU-s per MB
 * fetched (over the baseline's). Goal: p99 <= 5 s during the transfer.
 *
 *   npx tsx bench/firmware-transfer.ts [--mb=30] [--link-mbps=80] [--seconds=10] [--every-ms=20] [--samples=50] [--share=0.25]
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { UPLINK_PATH } from '../protocol/index.js';
import { eventually } from '../test/helpers/agent-client.js';
import { bundleOf, firmwareCli, programTree, signingKey } from '../test/helpers/firmware-rig.js';
import { LiveDelayProbe, type DelayFigures } from '../test/helpers/live-delay.js';
import { LoadAgent } from '../test/helpers/load-agent.js';
import { addRelay, startRelayCli, startUpstreamCli } from '../test/helpers/owl-cli.js';
import { tempDir } from '../test/helpers/relay-harness.js';
import { TcpProxy } from '../test/helpers/tcp-proxy.js';
import { cpuSeconds, machineLoad } from './lib/proc.js';
import { fmt, numberFlag, parseFlags, printTable, sleep, verdict } from './lib/report.js';

const flags = parseFlags(process.argv.slice(2));
const MB = numberFlag(flags, 'mb', 30, 1, 200);
const LINK_MBPS = numberFlag(flags, 'link-mbps', 80, 1, 10_000);
const SECONDS = numberFlag(flags, 'seconds', 10, 2, 120);
const EVERY_MS = numberFlag(flags, 'every-ms', 20, 5, 1000);
const SAMPLES = numberFlag(flags, 'samples', 50, 1, 5000);
const SHARE = Number(flags.get('share') ?? '0.25');
const ZONE = 'bench-fw';
const ZONE_TOKEN = 'bench-fw-token';

const scratch = tempDir('owl-bench-fw-');
const dir = scratch.path;
const up = await startUpstreamCli(join(dir, 'upstream'));
const proxy = await TcpProxy.start(up.uplinkPort);
proxy.setLinkRate((LINK_MBPS * 1e6) / 8);
const key = signingKey(join(dir, 'keys'));
const stateDir = join(dir, 'relay');
const relay = await startRelayCli({
  stateDir,
  relayId: ZONE,
  token: await addRelay(up.api, ZONE),
  upstreamUrl: `ws://127.0.0.1:${proxy.port}${UPLINK_PATH}`,
  zoneToken: ZONE_TOKEN,
  config: { firmware: { keys: [key.publicKeyFile], share: SHARE } },
});
let probe: LiveDelayProbe | undefined;
const agent = new LoadAgent({
  uuid: 'bench-fw-agent',
  session: 's',
  samples: SAMPLES,
  window: 8,
  token: ZONE_TOKEN,
});
try {
  await agent.connect(relay.agentPort);
  const bundle = await bundleOf(
    programTree(join(dir, 'trees'), 'agent', '2.0.0', { padBytes: MB * 1e6 }),
    join(dir, 'agent.owlfw'),
    key,
    { program: 'owl-agent', version: '2.0.0' },
  );
  probe = new LiveDelayProbe(agent, up.api, SAMPLES);
  await probe.start(EVERY_MS);
  const baselineFrom = Date.now();
  const cpu0 = cpuSeconds(relay.proc.pid);
  await sleep(SECONDS * 1000);
  const publishedAt = Date.now();
  const cpu1 = cpuSeconds(relay.proc.pid);
  await firmwareCli(up.api, ['publish', bundle, '--zones', ZONE]);
  const cacheDir = join(stateDir, 'firmware');
  await eventually(
    () => existsSync(cacheDir) && readdirSync(cacheDir).some((f) => f.endsWith('.owlfw')),
    600_000,
    'the bundle in the relay cache',
  );
  const cachedAt = Date.now();
  const cpu2 = cpuSeconds(relay.proc.pid);
  await probe.stop();
  const baseline = probe.figures(baselineFrom, publishedAt);
  const transfer = probe.figures(publishedAt, cachedAt);
  const seconds = (cachedAt - publishedAt) / 1000;
  const linkSeconds = (MB * 1e6 * 8) / (LINK_MBPS * 1e6);
  // The relay's CPU share (CPU-s per s) in each phase: what the transfer costs a gateway.
  const baselineCpu = (cpu1 - cpu0) / ((publishedAt - baselineFrom) / 1000);
  const transferCpu = (cpu2 - cpu1) / seconds;
  const row = (name: string, f: DelayFigures, cpu: number): string[] => [
    name,
    fmt(f.batches),
    fmt(f.p50),
    fmt(f.p99),
    fmt(f.max),
    fmt(cpu * 100, 1),
  ];
  console.log(
    `firmware transfer: ${MB} MB bundle over a ${LINK_MBPS} Mbit/s link, share ${SHARE}; ` +
      `${SAMPLES} samples every ${EVERY_MS} ms; load ${machineLoad()}`,
  );
  printTable([
    ['phase', 'batches', 'p50 ms', 'p99 ms', 'max ms', 'relay CPU %'],
    row('baseline (no transfer)', baseline, baselineCpu),
    row('during the transfer', transfer, transferCpu),
  ]);
  console.log(
    `transfer ${fmt(seconds, 1)} s (the link alone needs ${fmt(linkSeconds, 1)} s: ` +
      `${fmt((linkSeconds / seconds) * 100)} % of the link's time); ` +
      `live p99 ${fmt(transfer.p99)} ms = ${fmt(transfer.p99 / baseline.p99, 2)} x baseline; ` +
      `relay CPU for the transfer ${fmt(((transferCpu - baselineCpu) * seconds) / MB, 3)} CPU-s per MB; ` +
      `goal p99 <= 5000 ms: ${verdict(transfer.p99 <= 5000)}`,
  );
} finally {
  probe?.abort();
  agent.close();
  await relay.proc.kill();
  await up.proc.kill();
  await proxy.close();
  scratch.remove();
}
