/**
 * Credit per relay: the fair share of the in-flight budget (CreditPolicy),
 * the check that a relay kept to the windows it could have seen
 * (CreditLedger, against a simulated relay with CREDIT races), and both at
 * the real upstream with real relays and a scripted relay that ignores its
 * window.
 */
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { BatchAckStatus, PacketType, UplinkCloseCode, UplinkErrorCode } from '../../protocol/index.js';
import type { Relay } from '../../relay/index.js';
import { CreditLedger, CreditPolicy, fairShare, resolveUpstreamConfig } from '../../upstream/index.js';
import { eventually, TestAgent } from '../helpers/agent-client.js';
import { startRelay } from '../helpers/relay-harness.js';
import { v3Sample } from '../helpers/v3-sample.js';
import {
  addRelay,
  captureLog,
  query,
  withUpstream,
  type UpstreamFixture,
} from '../helpers/upstream-fixture.js';
import { range, seqSamples, UplinkTestClient } from '../helpers/upstream-uplink-client.js';

const UUID = '5d41402abc4b2a76b9719d911017c592';
const T0 = 1_718_000_000;

// ---- CreditPolicy -------------------------------------------------------------------------------

test('fair share: max(1, min(relayWindow, floor(budget / relays)))', (t) => {
  const options = { maxInflightBatches: 32, relayWindow: 8 };
  t.deepEqual(
    [1, 2, 3, 4, 5, 6, 8, 10, 16, 32, 33, 1000].map((n) => fairShare(options, n)),
    [8, 8, 8, 8, 6, 5, 4, 3, 2, 1, 1, 1],
  );
  t.is(fairShare(options, 0), 8);
  t.is(fairShare({ maxInflightBatches: 12, relayWindow: 8 }, 2), 6);
  t.is(fairShare({ maxInflightBatches: 4, relayWindow: 8 }, 1), 4, 'the budget caps a lone relay too');
  t.throws(() => new CreditPolicy({ maxInflightBatches: 0, relayWindow: 8 }), { instanceOf: RangeError });
  t.throws(() => new CreditPolicy({ maxInflightBatches: 8, relayWindow: 1.5 }), { instanceOf: RangeError });
  t.is(resolveUpstreamConfig({}).maxInflightBatches, 32);
  for (const bad of [{ maxInflightBatches: 0 }, { relayWindow: 70_000 }]) {
    const err = t.throws(() => resolveUpstreamConfig(bad));
    t.is((err as Error & { code?: string }).code, 'OWL_ERR_CONFIG_INVALID');
  }
});

test('joins and leaves report exactly the windows that changed', (t) => {
  const p = new CreditPolicy<string>({ maxInflightBatches: 12, relayWindow: 8 });
  t.deepEqual(p.join('a'), new Map([['a', 8]]));
  t.deepEqual(
    p.join('b'),
    new Map([
      ['a', 6],
      ['b', 6],
    ]),
  );
  t.deepEqual(p.join('b'), new Map(), 'joining twice changes nothing');
  t.deepEqual(
    p.join('c'),
    new Map([
      ['a', 4],
      ['b', 4],
      ['c', 4],
    ]),
  );
  t.is(p.window('c'), 4);
  t.is(p.size, 3);
  t.deepEqual(
    p.leave('a'),
    new Map([
      ['b', 6],
      ['c', 6],
    ]),
  );
  t.deepEqual(p.leave('a'), new Map(), 'leaving twice changes nothing');
  t.is(p.window('a'), undefined);

  const q = new CreditPolicy<string>({ maxInflightBatches: 32, relayWindow: 8 });
  for (const k of ['a', 'b', 'c', 'd']) t.deepEqual(q.join(k), new Map([[k, 8]]), 'under budget: no CREDIT');
  t.is(q.join('e').size, 5, 'the fifth relay shrinks everyone to 6');
  t.is(q.window('a'), 6);
  t.deepEqual(q.leave('x'), new Map());
});

test('property: after any joins and leaves, the CREDITs sent leave every relay at the fair share, within budget', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 64 }),
      fc.integer({ min: 1, max: 16 }),
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 20 })), { maxLength: 200, size: 'max' }),
      (budget, relayWindow, steps) => {
        const options = { maxInflightBatches: budget, relayWindow };
        const p = new CreditPolicy<number>(options);
        const seen = new Map<number, number>(); // what each relay was told (WELCOME, then CREDITs)
        for (const [joins, key] of steps) {
          const changed = joins ? p.join(key) : p.leave(key);
          if (!joins) seen.delete(key);
          for (const [k, w] of changed) seen.set(k, w);
          const share = fairShare(options, seen.size);
          if (p.size !== seen.size) return false;
          for (const w of seen.values()) if (w !== share) return false;
          let total = 0;
          for (const w of seen.values()) total += w;
          if (total > Math.max(budget, seen.size)) return false;
        }
        return true;
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});

// ---- CreditLedger -------------------------------------------------------------------------------

test('ledger: one batch beyond the window is caught; acks make room; a raise counts at once', (t) => {
  const l = new CreditLedger(4);
  for (let i = 0; i < 4; i++) t.true(l.onBatch());
  t.false(l.onBatch(), 'the fifth unacknowledged batch');
  const m = new CreditLedger(2);
  t.true(m.onBatch());
  t.true(m.onBatch());
  m.onAck();
  t.true(m.onBatch(), 'an ack frees one');
  m.grant(5);
  t.is(m.limit, 5);
  for (let i = 0; i < 3; i++) t.true(m.onBatch());
  t.false(m.onBatch());
  t.is(m.inFlight, 6);
  t.throws(() => m.grant(-1), { instanceOf: RangeError });
  t.throws(() => new CreditLedger(65_536), { instanceOf: RangeError });
});

test('ledger: after a lowering CREDIT, the old window holds for at most (old window − unacknowledged) arrivals', (t) => {
  // 6 of 8 in flight when the window drops to 2: up to 2 more may have been sent under 8.
  const l = new CreditLedger(8);
  for (let i = 0; i < 6; i++) t.true(l.onBatch());
  l.grant(2);
  t.is(l.limit, 8);
  t.true(l.onBatch());
  t.true(l.onBatch());
  t.is(l.limit, 2, 'the relay had read the CREDIT before sending anything later');
  for (let i = 0; i < 8; i++) l.onAck();
  t.true(l.onBatch());
  t.true(l.onBatch());
  t.false(l.onBatch(), 'three in flight against a window of 2');

  // Nothing in flight when it drops: the relay may still fill the whole old window once.
  const m = new CreditLedger(4);
  m.grant(1);
  for (let i = 0; i < 4; i++) t.true(m.onBatch());
  t.false(m.onBatch());

  // Drops in a row keep each older window only as long as it can still be in use.
  const n = new CreditLedger(8);
  t.true(n.onBatch());
  n.grant(6); // 7 more may be under 8
  n.grant(2); // 6 - 1 = 5 more may be under 6
  t.is(n.limit, 8);
  for (let i = 0; i < 7; i++) t.true(n.onBatch());
  t.is(n.limit, 2);
  t.is(n.inFlight, 8);
  t.false(n.onBatch());

  // Window 0 pauses: once the old window is spent, any batch is too many.
  const z = new CreditLedger(1);
  t.true(z.onBatch());
  z.grant(0);
  z.onAck();
  t.false(z.onBatch());
});

type Down = { ack: number } | { credit: number };

/**
 * A relay that keeps to its window as the real one does (credit taken when a batch is built, sent
 * later in that order) and an upstream that acks in any order and changes the window at random,
 * over two FIFO links with arbitrary delays. `greedy` makes the relay keep using the largest window
 * it was ever given: the ledger must catch it whenever that exceeds what it could have seen.
 */
function simulate(steps: readonly (readonly [number, number])[], greedy: boolean): 'ok' | 'flagged' {
  const first = 1 + ((steps[0]?.[1] ?? 4) % 8);
  const ledger = new CreditLedger(first);
  let relayWindow = first;
  let largest = first;
  const pending = new Set<number>();
  const built: number[] = [];
  const up: number[] = [];
  const down: Down[] = [];
  const unacked: number[] = [];
  let next = 0;
  for (const [action, arg] of steps) {
    switch (action) {
      case 0:
        if (pending.size < (greedy ? largest : relayWindow)) {
          pending.add(next);
          built.push(next++);
        }
        break;
      case 1:
        if (built.length > 0) up.push(built.shift() as number);
        break;
      case 2: {
        const b = up.shift();
        if (b === undefined) break;
        if (!ledger.onBatch()) return 'flagged';
        unacked.push(b);
        break;
      }
      case 3: {
        if (unacked.length === 0) break;
        const [b] = unacked.splice(arg % unacked.length, 1);
        ledger.onAck();
        down.push({ ack: b as number });
        break;
      }
      case 4: {
        const w = arg % 10;
        ledger.grant(w);
        largest = Math.max(largest, w);
        down.push({ credit: w });
        break;
      }
      default: {
        const m = down.shift();
        if (m === undefined) break;
        if ('ack' in m) pending.delete(m.ack);
        else relayWindow = m.credit;
      }
    }
  }
  return 'ok';
}

/** Steps: 0 build, 1 put on the wire, 2 arrive upstream, 3 ack, 4 CREDIT, 5 reach the relay; acks rarer, so windows fill. */
const raceSteps = fc.array(
  fc.tuple(
    fc.oneof(
      { arbitrary: fc.constantFrom(0, 1, 2), weight: 12 },
      { arbitrary: fc.constant(3), weight: 2 },
      { arbitrary: fc.constant(4), weight: 1 },
      { arbitrary: fc.constant(5), weight: 3 },
    ),
    fc.nat(1000),
  ),
  // Long runs: the window has to fill up for the races to happen.
  { maxLength: 400, size: 'max' },
);

test('property: a relay keeping to its window is never flagged, whatever CREDIT races with its batches', (t) => {
  fc.assert(
    fc.property(raceSteps, (steps) => simulate(steps, false) === 'ok'),
    { numRuns: 2000 },
  );
  t.pass();
});

test('property: a relay that keeps sending under a window it was told to leave is caught', (t) => {
  // The check has teeth: some runs of the greedy relay are flagged (fast-check finds one).
  const found = fc.check(
    fc.property(raceSteps, (steps) => simulate(steps, true) === 'ok'),
    { numRuns: 2000 },
  );
  t.true(found.failed, 'a greedy relay was flagged in some run');
});

// ---- at the upstream -----------------------------------------------------------------------------

/** A scripted relay's BATCH of the one record with seq `seq`, sent without waiting for its ack. */
function sendOne(client: UplinkTestClient, seq: number): void {
  client.send({ type: 'BATCH', body: UplinkTestClient.batch(seqSamples([seq], { uuid: UUID, t0: T0 })) });
}

async function realRelay(
  t: ExecutionContext,
  fx: UpstreamFixture,
  id: string,
): Promise<{ relay: Relay; agent: TestAgent }> {
  const token = await addRelay(fx.up, id);
  const { relay, port } = await startRelay(fx.up.uplinkUrl, `${fx.dir}/${id}`, {
    relayId: id,
    token,
    // Small batches, so a few hundred samples keep the window full while it changes.
    batch: { maxRecords: 5, compress: false },
  });
  t.teardown(() => relay.stop());
  const agent = await TestAgent.connect(port);
  t.teardown(() => agent.destroy());
  return { relay, agent };
}

function burst(agent: TestAgent, from: number, count: number, metric: string): void {
  for (let i = from; i < from + count; i++) {
    agent.send(
      PacketType.SERIESDATA,
      v3Sample({ uuid: UUID, ip: '10.1.0.5', timestamp: T0 + i, metric, value: i }),
    );
  }
}

test('two real relays see their window shrink when another joins and grow when it leaves; a relay ignoring its window is closed with OWL_ERR_UPLINK_NO_CREDIT while they keep delivering', async (t) => {
  const log = captureLog();
  const fx = await withUpstream(t, { relayWindow: 8, maxInflightBatches: 12 }, { logger: log.logger });
  const windowOf = (id: string): number | undefined =>
    fx.up.endpoint.connected().find((r) => r.id === id)?.window;

  const a = await realRelay(t, fx, 'zone-a');
  await eventually(() => a.relay.uplink.state === 'connected', 10_000, 'zone-a connected');
  t.is(a.relay.uplink.window, 8, 'alone: the whole relayWindow');
  burst(a.agent, 0, 300, 'a');

  const b = await realRelay(t, fx, 'zone-b');
  await eventually(() => b.relay.uplink.state === 'connected', 10_000, 'zone-b connected');
  t.is(b.relay.uplink.window, 6, 'WELCOME: 12 / 2');
  await eventually(() => a.relay.uplink.window === 6, 10_000, 'CREDIT 6 reached zone-a');
  burst(a.agent, 300, 300, 'a');
  burst(b.agent, 0, 300, 'b');

  // A third relay that ignores its window of 4.
  const token = await addRelay(fx.up, 'zone-c');
  const c = await UplinkTestClient.open(fx.base, 'zone-c', token, 'sc');
  t.is(c.welcome.window, 4);
  await eventually(
    () => a.relay.uplink.window === 4 && b.relay.uplink.window === 4,
    10_000,
    'CREDIT 4 reached zone-a and zone-b',
  );
  t.is(windowOf('zone-a'), 4);
  burst(a.agent, 600, 300, 'a');
  burst(b.agent, 300, 300, 'b');
  for (const seq of range(0, 11)) sendOne(c.client, seq);
  t.is(await c.client.waitClosed(), UplinkCloseCode.PROTOCOL_ERROR);
  t.is(c.client.closeReason, UplinkErrorCode.NO_CREDIT);
  const error = c.client.received.find((m) => m.type === 'ERROR');
  t.is(error?.type === 'ERROR' ? error.body.code : undefined, UplinkErrorCode.NO_CREDIT);
  const complaint = log.lines.find((l) => l['msg'] === 'uplink protocol error');
  t.is(complaint?.['relay'], 'zone-c');
  t.regex(String(complaint?.['message']), /beyond the window: 5 unacknowledged, window 4/);

  // zone-c gone: the others get their share back.
  await eventually(
    () => a.relay.uplink.window === 6 && b.relay.uplink.window === 6,
    10_000,
    'CREDIT 6 after zone-c left',
  );
  burst(a.agent, 900, 100, 'a');
  const stored = async (metric: string): Promise<number> =>
    (await query(fx.up, metric))[0]?.values.length ?? 0;
  await eventually(async () => (await stored('cpu.a')) >= 1000, 20_000, 'zone-a’s samples stored');
  await eventually(async () => (await stored('cpu.b')) >= 600, 20_000, 'zone-b’s samples stored');
  t.deepEqual((await query(fx.up, 'cpu.a'))[0]?.values, range(0, 999), 'each of zone-a’s samples once');
  t.deepEqual((await query(fx.up, 'cpu.b'))[0]?.values, range(0, 599), 'each of zone-b’s samples once');
  t.is(a.relay.uplink.failedAttempts, 0);
  const trouble = log.lines.filter(
    (l) =>
      (l['relay'] === 'zone-a' || l['relay'] === 'zone-b') &&
      (l['msg'] === 'uplink protocol error' || l['msg'] === 'relay disconnected'),
  );
  t.deepEqual(trouble, [], 'the well-behaved relays were never closed');
  t.false(
    c.client.received.some((m) => m.type === 'BATCH_ACK'),
    'zone-c got no ack after its violation',
  );
});

test('a relay that has not read a lowering CREDIT yet may still fill its old window once; then the new one holds', async (t) => {
  const fx = await withUpstream(t, { relayWindow: 8, maxInflightBatches: 12 });
  const one = await UplinkTestClient.open(fx.base, 'zone-a', await addRelay(fx.up, 'zone-a'), 'sa');
  t.is(one.welcome.window, 8);
  const two = await UplinkTestClient.open(fx.base, 'zone-b', await addRelay(fx.up, 'zone-b'), 'sb');
  t.is(two.welcome.window, 6);
  // The CREDIT to zone-a is on its way; zone-a sends 8 as if it had not read it: legitimate.
  for (const seq of range(0, 7)) sendOne(one.client, seq);
  for (const seq of range(0, 7)) {
    await one.client.next('BATCH_ACK', (m) => m.body.firstSeq === seq);
  }
  t.deepEqual((await one.client.next('CREDIT')).body, { window: 6 });
  // Now 7 at once against a window of 6.
  for (const seq of range(8, 14)) sendOne(one.client, seq);
  t.is(await one.client.waitClosed(), UplinkCloseCode.PROTOCOL_ERROR);
  t.is(one.client.closeReason, UplinkErrorCode.NO_CREDIT);
  t.deepEqual((await two.client.next('CREDIT')).body, { window: 8 }, 'alone again: 8');
  t.is(await two.client.sendBatch(seqSamples([0], { uuid: UUID, t0: T0 })), BatchAckStatus.STORED);
  await two.client.close();
});
