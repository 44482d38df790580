/**
 * Live data keeps flowing while a bundle crosses the uplink: a 30 MB bundle (incompressible) is
 * published to a zone whose relay is forwarding an agent's samples to the real upstream store;
 * the delay from a batch's send to its samples being in the store stays within the 5 s goal.
 *
 * The delay is read from the store itself: the agent's batches are stored in order (live data,
 * no backlog), so batch i is stored once `GET /api/v1/stats`'s sample count reaches the count
 * sent up to it; the count is polled every 50 ms.
 */
import test from 'ava';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { UPLINK_PATH } from '../../protocol/index.js';
import { eventually } from '../helpers/agent-client.js';
import { bundleOf, firmwareCli, programTree, signingKey } from '../helpers/firmware-rig.js';
import { LoadAgent } from '../helpers/load-agent.js';
import { addRelay, startRelayCli, startUpstreamCli, upstreamStats } from '../helpers/owl-cli.js';
import { tempDir } from '../helpers/relay-harness.js';

const ZONE = 'zone-fw-live';
const ZONE_TOKEN = 'zone-token-live';
const SAMPLES = 50;
const BUNDLE_PAD = 30 * 1024 * 1024;
const SEND_EVERY_MS = 20;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

test('while a 30 MB bundle crosses the uplink, live samples reach the store with p99 delay within 5 s', async (t) => {
  const scratch = tempDir('owl-fw-live-');
  t.teardown(() => scratch.remove());
  const dir = scratch.path;
  const up = await startUpstreamCli(join(dir, 'upstream'));
  t.teardown(() => up.proc.kill());
  const key = signingKey(join(dir, 'keys'));
  const stateDir = join(dir, 'relay');
  const relay = await startRelayCli({
    stateDir,
    relayId: ZONE,
    token: await addRelay(up.api, ZONE),
    upstreamUrl: `ws://127.0.0.1:${up.uplinkPort}${UPLINK_PATH}`,
    zoneToken: ZONE_TOKEN,
    config: { firmware: { keys: [key.publicKeyFile] } },
  });
  t.teardown(() => relay.proc.kill());
  const agent = new LoadAgent({
    uuid: 'fw-live-agent',
    session: 's',
    samples: SAMPLES,
    window: 8,
    token: ZONE_TOKEN,
  });
  t.teardown(() => agent.close());
  await agent.connect(relay.agentPort);

  // An agent bundle: the relay fetches it for its zone's agents, over the same uplink.
  const bundle = await bundleOf(
    programTree(join(dir, 'trees'), 'agent', '2.0.0', { padBytes: BUNDLE_PAD }),
    join(dir, 'agent-2.0.0.owlfw'),
    key,
    { program: 'owl-agent', version: '2.0.0' },
  );

  const sent: { at: number; upTo: number }[] = [];
  const stored: { at: number; samples: number }[] = [];
  const base = (await upstreamStats(up.api)).samples;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      stored.push({ at: Date.now(), samples: (await upstreamStats(up.api)).samples - base });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  const sender = setInterval(() => {
    agent.sendUpTo(agent.limit + 1);
    sent.push({ at: Date.now(), upTo: agent.limit * SAMPLES });
  }, SEND_EVERY_MS);

  const cacheDir = join(stateDir, 'firmware');
  const cached = (): boolean =>
    existsSync(cacheDir) && readdirSync(cacheDir).some((f) => f.endsWith('.owlfw'));
  const publishedAt = Date.now();
  await firmwareCli(up.api, ['publish', bundle, '--zones', ZONE]);
  await eventually(cached, 180_000, 'the 30 MB bundle in the relay cache');
  const transferMs = Date.now() - publishedAt;
  clearInterval(sender);
  await agent.allAcked(60_000);
  const total = agent.limit * SAMPLES;
  await eventually(async () => (await upstreamStats(up.api)).samples - base >= total, 60_000, 'all stored');
  polling = false;
  await poller;
  stored.push({ at: Date.now(), samples: (await upstreamStats(up.api)).samples - base });

  const delays = sent
    .filter((s) => s.at >= publishedAt)
    .map((s) => {
      const when = stored.find((x) => x.samples >= s.upTo);
      return when === undefined ? Number.POSITIVE_INFINITY : when.at - s.at;
    })
    .sort((a, b) => a - b);
  const p50 = percentile(delays, 50);
  const p99 = percentile(delays, 99);
  t.log(
    `30 MB bundle fetched in ${transferMs} ms (${(BUNDLE_PAD / transferMs / 1000).toFixed(1)} MB/s) while ` +
      `${delays.length} batches of ${SAMPLES} samples were sent; live delay p50 ${p50} ms, p99 ${p99} ms, max ${delays.at(-1)} ms`,
  );
  t.true(delays.length >= 20, 'the transfer overlapped live sending');
  t.true(p99 <= 5000, `live delay p99 ${p99} ms within 5 s`);
  t.is((await upstreamStats(up.api)).samples - base, total, 'every sample stored once');
});
