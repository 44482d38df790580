/**
 * A flapping uplink: the upstream cuts the relay's connection again and again
 * mid-stream (the receiving peer terminates it), under agent load, with small
 * uplink batches so a cut often lands while the relay is reading its spool.
 * Promises checked: the relay never closes a connection on its own, never
 * holds two, and once the link holds, everything drains exactly once.
 */
import { Writable } from 'node:stream';
import test from 'ava';
import { pino } from 'pino';
import { Relay, resolveRelayConfig, TEST_BACKOFF } from '../../relay/index.js';
import { eventually } from '../helpers/agent-client.js';
import { LoadAgent } from '../helpers/load-agent.js';
import { RELAY_ID, RELAY_TOKEN, tempDir } from '../helpers/relay-harness.js';
import { UplinkReceiver } from '../helpers/uplink-receiver.js';
import { seededRandom, testSeed, UpstreamIndex } from '../helpers/upstream-check.js';

const CUTS = 40;
const AGENTS = 3;
const SAMPLES_PER_BATCH = 100;
/**
 * A cap, not the load: agents keep sending while the cuts go on (each cut waits for more records
 * to flow), then stop where they are. 1,500 each ran out before the 40th cut once the relay got
 * faster (4,345 of 4,500 batches had gone in one CI run).
 */
const BATCHES_PER_AGENT = 30_000;

test('uplink cut 40 times mid-stream by the upstream: the relay closes nothing itself, holds one connection, loses and duplicates nothing', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed}`);
  const random = seededRandom(seed);
  const receiver = await UplinkReceiver.start({ relays: { [RELAY_ID]: RELAY_TOKEN } });
  const dir = tempDir('owl-flap-');
  // The relay's own log, kept: an uplink error it logs is a failure here.
  const logged: { level: number; msg: string; err?: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n'))
        if (line !== '') logged.push(JSON.parse(line) as { level: number; msg: string; err?: string });
      done();
    },
  });
  const relay = await Relay.start(
    resolveRelayConfig({
      metrics: { port: 0 },
      relayId: RELAY_ID,
      token: RELAY_TOKEN,
      upstreams: [receiver.url],
      stateDir: dir.path,
      listen: [{ host: '127.0.0.1', port: 0 }],
      batch: { lingerMs: 2, maxRecords: 20 },
    }),
    { logger: pino({ level: 'warn' }, sink), backoff: TEST_BACKOFF, slowRetryMs: 200 },
  );
  const agents = Array.from(
    { length: AGENTS },
    (_, i) =>
      new LoadAgent({
        uuid: `flap-${i}`.padEnd(32, '0'),
        session: `s-${seed}`,
        samples: SAMPLES_PER_BATCH,
        window: 16,
      }),
  );
  t.teardown(async () => {
    for (const a of agents) a.close();
    await relay.stop();
    await receiver.close();
    dir.remove();
  });
  const port = relay.addresses[0]?.port ?? 0;
  for (const a of agents) {
    await a.connect(port);
    a.sendUpTo(BATCHES_PER_AGENT);
  }

  let cuts = 0;
  const began = Date.now();
  for (; cuts < CUTS; cuts++) {
    // Cut once the relay is connected again and the link carried a random number of records more.
    const want = receiver.records.length + 1 + Math.floor(random() * 60);
    await eventually(
      () => relay.uplink.state === 'connected' && receiver.records.length >= want,
      20_000,
      `reconnected and moving after cut ${cuts}`,
    );
    for (const set of receiver.open.values()) for (const ws of set) ws.terminate();
  }
  const flapMs = Date.now() - began;
  for (const a of agents) a.limit = a.nextSeq - 1;
  await Promise.all(agents.map((a) => a.allAcked(30_000)));
  await eventually(
    () => relay.spool.stats().records === 0 && relay.uplink.inFlightBatches === 0,
    30_000,
    'drained after the link held',
  );

  const index = new UpstreamIndex();
  index.addFrom(receiver.records);
  const check = index.checkAcked(agents, SAMPLES_PER_BATCH);
  const acked = check.acked;
  const missing = check.missing + check.altered;
  const errors = logged.filter((l) => l.level >= 50);
  t.log(
    `${cuts} cuts in ${flapMs} ms; ${acked} batches; receiver dropped ${receiver.duplicateRecords} resent records; ` +
      `connections ${receiver.connectsTotal}; relay errors logged ${errors.length}`,
  );
  t.deepEqual(
    errors.map((l) => `${l.msg}: ${l.err ?? ''}`),
    [],
    'no uplink error: a stale send never kills the next connection',
  );
  t.is(receiver.connectsTotal, cuts + 1, 'every connection but the last ended by a cut, none by the relay');
  t.is(receiver.maxConcurrent, 1, 'never two connections at once');
  t.is(missing, 0, 'every ACKed batch arrived, as sent');
  t.is(index.relayDuplicates(), 0);
  t.deepEqual(index.batchDuplicates(), []);
  t.is(index.records, acked);
});
