/**
 * Upstream unreachable for the whole load, then back: the relay (in process,
 * RocksDB spool on a temp dir) points at a closed port while v3 and v4 agents
 * send a known set of samples; then a receiving peer starts on that port.
 * Promises checked: everything arrives exactly once; the backlog arrives in
 * spool order, flagged replay; fresh samples sent while the backlog drains
 * are not queued behind it.
 */
import test from 'ava';
import { PacketType } from '../../protocol/index.js';
import { eventually, TestAgent } from '../helpers/agent-client.js';
import { LoadAgent, loadBatch } from '../helpers/load-agent.js';
import { RELAY_ID, RELAY_TOKEN, startRelay, tempDir } from '../helpers/relay-harness.js';
import { inSpoolOrder, UplinkReceiver, type StoredRecord } from '../helpers/uplink-receiver.js';
import { batchKey, closedPort, UpstreamIndex } from '../helpers/upstream-check.js';

const ZONE_TOKEN = 'zone-token-123';
const BACKLOG_BATCHES = 200;
const SAMPLES_PER_BATCH = 1000;
const V3_BACKLOG = 2000;
const V3_LIVE = 20;
const LIVE_BATCHES = 5;
/**
 * A slow upstream, so draining takes long enough to overlap with live data: one batch in flight,
 * of at most two relay records, each acknowledged 20 ms after it arrived.
 */
const RECEIVER_WINDOW = 1;
const RECORDS_PER_BATCH = 2;
const ACK_DELAY_MS = 20;

function v3Sample(uuid: string, value: number) {
  return {
    uuid,
    ip: '127.0.0.1',
    group: '',
    timestamp: 1_700_000_000 + (value % 100_000),
    service_name: 'tcp',
    metric: 'TCP_ESTABLISHED',
    value,
    flag: 0,
  };
}

test('upstream down for the whole load, then back: all arrives once, backlog in spool order, live data not held behind it', async (t) => {
  const port = await closedPort();
  const url = `ws://127.0.0.1:${port}/owl/v1/uplink`;
  const dir = tempDir('owl-outage-');
  const { relay, port: agentPort } = await startRelay(url, dir.path, {
    zoneToken: ZONE_TOKEN,
    batch: { maxRecords: RECORDS_PER_BATCH },
  });
  const stops: (() => Promise<void>)[] = [];
  const closers: (() => void)[] = [];
  t.teardown(async () => {
    for (const close of closers) close();
    await relay.stop();
    for (const stop of stops) await stop();
    dir.remove();
  });

  // The backlog: 200 v4 batches of 1,000 samples and 2,000 v3 samples, spooled while upstream is unreachable.
  const v4 = new LoadAgent({
    uuid: 'b'.repeat(32),
    session: 'backlog',
    samples: SAMPLES_PER_BATCH,
    window: 16,
    token: ZONE_TOKEN,
  });
  closers.push(() => v4.close());
  await v4.connect(agentPort);
  const v3 = await TestAgent.connect(agentPort);
  closers.push(() => v3.destroy());
  const v3Uuid = 'c'.repeat(32);
  for (let i = 0; i < V3_BACKLOG / 2; i++) v3.send(PacketType.SERIESDATA, v3Sample(v3Uuid, i));
  v4.sendUpTo(BACKLOG_BATCHES);
  await v4.allAcked(30_000);
  for (let i = V3_BACKLOG / 2; i < V3_BACKLOG; i++) v3.send(PacketType.SERIESDATA, v3Sample(v3Uuid, i));
  const backlogRecords = BACKLOG_BATCHES + V3_BACKLOG;
  const backlogSamples = BACKLOG_BATCHES * SAMPLES_PER_BATCH + V3_BACKLOG;
  await eventually(() => relay.spool.stats().samples === backlogSamples, 20_000, 'backlog spooled');
  t.not(relay.uplink.state, 'connected');
  const backlogLast = relay.spool.nextSeq() - 1;

  // Upstream back.
  const backAt = Date.now();
  const r = await UplinkReceiver.start({
    port,
    relays: { [RELAY_ID]: RELAY_TOKEN },
    window: RECEIVER_WINDOW,
    ackDelayMs: ACK_DELAY_MS,
  });
  stops.push(() => r.close());
  // Live data starts as soon as the uplink is up: everything spooled from now on is live.
  await eventually(() => relay.uplink.state === 'connected', 10_000, 'uplink back');
  const connectedAt = Date.now();

  // Fresh samples while the backlog drains: a v4 batch every so often and v3 samples.
  const live = new LoadAgent({
    uuid: 'd'.repeat(32),
    session: 'live',
    samples: 10,
    window: 1,
    token: ZONE_TOKEN,
  });
  closers.push(() => live.close());
  await live.connect(agentPort);
  const sentAt = new Map<string, number>();
  const liveV3Uuid = 'e'.repeat(32);
  for (let seq = 1; seq <= LIVE_BATCHES; seq++) {
    sentAt.set(batchKey(live.options.uuid, 'live', seq), Date.now());
    live.sendUpTo(seq);
    for (let i = 0; i < V3_LIVE / LIVE_BATCHES; i++) {
      const value = 1_000_000 + (seq - 1) * (V3_LIVE / LIVE_BATCHES) + i;
      sentAt.set(`v3/${value}`, Date.now());
      v3.send(PacketType.SERIESDATA, v3Sample(liveV3Uuid, value));
    }
    await live.allAcked(10_000);
  }
  const liveTotal = LIVE_BATCHES + V3_LIVE;
  await eventually(() => r.records.length === backlogRecords + liveTotal, 60_000, 'everything upstream');
  await eventually(() => relay.spool.stats().records === 0, 10_000, 'spool released');
  const drainedAt = Date.now();

  const index = new UpstreamIndex();
  index.addFrom(r.records);
  t.is(index.relayDuplicates(), 0, 'each relay record stored once');
  t.deepEqual(index.batchDuplicates(), [], 'each agent batch stored once');
  t.is(index.records, backlogRecords + liveTotal, 'exactly the records sent');
  for (let seq = 1; seq <= BACKLOG_BATCHES; seq++) {
    const key = batchKey(v4.options.uuid, 'backlog', seq);
    if (
      index.bodies.get(key) !== JSON.stringify(loadBatch(v4.options.uuid, 'backlog', seq, SAMPLES_PER_BATCH))
    )
      t.fail(`batch ${key} missing or altered`);
  }
  for (let i = 0; i < V3_BACKLOG; i++)
    if (index.v3Values.get(i) !== 1) t.fail(`v3 sample ${i} not stored once`);

  const replay = r.records.filter((x) => x.replay);
  const liveRecords = r.records.filter((x) => !x.replay);
  t.is(replay.length, backlogRecords, 'the whole backlog, and only it, is flagged replay');
  t.true(
    replay.every((x) => x.seq <= backlogLast),
    'replay records are the backlog',
  );
  t.true(inSpoolOrder(replay), 'backlog arrives in spool order');
  t.is(liveRecords.length, liveTotal);

  // Live data is not held behind the backlog: it arrives while replay records are still coming, and fast.
  const lastReplayAt = Math.max(...replay.map((x) => x.storedAt));
  const delays: number[] = [];
  for (const x of liveRecords) {
    const key =
      x.type === PacketType.SERIESBATCH
        ? batchKey(x.uuid, 'live', (JSON.parse(x.body) as { seq: number }).seq)
        : `v3/${(JSON.parse(x.body) as { value: number }).value}`;
    const sent = sentAt.get(key);
    if (sent === undefined) {
      t.fail(`unexpected live record ${key}`);
      continue;
    }
    delays.push(x.storedAt - sent);
  }
  const lastLiveAt = Math.max(...liveRecords.map((x) => x.storedAt));
  const drainMs = lastReplayAt - (replay[0] as StoredRecord).storedAt;
  t.log(
    `backlog ${backlogRecords} records / ${backlogSamples} samples drained in ${drainMs} ms ` +
      `(${Math.round(backlogSamples / (drainMs / 1000))} samples/s, window ${RECEIVER_WINDOW}); ` +
      `reconnected ${connectedAt - backAt} ms after the upstream came back; all done ${drainedAt - backAt} ms`,
  );
  t.log(
    `live delay max ${Math.max(...delays)} ms, median ${delays.sort((a, b) => a - b)[delays.length >> 1]} ms; ` +
      `last live record ${lastReplayAt - lastLiveAt} ms before the last replay record`,
  );
  t.true(lastLiveAt < lastReplayAt, 'all live samples arrived before the backlog finished draining');
  t.true(Math.max(...delays) < 2000, 'live delay bounded');
  t.deepEqual(v4.errors, []);
  t.deepEqual(live.errors, []);
});
