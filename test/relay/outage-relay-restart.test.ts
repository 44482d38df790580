/**
 * Relay restarts during an outage: with the upstream unreachable and a
 * backlog in the spool, the relay (a child process, RocksDB spool on a temp
 * dir) is stopped gracefully, then SIGKILLed while idle, then SIGKILLed under
 * load, restarting each time on the same state dir; then the upstream comes
 * back. Promise checked: every acknowledged sample arrives, each relay record
 * once, as backlog in spool order (the failure users report of Prometheus'
 * agent and the OTel collector: restarting during an outage loses data).
 */
import test from 'ava';
import { PacketType } from '../../protocol/index.js';
import { eventually, TestAgent } from '../helpers/agent-client.js';
import { Child } from '../helpers/child-process.js';
import { LoadAgent } from '../helpers/load-agent.js';
import { RELAY_ID, RELAY_TOKEN, tempDir } from '../helpers/relay-harness.js';
import type { RelayChildStatus } from '../helpers/relay-main.js';
import { inSpoolOrder, UplinkReceiver } from '../helpers/uplink-receiver.js';
import { batchKey, closedPort, seededRandom, testSeed, UpstreamIndex } from '../helpers/upstream-check.js';

const ZONE_TOKEN = 'zone-token-123';
const SAMPLES_PER_BATCH = 50;
const BATCHES_PER_PHASE = 150;
const V3_PER_PHASE = 300;

test('relay stopped, then SIGKILLed idle, then SIGKILLed under load during an outage: all acknowledged data arrives once the upstream is back', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed} (OWL_TEST_SEED=${seed} replays the kill moment)`);
  const random = seededRandom(seed);
  const upstreamPort = await closedPort();
  const url = `ws://127.0.0.1:${upstreamPort}/owl/v1/uplink`;
  const dir = tempDir('owl-restart-');
  const config = { upstreams: [url], stateDir: dir.path, zoneToken: ZONE_TOKEN };
  const children: Child[] = [];
  const closers: (() => void)[] = [];
  const stops: (() => Promise<void>)[] = [];
  t.teardown(async () => {
    for (const close of closers) close();
    for (const c of children) await c.kill();
    for (const stop of stops) await stop();
    dir.remove();
  });
  const load = (): Promise<Child> => Child.load('relay-main.ts', config, children);

  const agents = [0, 1].map(
    (i) =>
      new LoadAgent({
        uuid: `rs-${i}-${'0'.repeat(27)}`,
        session: `s-${seed}-${i}`,
        samples: SAMPLES_PER_BATCH,
        window: 16,
        token: ZONE_TOKEN,
      }),
  );
  for (const a of agents) closers.push(() => a.close());
  const v3Uuid = 'a'.repeat(32);
  let v3Sent = 0;
  const statuses: RelayChildStatus[] = [];

  /** One relay life: agents (re)connect and resend, send a phase of new data, v3 samples become durable. */
  const phase = async (child: Child): Promise<number> => {
    const port = await child.open();
    await Promise.all(agents.map((a) => a.connect(port)));
    for (const a of agents) a.sendUpTo(a.limit + BATCHES_PER_PHASE);
    await Promise.all(agents.map((a) => a.allAcked(30_000)));
    // v3 has no ACK: durable once the spool counted them (the v4 agents are quiet now).
    const before = (await child.status<RelayChildStatus>()).appendedSamples;
    const v3 = await TestAgent.connect(port);
    closers.push(() => v3.destroy());
    for (let i = 0; i < V3_PER_PHASE; i++) {
      v3.send(PacketType.SERIESDATA, {
        uuid: v3Uuid,
        ip: '127.0.0.1',
        group: '',
        timestamp: 1_700_000_000 + v3Sent,
        service_name: 'cpu',
        metric: 'idle',
        value: v3Sent++,
        flag: 0,
      });
    }
    await eventually(
      async () => (await child.status<RelayChildStatus>()).appendedSamples >= before + V3_PER_PHASE,
      20_000,
      'v3 samples spooled',
    );
    const status = await child.status<RelayChildStatus>();
    statuses.push(status);
    t.not(status.uplink, 'connected', 'the upstream is down');
    return port;
  };

  // 1: graceful stop with a backlog.
  const r1 = await load();
  let spare = load();
  await phase(r1);
  r1.send('stop');
  await r1.waitExit();
  t.is(r1.exitCode, 0, 'graceful stop');

  // 2: SIGKILL while idle.
  const r2 = await spare;
  spare = load();
  await phase(r2);
  await r2.kill();

  // 3: SIGKILL while agents send: kill after a random number of ACKs.
  const r3 = await spare;
  spare = load();
  await phase(r3);
  const atRisk = new Set<string>();
  const target = 1 + Math.floor(random() * BATCHES_PER_PHASE);
  let acks = 0;
  for (const a of agents) {
    a.onAck = () => {
      if (++acks !== target) return;
      for (const b of agents)
        for (const seq of b.unacked()) atRisk.add(batchKey(b.options.uuid, b.options.session, seq));
      r3.proc.kill('SIGKILL');
    };
    a.sendUpTo(a.limit + BATCHES_PER_PHASE);
  }
  await r3.waitExit(30_000);
  t.is(r3.exitSignal, 'SIGKILL');
  for (const b of agents)
    for (const seq of b.unacked()) atRisk.add(batchKey(b.options.uuid, b.options.session, seq));
  for (const a of agents) a.onAck = undefined;

  // 4: a last life: agents resend what was not ACKed, one more phase; then the upstream comes back.
  const r4 = await spare;
  await phase(r4);
  const backlog = statuses.at(-1) as RelayChildStatus;
  const backAt = Date.now();
  const rcv = await UplinkReceiver.start({ port: upstreamPort, relays: { [RELAY_ID]: RELAY_TOKEN } });
  stops.push(() => rcv.close());
  await eventually(
    async () => {
      const s = await r4.status<RelayChildStatus>();
      return s.uplink === 'connected' && s.records === 0 && s.inFlight === 0;
    },
    30_000,
    'backlog drained',
  );
  const drainMs = Date.now() - backAt;

  const index = new UpstreamIndex();
  index.addFrom(rcv.records);
  const acked = index.checkAcked(agents, SAMPLES_PER_BATCH);
  const ackedBatches = acked.acked;
  const missing = acked.missing + acked.altered;
  const dupes = index.batchDuplicates();
  t.log(
    `4 relay lives; backlog at the end ${backlog.records} records (seqs ${backlog.firstSeq}–${backlog.nextSeq - 1}); ` +
      `drained in ${drainMs} ms; ACKed batches ${ackedBatches}, v3 samples ${v3Sent}; kill under load after ${target} ACKs; ` +
      `agent batches stored twice ${dupes.length} (of ${atRisk.size} at risk)`,
  );
  t.is(missing, 0, 'every ACKed batch arrived, as sent');
  t.deepEqual(
    Array.from({ length: v3Sent }, (_, i) => i).filter((v) => index.v3Values.get(v) !== 1),
    [],
    'every v3 sample arrived once',
  );
  t.is(index.relayDuplicates(), 0, 'each relay record stored once');
  t.deepEqual(
    dupes.filter((k) => !atRisk.has(k)),
    [],
    'agent batches duplicated only if un-ACKed at the kill',
  );
  t.is(index.spools.size, 1, 'one spool id across restarts');
  t.deepEqual(
    statuses.map((s) => s.spoolId),
    statuses.map(() => index.spools.values().next().value),
  );
  t.deepEqual(
    statuses.map((s) => s.firstSeq),
    statuses.map(() => 1),
    'nothing released or lost while the upstream was down',
  );
  t.true(
    statuses.every((s, i) => i === 0 || s.nextSeq > (statuses[i - 1] as RelayChildStatus).nextSeq),
    'seqs never reused across restarts',
  );
  t.true(
    rcv.records.every((r) => r.replay),
    'everything was backlog',
  );
  t.true(inSpoolOrder(rcv.records), 'in spool order');
  for (const a of agents)
    t.deepEqual(
      a.errors.filter((c) => c !== 'OWL_ERR_OVERLOADED'),
      [],
      'no ERROR but the one telling of the graceful stop',
    );
});
