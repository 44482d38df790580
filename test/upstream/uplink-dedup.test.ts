/**
 * Exactly-once storage at the real upstream (docs/uplink.md §9), driven by a
 * scriptable relay so every batch boundary, gap and retransmission is chosen
 * here. The store itself keeps one point per (series, timestamp) with the
 * later write winning, so point counts alone cannot show a double store:
 * retransmitted records carry other values, and the query must still show
 * the first ones; the upstream's stored-sample counter must not move.
 */
import test from 'ava';
import { BatchAckStatus, PacketType } from '../../protocol/index.js';
import { startUpstream } from '../helpers/upstream-harness.js';
import { addRelay, query, stats, withUpstream } from '../helpers/upstream-fixture.js';
import {
  agentRecord,
  range,
  seqSamples,
  UplinkTestClient,
  type SeqRecord,
} from '../helpers/upstream-uplink-client.js';

const UUID = '5d41402abc4b2a76b9719d911017c592';
const T0 = 1_718_000_000;
const { STORED, DUPLICATE, REJECTED } = BatchAckStatus;

/** Values of cpu.user for UUID, keyed by seq (timestamp − T0). */
async function valuesBySeq(
  up: Parameters<typeof query>[0],
  metric = 'cpu.user',
): Promise<Map<number, number>> {
  const series = await query(up, metric, { uuid: UUID });
  const out = new Map<number, number>();
  for (const s of series) {
    s.timestampsMs.forEach((ms, i) => out.set(ms / 1000 - T0, s.values[i] as number));
  }
  return out;
}

test('the same batch sent three times is stored once: STORED, DUPLICATE, DUPLICATE; still DUPLICATE after a restart', async (t) => {
  const { up, base, dir } = await withUpstream(t);
  const token = await addRelay(up, 'r1');
  const { client } = await UplinkTestClient.open(base, 'r1', token, 'spool-1');
  const batch = UplinkTestClient.batch(seqSamples(range(0, 9), { uuid: UUID, t0: T0 }));

  t.is(await client.sendBatchBody(batch), STORED);
  const after1 = await stats(up);
  t.is(after1.points, 10);
  t.is(after1.samples, 10);
  t.is(await client.sendBatchBody(batch), DUPLICATE);
  t.is(await client.sendBatchBody(batch), DUPLICATE);
  const after3 = await stats(up);
  t.is(after3.points, 10, 'store points unchanged');
  t.is(after3.samples, 10, 'nothing written again');
  t.is(after3.duplicates, 2);
  t.is(after3.batches, 3);
  t.deepEqual(
    [...(await valuesBySeq(up)).entries()],
    range(0, 9).map((s) => [s, s]),
  );
  await client.close();

  // The stored ranges are durable: a fresh process answers the resend DUPLICATE as well.
  await up.stop();
  const again = await startUpstream(`${dir}/up`);
  t.teardown(() => again.stop());
  const { client: c2 } = await UplinkTestClient.open(
    `ws://127.0.0.1:${again.uplinkAddress.port}`,
    'r1',
    token,
    'spool-1',
  );
  t.is(await c2.sendBatchBody(batch), DUPLICATE);
  t.is((await stats(again)).points, 10);
  t.is((await stats(again)).samples, 0);
  await c2.close();
});

test('overlapping and partial retransmissions (other boundaries, gaps, compression) store each record once', async (t) => {
  const { up, base } = await withUpstream(t);
  const token = await addRelay(up, 'r1');
  const { client } = await UplinkTestClient.open(base, 'r1', token, 'spool-1');
  const send = (seqs: number[], valueOffset: number, compress = false): Promise<number> =>
    client.sendBatch(seqSamples(seqs, { uuid: UUID, t0: T0, valueOffset }), { compress });
  const expected = new Map<number, number>();
  const expect = (seqs: number[], offset: number): void => {
    for (const s of seqs) expected.set(s, s + offset);
  };

  t.is(await send(range(0, 9), 0), STORED);
  expect(range(0, 9), 0);
  // Overlaps the first by half: only 10..14 are new.
  t.is(await send(range(5, 14), 1000), STORED);
  expect(range(10, 14), 1000);
  t.is((await stats(up)).samples, 15);
  // A batch with gaps (21 and 23 in flight elsewhere, say): the gaps are not marked stored.
  t.is(await send([20, 22, 24], 0), STORED);
  expect([20, 22, 24], 0);
  t.is(await send(range(20, 24), 2000), STORED, 'the dense resend carries 21 and 23 for the first time');
  expect([21, 23], 2000);
  t.is(await send([21, 23], 3000), DUPLICATE);
  t.is(await send([0, 3, 7, 12], 3000), DUPLICATE, 'a sparse subset of stored records');
  // 15..19 were never sent; 13, 14, 20, 21 were.
  t.is(await send(range(13, 21), 4000, true), STORED);
  expect(range(15, 19), 4000);
  t.is(await send(range(0, 24), 5000, true), DUPLICATE, 'everything, compressed, one batch');

  const s = await stats(up);
  t.is(s.points, 25);
  t.is(s.samples, 25, 'each record written exactly once');
  t.deepEqual(
    [...(await valuesBySeq(up)).entries()].sort((a, b) => a[0] - b[0]),
    [...expected.entries()].sort((a, b) => a[0] - b[0]),
  );
  await client.close();
});

test('a full window of overlapping batches at once (parsed while the group before is written) stores each record once', async (t) => {
  const { up, base } = await withUpstream(t);
  const token = await addRelay(up, 'r1');
  const { client, welcome } = await UplinkTestClient.open(base, 'r1', token, 'spool-1');
  t.is(welcome.window, 8);
  const send = (seqs: number[], valueOffset: number): Promise<number> =>
    client.sendBatch(seqSamples(seqs, { uuid: UUID, t0: T0, valueOffset }));
  // All eight leave in one turn: the first half is one store write, and the second half is
  // opened and converted meanwhile, before the first half's ranges are stored.
  const statuses = await Promise.all([
    send(range(0, 9), 0),
    send(range(10, 19), 0),
    send(range(20, 29), 0),
    send(range(30, 39), 0),
    send(range(5, 14), 1000), // all stored by the first half
    send(range(35, 44), 1000), // half stored: its early conversion must not be used whole
    send(range(45, 49), 0),
    send([1, 50], 1000), // 1 stored, 50 new
  ]);
  t.deepEqual(statuses, [STORED, STORED, STORED, STORED, DUPLICATE, STORED, STORED, STORED]);
  const expected = new Map<number, number>();
  for (const s of range(0, 39)) expected.set(s, s);
  for (const s of range(40, 44)) expected.set(s, s + 1000);
  for (const s of range(45, 49)) expected.set(s, s);
  expected.set(50, 1050);
  const st = await stats(up);
  t.is(st.samples, 51, 'each record written exactly once');
  t.deepEqual(
    [...(await valuesBySeq(up)).entries()].sort((a, b) => a[0] - b[0]),
    [...expected.entries()].sort((a, b) => a[0] - b[0]),
  );
  await client.close();
});

test('a reconnect keeps the stored set; a new spool id restarts numbering; firstUnacked marks lower seqs stored', async (t) => {
  const { up, base } = await withUpstream(t);
  const token = await addRelay(up, 'r1');
  const first = await UplinkTestClient.open(base, 'r1', token, 'spool-1');
  t.is(await first.client.sendBatch(seqSamples(range(0, 4), { uuid: UUID, t0: T0 })), STORED);
  await first.client.close();

  // Same spool on a new connection: the resend is a duplicate.
  const second = await UplinkTestClient.open(base, 'r1', token, 'spool-1');
  t.is(
    await second.client.sendBatch(seqSamples(range(0, 4), { uuid: UUID, t0: T0, valueOffset: 100 })),
    DUPLICATE,
  );
  await second.client.close();

  // The relay's spool was wiped: same numbers, new spool id, new data.
  const wiped = await UplinkTestClient.open(base, 'r1', token, 'spool-2');
  const fresh = seqSamples(range(0, 4), { uuid: UUID, t0: T0, metric: 'system' });
  t.is(await wiped.client.sendBatch(fresh), STORED);
  await wiped.client.close();
  t.deepEqual([...(await valuesBySeq(up, 'cpu.system')).values()], range(0, 4));

  // HELLO says everything below 100 was acknowledged: a seq below it is never stored again.
  const compacted = await UplinkTestClient.open(base, 'r1', token, 'spool-1', 100);
  t.is(await compacted.client.sendBatch(seqSamples(range(50, 52), { uuid: UUID, t0: T0 })), DUPLICATE);
  t.is(await compacted.client.sendBatch(seqSamples(range(100, 101), { uuid: UUID, t0: T0 })), STORED);
  await compacted.client.close();
  t.deepEqual(
    [...(await valuesBySeq(up)).keys()].sort((a, b) => a - b),
    [0, 1, 2, 3, 4, 100, 101],
  );
  t.is((await stats(up)).samples, 12);
});

test('an agent SERIESBATCH resent under new relay seqs (relay crashed before acking it) is stored once', async (t) => {
  const { up, base } = await withUpstream(t);
  const token = await addRelay(up, 'r1');
  const { client } = await UplinkTestClient.open(base, 'r1', token, 'spool-1');
  const seriesBatch = (seq: number, value: number): SeqRecord['record'] =>
    agentRecord(
      PacketType.SERIESBATCH,
      {
        session: 'sess-1',
        seq,
        uuid: UUID,
        samples: [0, 1, 2].map((i) => ({
          metric: 'mem',
          service_name: 'os',
          value: value + i,
          timestamp: T0 + seq * 10 + i,
        })),
      },
      { uuid: UUID },
    );
  t.is(await client.sendBatch([{ seq: 0, record: seriesBatch(1, 10) }]), STORED);
  // The relay lost its spool entry's ack and its memory; the agent resent batch 1 (now relay seq 1),
  // in the same relay batch as its next one.
  t.is(
    await client.sendBatch([
      { seq: 1, record: seriesBatch(1, 500) },
      { seq: 2, record: seriesBatch(2, 20) },
    ]),
    STORED,
  );
  t.is(await client.sendBatch([{ seq: 3, record: seriesBatch(2, 700) }]), STORED, 'relay seq 3 is new');
  const series = await query(up, 'os.mem', { uuid: UUID });
  t.is(series.length, 1);
  t.deepEqual(series[0]?.values, [10, 11, 12, 20, 21, 22]);
  t.is((await stats(up)).samples, 6);
  await client.close();
});

test('a batch that does not open is REJECTED and leaves its seqs unstored', async (t) => {
  const { up, base } = await withUpstream(t);
  const token = await addRelay(up, 'r1');
  const { client } = await UplinkTestClient.open(base, 'r1', token, 'spool-1');
  const good = UplinkTestClient.batch(seqSamples(range(0, 2), { uuid: UUID, t0: T0 }));
  const bad = { ...good, compressed: true, payload: Buffer.from('definitely not raw deflate') };
  t.is(await client.sendBatchBody(bad), REJECTED);
  t.is(await client.sendBatchBody(good), STORED);
  const s = await stats(up);
  t.is(s.rejected, 1);
  t.is(s.points, 3);
  await client.close();
});
