import test from 'ava';
import { appendFileSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BatchLog, scanRecords } from '../../agent/index.js';

import type { BatchSample } from '../../protocol/index.js';
import { tempDir } from '../helpers/relay-harness.js';

const UUID = '5d41402abc4b2a76b9719d911017c592';
const sample = (value: number): BatchSample => ({
  metric: 'm',
  value,
  timestamp_ms: 1_700_000_000_000 + value,
});
const samples = (from: number, n: number): BatchSample[] =>
  Array.from({ length: n }, (_, i) => sample(from + i));
const segments = (dir: string): string[] =>
  readdirSync(dir)
    .filter((n) => n.startsWith('seg-'))
    .sort();

async function bodies(log: BatchLog): Promise<Array<{ seq: number; values: number[] }>> {
  const out = [];
  for (const b of log.unacked()) {
    const body = JSON.parse((await log.body(b)).toString()) as { seq: number; samples: BatchSample[] };
    out.push({ seq: body.seq, values: body.samples.map((s) => s.value) });
  }
  return out;
}

test('batches survive a reopen with their seqs, session and content; ACKed ones do not come back', async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const log = await BatchLog.open({ dir: tmp.path, uuid: UUID, maxBytes: 1 << 20 });
  for (let i = 0; i < 5; i++) await log.append(samples(i * 10, 3));
  log.ack(1);
  log.ack(2);
  await log.close();
  const again = await BatchLog.open({ dir: tmp.path, uuid: UUID, maxBytes: 1 << 20 });
  t.is(again.session, log.session);
  t.deepEqual(await bodies(again), [
    { seq: 3, values: [20, 21, 22] },
    { seq: 4, values: [30, 31, 32] },
    { seq: 5, values: [40, 41, 42] },
  ]);
  const next = await again.append(samples(50, 1));
  t.is(next.seq, 6, 'a seq is never reused');
  t.like(again.stats(), { batches: 4, samples: 10 });
  await again.close();
});

test('without a close (kill -9), the unACKed batches and the seq counter are recovered; a torn tail is cut', async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const log = await BatchLog.open({ dir: tmp.path, uuid: UUID, maxBytes: 1 << 20 });
  for (let i = 0; i < 3; i++) await log.append(samples(i, 1));
  // No close: the process "dies" here. A half-written record follows the last whole one.
  const seg = join(tmp.path, segments(tmp.path).at(-1)!);
  const whole = statSync(seg).size;
  appendFileSync(seg, Buffer.from([0, 0, 0, 50, 1, 2, 3]));
  const again = await BatchLog.open({ dir: tmp.path, uuid: UUID, maxBytes: 1 << 20 });
  t.deepEqual(
    (await bodies(again)).map((b) => b.seq),
    [1, 2, 3],
  );
  t.is(statSync(seg).size, whole, 'the torn record was cut off');
  t.is(again.stats().damagedBytes, 7);
  t.is((await again.append(samples(9, 1))).seq, 4);
  await again.close();
  const third = await BatchLog.open({ dir: tmp.path, uuid: UUID, maxBytes: 1 << 20 });
  t.deepEqual(
    (await bodies(third)).map((b) => b.seq),
    [1, 2, 3, 4],
  );
  await third.close();
  await log.close(); // the "killed" instance's file handle; it writes nothing more
});

test('a flipped byte fails the checksum: that record and the rest of its segment are not sent', async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const log = await BatchLog.open({ dir: tmp.path, uuid: UUID, maxBytes: 1 << 20 });
  for (let i = 0; i < 3; i++) await log.append(samples(i, 2));
  await log.close();
  const seg = join(tmp.path, segments(tmp.path)[0]!);
  const data = readFileSync(seg);
  const second = scanRecords(data).records[1]!;
  const at = second.offset + 30;
  data[at] = data[at]! ^ 0xff;
  writeFileSync(seg, data);
  const again = await BatchLog.open({ dir: tmp.path, uuid: UUID, maxBytes: 1 << 20 });
  t.deepEqual(
    (await bodies(again)).map((b) => b.seq),
    [1],
  );
  t.true(again.stats().damagedBytes > 0);
  await again.close();
});

test('segments roll, and go once every batch in them is ACKed', async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const log = await BatchLog.open({ dir: tmp.path, uuid: UUID, maxBytes: 1 << 20, segmentBytes: 4096 });
  for (let i = 0; i < 40; i++) await log.append(samples(i * 10, 5));
  const before = segments(tmp.path).length;
  t.true(before >= 3, `${before} segments`);
  for (let seq = 1; seq <= 40; seq++) log.ack(seq);
  await log.append(samples(1000, 1)); // the ack removals run in order before this append
  t.is(segments(tmp.path).length, 1, 'only the segment being written is left');
  t.is(log.size, 1);
  await log.close();
  const again = await BatchLog.open({ dir: tmp.path, uuid: UUID, maxBytes: 1 << 20, segmentBytes: 4096 });
  t.deepEqual(
    (await bodies(again)).map((b) => b.seq),
    [41],
  );
  await again.close();
});

test('over its byte cap the oldest segment is dropped and counted; memory holds only the newest bodies', async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const maxBytes = 1 << 20;
  const log = await BatchLog.open({
    dir: tmp.path,
    uuid: UUID,
    maxBytes,
    segmentBytes: 64 * 1024,
    memoryBytes: 32 * 1024,
  });
  let appended = 0;
  for (let i = 0; i < 600; i++) {
    await log.append(samples(i * 50, 50));
    appended += 50;
  }
  const stats = log.stats();
  const onDisk = segments(tmp.path).reduce((sum, n) => sum + statSync(join(tmp.path, n)).size, 0);
  t.true(onDisk <= maxBytes + 64 * 1024, `${onDisk} bytes on disk`);
  t.true(stats.droppedSamples > 0);
  t.is(stats.samples + stats.droppedSamples, appended, 'every sample is either kept or counted as dropped');
  const kept = await bodies(log);
  t.is(kept[0]!.seq, stats.droppedBatches + 1, 'the oldest were dropped, in order');
  t.is(kept.at(-1)!.seq, 600);
  await log.close();
});

test('a buffer whose session file is gone starts a new session and does not resend old batches under it', async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const log = await BatchLog.open({ dir: tmp.path, uuid: UUID, maxBytes: 1 << 20 });
  await log.append(samples(0, 1));
  await log.close();
  truncateSync(join(tmp.path, 'session'), 0);
  const again = await BatchLog.open({ dir: tmp.path, uuid: UUID, maxBytes: 1 << 20 });
  t.not(again.session, log.session);
  t.is(again.size, 0);
  t.is((await again.append(samples(1, 1))).seq, 1);
  await again.close();
});
