/**
 * Live data keeps flowing while a bundle crosses the uplink: a 30 MB bundle (incompressible) is
 * published to a zone whose relay is forwarding an agent's samples to the real upstream store;
 * the delay from a batch's send to its samples being in the store stays within the 5 s goal.
 *
 * The delay is read from the store itself (test/helpers/live-delay.ts). The figure with and
 * without a transfer, side by side: bench/firmware-transfer.ts.
 */
import test from 'ava';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { UPLINK_PATH } from '../../protocol/index.js';
import { eventually } from '../helpers/agent-client.js';
import { bundleOf, firmwareCli, programTree, signingKey } from '../helpers/firmware-rig.js';
import { LoadAgent } from '../helpers/load-agent.js';
import { LiveDelayProbe } from '../helpers/live-delay.js';
import { addRelay, startRelayCli, startUpstreamCli } from '../helpers/owl-cli.js';
import { tempDir } from '../helpers/relay-harness.js';

const ZONE = 'zone-fw-live';
const ZONE_TOKEN = 'zone-token-live';
const SAMPLES = 50;
const BUNDLE_PAD = 30 * 1024 * 1024;
const SEND_EVERY_MS = 20;

test('while a 30 MB bundle crosses the uplink, live samples reach the store with p99 delay within 5 s', async (t) => {
  t.timeout(300_000);
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

  const probe = new LiveDelayProbe(agent, up.api, SAMPLES);
  t.teardown(() => probe.abort());
  await probe.start(SEND_EVERY_MS);
  const cacheDir = join(stateDir, 'firmware');
  const cached = (): boolean =>
    existsSync(cacheDir) && readdirSync(cacheDir).some((f) => f.endsWith('.owlfw'));
  const publishedAt = Date.now();
  await firmwareCli(up.api, ['publish', bundle, '--zones', ZONE]);
  await eventually(cached, 180_000, 'the 30 MB bundle in the relay cache');
  const cachedAt = Date.now();
  const transferMs = cachedAt - publishedAt;
  await probe.stop();
  const { batches, p50, p99, max } = probe.figures(publishedAt, cachedAt);
  t.log(
    `30 MB bundle fetched in ${transferMs} ms (${(BUNDLE_PAD / transferMs / 1000).toFixed(1)} MB/s) while ` +
      `${batches} batches of ${SAMPLES} samples were sent; live delay p50 ${p50} ms, p99 ${p99} ms, max ${max} ms`,
  );
  t.true(batches >= 20, 'the transfer overlapped live sending');
  t.true(p99 <= 5000, `live delay p99 ${p99} ms within 5 s`);
  t.is(probe.storedSamples, agent.limit * SAMPLES, 'every sample stored once');
});
