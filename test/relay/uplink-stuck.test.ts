/**
 * A batch the upstream fails to store the same way twice is not resent in a
 * tight loop: the relay logs one coded error naming the seq range, reports
 * it (status, metric), and retries at the slow interval; the upstream shows
 * the failures per relay. Once the upstream can store it, it is stored once
 * and the relay says so once.
 */
import test from 'ava';
import { encodePacket, PacketType } from '../../protocol/index.js';
import { Relay, resolveRelayConfig, TEST_BACKOFF } from '../../relay/index.js';
import { eventually, TestAgent } from '../helpers/agent-client.js';
import { RELAY_ID, tempDir } from '../helpers/relay-harness.js';
import { api, startUpstream } from '../helpers/upstream-harness.js';
import { captureLog } from '../helpers/upstream-fixture.js';

const UUID = '8277e0910d750195b448797616e091ad';
const SLOW_MS = 1500;

test('a range the upstream fails to store twice is stuck: one coded log line, slow retries, visible on both ends; stored once it can be', async (t) => {
  const dir = tempDir('owl-stuck-');
  t.teardown(() => dir.remove());
  // A store that takes 5 points per write cannot store a record of 20: the same failure every time.
  const up = await startUpstream(`${dir.path}/up`, {}, { maxWritePoints: 5 });
  let upNow = up;
  t.teardown(() => upNow.stop());
  const token = ((await api(up, 'POST', '/api/v1/relays', { id: RELAY_ID })).body as { token: string }).token;
  const log = captureLog();
  const relay = await Relay.start(
    resolveRelayConfig({
      metrics: { port: 0 },
      relayId: RELAY_ID,
      token,
      upstreams: [up.uplinkUrl],
      stateDir: `${dir.path}/relay`,
      listen: [{ host: '127.0.0.1', port: 0 }],
      batch: { lingerMs: 5 },
    }),
    { logger: log.logger, backoff: TEST_BACKOFF, slowRetryMs: SLOW_MS },
  );
  t.teardown(() => relay.stop());
  await eventually(() => relay.uplink.state === 'connected', 10_000, 'uplink');

  // 20 samples in one socket write: one relay record of 20 points.
  const agent = await TestAgent.connect(relay.addresses[0]?.port ?? 0);
  t.teardown(() => agent.destroy());
  const now = Math.floor(Date.now() / 1000);
  agent.sendRaw(
    Buffer.concat(
      Array.from({ length: 20 }, (_, i) =>
        encodePacket(PacketType.SERIESDATA, {
          uuid: UUID,
          ip: '10.0.0.7',
          group: '',
          timestamp: now - 20 + i,
          service_name: 'disk',
          metric: 'used',
          value: i,
          flag: 0,
        }),
      ),
    ),
  );

  await eventually(() => relay.uplink.stuck !== undefined, 15_000, 'stuck');
  const stuckAt = Date.now();
  const stuck = relay.uplink.stuck;
  t.is(stuck?.code, 'OWL_ERR_STORE_WRITE_TOO_LARGE');
  t.is(stuck?.failures, 2);
  t.is(relay.status().uplink.stuck?.firstSeq, stuck?.firstSeq);
  const lines = log.lines.filter(
    (l) =>
      l['msg'] === 'uplink batch stuck: the upstream failed to store the same records twice; retrying slowly',
  );
  t.is(lines.length, 1);
  t.is(lines[0]?.['code'], 'OWL_ERR_UPLINK_BATCH_STUCK');
  t.is(lines[0]?.['firstSeq'], stuck?.firstSeq);
  const metrics = await relay.metrics.registry.metrics();
  t.regex(metrics, /^owl_relay_uplink_stuck 1$/m);
  t.regex(metrics, /^owl_relay_uplink_stuck_total 1$/m);

  // The upstream shows which range keeps failing, across reconnects.
  const health = () => up.endpoint.relayHealth(RELAY_ID);
  t.is(health()?.lastError?.code, 'OWL_ERR_STORE_WRITE_TOO_LARGE');
  t.is(health()?.lastError?.firstSeq, stuck?.firstSeq);
  const listed = (await api(up, 'GET', '/api/v1/relays')).body as {
    store: { storeFailures: number } | null;
  }[];
  t.true((listed[0]?.store?.storeFailures ?? 0) >= 2);

  // The third try waits the slow interval, not the fast backoff (at most 500 ms).
  await eventually(() => (health()?.storeFailures ?? 0) >= 3, 10_000, 'third failure');
  t.true(Date.now() - stuckAt >= SLOW_MS * 0.9, `third try after ${Date.now() - stuckAt} ms`);
  t.is(
    log.lines.filter((l) => l['code'] === 'OWL_ERR_UPLINK_BATCH_STUCK').length,
    1,
    'logged once, not per retry',
  );

  // An upstream that can store it: stored once, and the relay says the range is no longer stuck.
  const port = up.uplinkAddress.port;
  await up.stop();
  upNow = await startUpstream(`${dir.path}/up`, { uplink: { host: '127.0.0.1', port } });
  await eventually(async () => (await upNow.store.stats()).points === 20, 15_000, '20 points stored');
  await eventually(() => relay.uplink.stuck === undefined, 5_000, 'unstuck');
  t.is(log.lines.filter((l) => l['msg'] === 'uplink batch no longer stuck').length, 1);
  t.regex(await relay.metrics.registry.metrics(), /^owl_relay_uplink_stuck 0$/m);
});
