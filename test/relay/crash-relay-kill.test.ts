/**
 * kill -9 of the relay under load: a relay child process (RocksDB spool on a
 * temp dir) is SIGKILLed at a random moment while v4 agents send, then
 * restarted on the same state dir, ten times. The agents resend what was not
 * ACKed; a receiving peer speaking the real uplink protocol stores records
 * once per relay seq. Promise checked: every ACKed sample arrives upstream,
 * byte for byte, and no relay record is stored twice.
 */
import test from 'ava';
import { Child } from '../helpers/child-process.js';
import { LoadAgent } from '../helpers/load-agent.js';
import { RELAY_ID, RELAY_TOKEN, tempDir } from '../helpers/relay-harness.js';
import type { RelayChildStatus } from '../helpers/relay-main.js';
import { eventually } from '../helpers/agent-client.js';
import { UplinkReceiver } from '../helpers/uplink-receiver.js';
import { batchKey, seededRandom, testSeed, UpstreamIndex } from '../helpers/upstream-check.js';

const ZONE_TOKEN = 'zone-token-123';
const ROUNDS = 10;
const AGENTS = 4;
const SAMPLES_PER_BATCH = 5;
const WINDOW = 16;
/** New batches each agent may send per round (bounds the load; a round ends at its kill long before). */
const PER_ROUND_LIMIT = 3000;

test('relay SIGKILLed at random moments under load, 10 rounds: every ACKed sample arrives upstream, each relay record stored once', async (t) => {
  const seed = testSeed();
  t.log(`seed ${seed} (OWL_TEST_SEED=${seed} replays the kill moments)`);
  const random = seededRandom(seed);
  const receiver = await UplinkReceiver.start({ relays: { [RELAY_ID]: RELAY_TOKEN } });
  const dir = tempDir('owl-crash-');
  const children: Child[] = [];
  const agents = Array.from(
    { length: AGENTS },
    (_, i) =>
      new LoadAgent({
        uuid: `agent-${i}-${'0'.repeat(24)}`,
        session: `s-${seed}-${i}`,
        samples: SAMPLES_PER_BATCH,
        window: WINDOW,
        token: ZONE_TOKEN,
      }),
  );
  t.teardown(async () => {
    for (const a of agents) a.close();
    for (const c of children) await c.kill();
    await receiver.close();
    dir.remove();
  });

  /** Batches un-ACKed at some kill: the only ones an agent may resend, hence the only possible agent-level duplicates. */
  const atRisk = new Set<string>();
  const startMs: number[] = [];
  const killedAfterAcks: number[] = [];
  const config = { upstreams: [receiver.url], stateDir: dir.path, zoneToken: ZONE_TOKEN };
  // The next relays' processes are started (code loaded, nothing opened) while the current one runs.
  const nextRelay = (): Promise<Child> => Child.load('relay-main.ts', config, children);
  const spares = [nextRelay(), nextRelay()];
  const t0 = Date.now();
  for (let round = 0; round < ROUNDS; round++) {
    const child = await (spares.shift() as Promise<Child>);
    const began = Date.now();
    const port = await child.open();
    startMs.push(Date.now() - began);
    if (round < ROUNDS - 1) spares.push(nextRelay());
    // Kill after a random number of ACKs in this round; 0 kills while the agents are still resending.
    const target = Math.floor(random() * 400);
    let acks = 0;
    let killed = false;
    const kill = (): void => {
      if (killed) return;
      killed = true;
      for (const a of agents)
        for (const seq of a.unacked()) atRisk.add(batchKey(a.options.uuid, a.options.session, seq));
      child.proc.kill('SIGKILL');
    };
    for (const a of agents) {
      a.onAck = () => {
        if (++acks >= target) kill();
      };
    }
    for (const a of agents) a.limit = a.nextSeq - 1 + PER_ROUND_LIMIT;
    await Promise.all(
      agents.map((a) =>
        a.connect(port).catch((err: unknown) => {
          if (!killed) throw err; // refused or cut off by the kill: fine
        }),
      ),
    );
    if (target === 0) kill();
    await child.waitExit(20_000).catch((err: unknown) => {
      throw new Error(`round ${round}: ${acks} of ${target} ACKs before the kill`, { cause: err });
    });
    // Anything un-ACKed at the moment of death counts as at risk, including batches sent after the kill signal.
    for (const a of agents)
      for (const seq of a.unacked()) atRisk.add(batchKey(a.options.uuid, a.options.session, seq));
    t.is(child.exitSignal, 'SIGKILL', `round ${round}: the relay died of the kill`);
    killedAfterAcks.push(acks);
    await eventually(() => agents.every((a) => !a.connected), 10_000, 'agents saw the relay die');
  }
  const loadMs = Date.now() - t0;

  // Recovery: a last relay on the same state dir; agents resend what is still un-ACKed and stop.
  const child = await (spares.shift() as Promise<Child>);
  const port = await child.open();
  for (const a of agents) {
    a.onAck = undefined;
    a.limit = a.nextSeq - 1;
  }
  await Promise.all(agents.map((a) => a.connect(port)));
  await Promise.all(agents.map((a) => a.allAcked(20_000)));
  await eventually(
    async () => {
      const s = await child.status<RelayChildStatus>();
      return s.records === 0 && s.inFlight === 0;
    },
    30_000,
    'spool drained upstream',
  );

  const index = new UpstreamIndex();
  index.addFrom(receiver.records);
  const { acked: ackedBatches, missing, altered: corrupt } = index.checkAcked(agents, SAMPLES_PER_BATCH);
  const dupes = index.batchDuplicates();
  const dupesNotAtRisk = dupes.filter((k) => !atRisk.has(k));
  t.log(
    `${ROUNDS} kills in ${loadMs} ms (relay start ${Math.min(...startMs)}–${Math.max(...startMs)} ms); ` +
      `ACKs before each kill: ${killedAfterAcks.join(' ')}`,
  );
  t.log(
    `ACKed batches ${ackedBatches} (${ackedBatches * SAMPLES_PER_BATCH} samples); records upstream ${index.records}; ` +
      `relay resends dropped by the receiver ${receiver.duplicateRecords}; ` +
      `agent batches stored twice ${dupes.length} (of ${atRisk.size} at risk); agent resends ${agents.reduce((n, a) => n + a.resentTotal, 0)}`,
  );
  t.is(missing, 0, 'every ACKed batch reached the upstream');
  t.is(corrupt, 0, 'byte for byte as the agent sent it');
  t.is(index.relayDuplicates(), 0, 'each relay record stored once');
  t.is(index.spools.size, 1, 'one spool id across all restarts (the spool was never reset)');
  t.deepEqual(dupesNotAtRisk, [], 'an agent batch is duplicated only if it was un-ACKed at a kill');
  t.is(index.otherRecords, 0);
  t.true(
    [...index.batches.keys()].every((k) =>
      agents.some((a) => k.startsWith(`${a.options.uuid}/${a.options.session}/`)),
    ),
    'nothing upstream that no agent sent',
  );
  for (const a of agents) t.deepEqual(a.errors, [], `${a.options.uuid}: no ERROR from the relay`);
});
