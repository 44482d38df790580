/**
 * The relay's memory of acknowledged batches (relay/dedupe.ts). An agent that
 * resends batches the relay already ACKed, however many and in whatever
 * order, gets `duplicate: true` for each and nothing is spooled again
 * (docs/protocol.md 7.3); a batch still being spooled is a duplicate too,
 * answered once the first copy is durable; one whose spooling failed is taken
 * again. Memory stays bounded: in-order seqs are one range, gaps and sessions
 * are capped.
 */
import test from 'ava';
import { PacketType } from '../../protocol/index.js';
import { BatchDedupe } from '../../relay/index.js';
import { eventually } from '../helpers/agent-client.js';
import { RawPeer } from '../helpers/agent-peer.js';
import { startRig, ZONE_TOKEN } from '../helpers/agent-rig.js';
import { loadBatch } from '../helpers/load-agent.js';
import { batchKey, UpstreamIndex } from '../helpers/upstream-check.js';

const UUID = 'd'.repeat(32);
const SESSION = 'dedupe-session';
const BATCHES = 400;

/** Send batches `seqs` one write each, as a resending agent does, and wait for an ACK of each. */
async function sendAll(peer: RawPeer, seqs: readonly number[]): Promise<void> {
  const before = peer.acks().length;
  for (const seq of seqs) void peer.send(PacketType.SERIESBATCH, loadBatch(UUID, SESSION, seq, 2));
  await peer.until((p) => p.acks().length >= before + seqs.length, 20_000, `${seqs.length} ACKs`);
}

test('400 batches ACKed, then all 400 resent in order on a new connection: each is a duplicate and nothing is spooled again', async (t) => {
  const { relay, receiver, port } = await startRig(t);
  const seqs = Array.from({ length: BATCHES }, (_, i) => i + 1);
  const first = await RawPeer.connect(port);
  t.teardown(() => first.destroy());
  await first.hello(ZONE_TOKEN, UUID);
  await sendAll(first, seqs);
  t.deepEqual(
    first.acks().map((a) => [a.seq, a.duplicate ?? false]),
    seqs.map((seq) => [seq, false]),
  );
  const index = new UpstreamIndex();
  await eventually(
    () => {
      index.addFrom(receiver.records);
      return index.batches.size === BATCHES;
    },
    15_000,
    'first copies upstream',
  );
  first.end();
  await first.waitClosed();
  const spooled = relay.spool.nextSeq();

  // The agent lost those ACKs (as far as it knows): it reconnects and resends all of them, oldest first.
  const again = await RawPeer.connect(port);
  t.teardown(() => again.destroy());
  await again.hello(ZONE_TOKEN, UUID);
  await sendAll(again, seqs);
  t.deepEqual(
    again.acks().map((a) => [a.seq, a.duplicate ?? false]),
    seqs.map((seq) => [seq, true]),
    'every resend answered as a duplicate',
  );
  t.is(relay.spool.nextSeq(), spooled, 'nothing spooled again');
  // A new batch after them is taken as usual.
  await sendAll(again, [BATCHES + 1]);
  t.deepEqual(again.acks().at(-1), { session: SESSION, seq: BATCHES + 1 });
  await eventually(
    () => {
      index.addFrom(receiver.records);
      return index.batches.has(batchKey(UUID, SESSION, BATCHES + 1));
    },
    15_000,
    'the new batch upstream',
  );
  t.deepEqual(index.batchDuplicates(), [], 'each batch stored once');
  t.is(index.batches.size, BATCHES + 1);
});

/** A durability promise the test settles by hand. */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void } {
  let resolve: () => void = () => undefined;
  let reject: (err: Error) => void = () => undefined;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

test('a resend of a batch still being spooled waits for the first copy; a failed one is taken again', async (t) => {
  const dedupe = new BatchDedupe();
  const spooled: number[] = [];
  const spool = (seq: number, d: ReturnType<typeof deferred>) => () => {
    spooled.push(seq);
    return d.promise;
  };
  const one = deferred();
  const first = dedupe.check('a', 's', 1, spool(1, one));
  const resend = dedupe.check('a', 's', 1, spool(1, deferred()));
  t.false(first.duplicate);
  t.true(resend.duplicate);
  t.is(resend.durable, first.durable, 'the resend waits for the first copy');
  one.resolve();
  await first.durable;
  t.true(dedupe.check('a', 's', 1, spool(1, deferred())).duplicate, 'durable: remembered');

  const two = deferred();
  const failed = dedupe.check('a', 's', 2, spool(2, two));
  two.reject(new Error('spool full'));
  await t.throwsAsync(failed.durable);
  const retaken = dedupe.check('a', 's', 2, spool(2, deferred()));
  t.false(retaken.duplicate, 'a batch that never became durable is taken again');
  t.deepEqual(spooled, [1, 2, 2]);
  t.false(dedupe.check('b', 's', 1, spool(1, deferred())).duplicate, 'sessions are per agent');
});

test('memory is bounded: gaps never filled forget their lowest ranges, and old sessions are forgotten', async (t) => {
  const dedupe = new BatchDedupe({ maxSessions: 2, maxRanges: 4 });
  const take = async (agent: string, seq: number): Promise<boolean> => {
    const result = dedupe.check(agent, 's', seq, () => Promise.resolve());
    await result.durable;
    return result.duplicate;
  };
  // 10,000 in-order seqs are one range: all remembered.
  for (let seq = 1; seq <= 10_000; seq++) await take('a', seq);
  t.true(await take('a', 1));
  t.true(await take('a', 10_000));
  // Seqs with gaps: 5 ranges where 4 are kept; past the cap the lower half goes.
  for (const seq of [10_002, 10_004, 10_006, 10_008]) await take('a', seq);
  t.false(await take('a', 1), 'the lowest ranges were forgotten');
  t.true(await take('a', 10_008), 'the newest are kept');
  // A third session pushes out the least recently used one.
  await take('b', 1);
  await take('c', 1);
  t.is(dedupe.size, 2);
  t.false(await take('a', 10_008), 'session a was forgotten');
});
