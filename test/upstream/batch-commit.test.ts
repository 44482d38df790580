/**
 * A batch holding more samples than the store takes in one write (issue: a
 * busy outage's replay batch of 446,800 points was refused for ever) is
 * stored in several writes, each marking exactly its own records stored, and
 * acknowledged once; a kill -9 between two of its writes stores the rest of
 * it, and only the rest, when the relay resends it.
 */
import { deflateRawSync } from 'node:zlib';
import test from 'ava';
import {
  BatchAckStatus,
  PackedEncoding,
  packedBody,
  packSections,
  PacketType,
  UPLINK_PACKED_TYPE,
  type UplinkRecord,
} from '../../protocol/index.js';
import { Child } from '../helpers/child-process.js';
import { tempDir } from '../helpers/relay-harness.js';
import { callApi, type ApiTarget } from '../helpers/upstream-api.js';
import { addRelay, captureLog, query, stats, withUpstream } from '../helpers/upstream-fixture.js';
import { UplinkTestClient, type SeqRecord } from '../helpers/upstream-uplink-client.js';
import { packetBody } from '../helpers/v3-sample.js';

const UUID = '92eb5ffee6ae2fec3ad71c777531578f';
const T0_MS = 1_718_000_000_000;
/** Samples per record: three SERIESBATCH packets of 5,000, about 0.8 MiB of JSON before deflate. */
const PER_RECORD = 15_000;
const RECORDS = 8; // 120,000 samples in one batch: more than the store's 100,000 per write

/** Record `seq`: PER_RECORD samples of metric `m`, one ms apart, value = sample index + offset. */
function bigRecord(seq: number, offset = 0): SeqRecord {
  const packets = [0, 1, 2].map((p) => {
    const first = seq * PER_RECORD + p * 5000;
    return {
      type: PacketType.SERIESBATCH as number,
      body: packetBody(PacketType.SERIESBATCH, {
        session: 'sess-1',
        seq: seq * 3 + p,
        samples: Array.from({ length: 5000 }, (_, i) => ({
          metric: 'm',
          value: first + i + offset,
          timestamp_ms: T0_MS + first + i,
        })),
      }),
    };
  });
  const payload = packSections([{ src: '10.0.0.9:5000', uuid: UUID, packets }]);
  const record: UplinkRecord = {
    receivedAtMs: Date.now(),
    type: UPLINK_PACKED_TYPE,
    src: '10.0.0.9:5000',
    uuid: UUID,
    body: packedBody(PackedEncoding.DEFLATE, deflateRawSync(payload)),
  };
  return { seq, record };
}

const bigBatch = (offset = 0): SeqRecord[] => Array.from({ length: RECORDS }, (_, i) => bigRecord(i, offset));

/** Every stored value of metric m, in timestamp order. */
async function storedValues(target: Parameters<typeof query>[0]): Promise<number[]> {
  const series = await query(target, 'm', { uuid: UUID });
  return series.flatMap((s) => s.values);
}

test('one batch of 120,000 samples (over the store limit of 100,000 per write) is STORED once, then DUPLICATE', async (t) => {
  const log = captureLog();
  const { up, base } = await withUpstream(t, {}, { logger: log.logger });
  const token = await addRelay(up, 'big');
  const { client } = await UplinkTestClient.open(base, 'big', token, 'spool-big');
  const batch = UplinkTestClient.batch(bigBatch());

  t.is(await client.sendBatchBody(batch, 60_000), BatchAckStatus.STORED);
  t.is((await stats(up)).samples, RECORDS * PER_RECORD);
  const values = await storedValues(up);
  t.is(values.length, RECORDS * PER_RECORD);
  t.true(
    values.every((v, i) => v === i),
    'every sample stored with its own value',
  );
  t.is(await client.sendBatchBody(batch, 60_000), BatchAckStatus.DUPLICATE);
  t.is((await stats(up)).samples, RECORDS * PER_RECORD, 'nothing written again');
  t.false(
    log.lines.some((l) => l['msg'] === 'store write failed'),
    'no store write failed',
  );
  await client.close();
});

test('a store limit below one batch: the batch takes several writes, each within the limit, acked once', async (t) => {
  const { up, base } = await withUpstream(t, {}, { maxWritePoints: 40_000 });
  t.is(up.store.maxWritePoints, 40_000);
  const token = await addRelay(up, 'small');
  const { client } = await UplinkTestClient.open(base, 'small', token, 'spool-small');
  t.is(await client.sendBatch(bigBatch(), { ms: 60_000 }), BatchAckStatus.STORED);
  t.is((await stats(up)).samples, RECORDS * PER_RECORD);
  t.is((await storedValues(up)).length, RECORDS * PER_RECORD);
  t.is(client.received.filter((m) => m.type === 'BATCH_ACK').length, 0, 'exactly one ack, already taken');
  await client.close();
});

async function startChild(
  stateDir: string,
  extra: object,
): Promise<{ child: Child; base: string; api: ApiTarget }> {
  const child = Child.start('upstream-main.ts', [JSON.stringify({ config: { stateDir }, ...extra })]);
  const m = await child.waitLine(/^READY (\d+) (\d+) (\S+)$/, 30_000);
  return { child, base: `ws://127.0.0.1:${m[1]}`, api: { port: Number(m[2]), token: m[3] as string } };
}

test('kill -9 between two writes of one batch: the resend stores only the records the first write did not hold', async (t) => {
  const dir = tempDir('owl-upstream-split-');
  t.teardown(() => dir.remove());
  const stateDir = `${dir.path}/up`;
  // 40,000 points per write: records 0-1 (30,000) go first, record 2 would not fit.
  const first = await startChild(stateDir, {
    maxWritePoints: 40_000,
    killAfterWrite: { relay: 'plant', lastSeq: 1 },
  });
  t.teardown(() => first.child.kill());
  const added = await callApi(first.api, 'POST', '/api/v1/relays', { id: 'plant' });
  const token = (added.body as { token: string }).token;
  const { client } = await UplinkTestClient.open(first.base, 'plant', token, 'spool-p');
  client.send({ type: 'BATCH', body: UplinkTestClient.batch(bigBatch()) });
  await first.child.waitExit(60_000);
  t.is(first.child.exitSignal, 'SIGKILL');
  t.true(first.child.lines.includes('KILLING-WRITE plant 0 1'), 'killed after the first write');

  const second = await startChild(stateDir, { maxWritePoints: 40_000 });
  t.teardown(() => second.child.kill());
  const { client: again } = await UplinkTestClient.open(second.base, 'plant', token, 'spool-p');
  // Resent with other values: records the first write held must keep their first values.
  t.is(await again.sendBatch(bigBatch(1_000_000), { ms: 60_000 }), BatchAckStatus.STORED);
  const s = await callApi(second.api, 'GET', '/api/v1/stats');
  t.is((s.body as { samples: number }).samples, (RECORDS - 2) * PER_RECORD, 'only records 2-7 written');
  const params = new URLSearchParams({ metric: 'm', from: '0', to: String(2 ** 47), 'tag.uuid': UUID });
  const q = await callApi(second.api, 'GET', `/api/v1/query?${params.toString()}`);
  const values = (q.body as { values: number[] }[]).flatMap((x) => x.values);
  t.is(values.length, RECORDS * PER_RECORD);
  const split = 2 * PER_RECORD;
  t.true(
    values.every((v, i) => v === (i < split ? i : i + 1_000_000)),
    'records 0-1 from the first send, 2-7 from the resend',
  );
  await again.close();
});
