/**
 * The upstream side killed mid-stream: a receiving peer in a child process
 * (it fsyncs what it stored before acknowledging) is SIGKILLed while agents
 * send through the relay, and restarted on the same port with what it had
 * stored. Promises checked: nothing lost, nothing stored twice (per relay seq
 * and per agent batch), and never more than one uplink connection at a time.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { PacketType } from '../../protocol/index.js';
import { eventually, TestAgent } from '../helpers/agent-client.js';
import { Child } from '../helpers/child-process.js';
import { LoadAgent } from '../helpers/load-agent.js';
import { startRelay, tempDir } from '../helpers/relay-harness.js';
import type { StoredRecord } from '../helpers/uplink-receiver.js';
import type { ReceiverChildStatus } from '../helpers/uplink-receiver-main.js';
import { seededRandom, testSeed, UpstreamIndex } from '../helpers/upstream-check.js';

const ZONE_TOKEN = 'zone-token-123';
const KILLS = 4;
const AGENTS = 3;
const SAMPLES_PER_BATCH = 20;
const V3_PER_ROUND = 200;
/** New batches per agent per round: bounded, so the load leaves CPU for the next receiver process to load. */
const BATCHES_PER_ROUND = 300;

test('receiver SIGKILLed mid-stream and restarted on the same port, 4 times: nothing lost, nothing duplicated, one uplink at a time', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed} (OWL_TEST_SEED=${seed} replays the kill moments)`);
  const random = seededRandom(seed);
  const dir = tempDir('owl-upkill-');
  const persistFile = join(dir.path, 'upstream.jsonl');
  const children: Child[] = [];
  const closers: (() => void)[] = [];
  const stops: (() => Promise<void>)[] = [];
  t.teardown(async () => {
    for (const close of closers) close();
    for (const stop of stops) await stop();
    for (const c of children) await c.kill();
    dir.remove();
  });

  const first = await Child.run('uplink-receiver-main.ts', { persistFile }, children);
  const upstreamPort = first.port;
  const options = { port: upstreamPort, persistFile };
  const { relay, port } = await startRelay(
    `ws://127.0.0.1:${upstreamPort}/owl/v1/uplink`,
    join(dir.path, 'relay'),
    {
      zoneToken: ZONE_TOKEN,
    },
  );
  stops.push(() => relay.stop());
  const relayConnects = async () => (await relay.metrics.uplinkConnects.get()).values[0]?.value ?? 0;

  const agents = Array.from(
    { length: AGENTS },
    (_, i) =>
      new LoadAgent({
        uuid: `up-${i}-${'0'.repeat(27)}`,
        session: `s-${seed}-${i}`,
        samples: SAMPLES_PER_BATCH,
        window: 8,
        token: ZONE_TOKEN,
      }),
  );
  for (const a of agents) {
    closers.push(() => a.close());
    await a.connect(port);
  }
  const v3 = await TestAgent.connect(port);
  closers.push(() => v3.destroy());
  let v3Sent = 0;
  const sendV3 = (): void => {
    for (let i = 0; i < V3_PER_ROUND; i++) {
      v3.send(PacketType.SERIESDATA, {
        uuid: 'f'.repeat(32),
        ip: '127.0.0.1',
        group: '',
        timestamp: 1_700_000_000 + v3Sent,
        service_name: 'tcp',
        metric: 'TCP_LISTEN',
        value: v3Sent++,
        flag: 0,
      });
    }
  };

  const statuses: ReceiverChildStatus[] = [];
  const downMs: number[] = [];
  let current = first.child;
  // The next receivers' processes load (bind nothing) while the current one runs.
  const spares = [
    Child.load('uplink-receiver-main.ts', options, children),
    Child.load('uplink-receiver-main.ts', options, children),
  ];
  for (let kill = 0; kill < KILLS; kill++) {
    // Kill once this instance stored a random number of this round's records. The base is
    // read before the round is sent: read after, part of the round may already be counted
    // in it, and a target near the top would never be reached.
    const base = (await current.status<ReceiverChildStatus>()).records;
    for (const a of agents) a.sendUpTo(a.limit + BATCHES_PER_ROUND);
    sendV3();
    const target = base + 20 + Math.floor(random() * (AGENTS * BATCHES_PER_ROUND - 100));
    let last: ReceiverChildStatus | undefined;
    try {
      await eventually(
        async () => {
          last = await current.status<ReceiverChildStatus>();
          return last.records >= target;
        },
        20_000,
        `receiver ${kill} stored ${target} records`,
      );
    } catch (err) {
      // What the relay and agents were doing: a stall shows which side holds the data.
      t.log(
        `base ${base}; receiver ${JSON.stringify(last)}; uplink ${relay.uplink.state}, ` +
          `${relay.uplink.inFlightBatches} batches in flight; spool ${JSON.stringify(relay.spool.stats())}; ` +
          `agents ${agents.map((a) => `${a.acked.size}/${a.nextSeq - 1}/${a.limit}`).join(' ')}; v3 sent ${v3Sent}`,
      );
      throw err;
    }
    await current.kill();
    const killedAt = Date.now();
    statuses.push(last as ReceiverChildStatus);
    t.is(current.exitSignal, 'SIGKILL');
    const next = await (spares.shift() as Promise<Child>);
    t.is(await next.open(), upstreamPort, 'restarted on the same port');
    await eventually(() => relay.uplink.state === 'connected', 10_000, 'relay reconnected');
    downMs.push(Date.now() - killedAt);
    current = next;
    if (kill < KILLS - 2) spares.push(Child.load('uplink-receiver-main.ts', options, children));
  }

  // Stop sending; everything ACKed must drain through the last receiver.
  for (const a of agents) a.limit = a.nextSeq - 1;
  await Promise.all(agents.map((a) => a.allAcked(20_000)));
  await eventually(
    () => relay.spool.stats().records === 0 && relay.uplink.inFlightBatches === 0,
    30_000,
    'spool drained',
  );
  const final = await current.status<ReceiverChildStatus>();
  statuses.push(final);
  current.send('stop');
  await current.waitExit();

  // What the receivers persisted, read raw: a record written twice would show here.
  const lines = readFileSync(persistFile, 'utf8').split('\n');
  const index = new UpstreamIndex();
  let torn = 0;
  for (const line of lines) {
    if (line === '') continue;
    try {
      index.add(JSON.parse(line) as StoredRecord);
    } catch {
      torn++;
    }
  }
  const acked = index.checkAcked(agents, SAMPLES_PER_BATCH);
  const ackedBatches = acked.acked;
  const missing = acked.missing + acked.altered;
  const v3Missing = Array.from({ length: v3Sent }, (_, i) => i).filter((v) => index.v3Values.get(v) !== 1);
  const receiverConnects = statuses.reduce((n, s) => n + s.connectsTotal, 0);
  t.log(
    `${KILLS} kills; upstream down→relay reconnected ${downMs.join(' ')} ms; records ${index.records} ` +
      `(${ackedBatches} agent batches, ${v3Sent} v3 samples); relay resends the receivers already had: ` +
      `${statuses.map((s) => s.duplicateRecords).join(' ')}; uplink connects ${await relayConnects()}`,
  );
  t.is(torn, 0, 'no torn line in the receivers file');
  t.is(missing, 0, 'every ACKed batch stored, as sent');
  t.deepEqual(v3Missing, [], 'every v3 sample stored once');
  t.is(index.relayDuplicates(), 0, 'each relay record stored once');
  t.deepEqual(index.batchDuplicates(), [], 'each agent batch stored once');
  t.is(index.records, ackedBatches + v3Sent, 'nothing else');
  t.is(index.spools.size, 1);
  t.deepEqual(
    statuses.map((s) => s.maxConcurrent),
    statuses.map(() => 1),
    'each receiver saw exactly one uplink connection at a time',
  );
  t.is(
    await relayConnects(),
    receiverConnects,
    'every connection the relay made was one a receiver accepted',
  );
  t.is(receiverConnects, KILLS + 1, 'one connection per receiver life');
  for (const a of agents) t.deepEqual(a.errors, []);
});
