/**
 * WorkerSampleStore: the SampleStore behaviours of store.test.ts run against
 * the store in a worker thread, plus what is specific to it: errors keep
 * their code, retriable flag and message across the thread boundary (checked
 * against RocksSampleStore on this thread), bytes come back as Buffers, a
 * dead worker fails every call with a retriable OWL_ERR_STORE_IO.
 */
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import {
  RocksSampleStore,
  StoreError,
  StoreErrorCode,
  WorkerSampleStore,
  delMeta,
  putMeta,
  type SampleStore,
  type StorePoint,
  type WalTailCut,
  type WorkerSampleStoreOptions,
} from '../../upstream/index.js';
import { type Coded, MIN, pt, rejectsWith, T0, tempDir as tempDirIn } from '../helpers/store-fixture.js';

const tempDir = (t: ExecutionContext) => tempDirIn(t, 'owl-wstore-test-');

type Opts = Omit<WorkerSampleStoreOptions, 'location'>;

async function openWorker(t: ExecutionContext, dir: string, opts: Opts = {}): Promise<WorkerSampleStore> {
  const store = await WorkerSampleStore.open({ location: dir, bucketMs: MIN, ...opts });
  t.teardown(() => store.close().catch(() => {}));
  return store;
}

async function openRocks(t: ExecutionContext, dir: string, opts: Opts = {}): Promise<RocksSampleStore> {
  const store = await RocksSampleStore.open({ location: dir, bucketMs: MIN, ...opts });
  t.teardown(() => store.close().catch(() => {}));
  return store;
}

/** The error a promise rejects with, or a failure if it resolves. */
async function errorOf(p: Promise<unknown>): Promise<Coded & Error> {
  try {
    await p;
  } catch (err) {
    return err as Coded & Error;
  }
  throw new Error('expected a rejection');
}

test('round trip: values, series, time order, shared and own tags objects, stats, counters, listSeries', async (t) => {
  const store = await openWorker(t, await tempDir(t));
  t.is(store.blockSpanMs, MIN);
  const a = { host: 'h1', dc: 'x' };
  const values = [0, 1, -1, 12.34, 0.1 + 0.2, -7.5e-300, 1.7976931348623157e308, 2 ** 53 - 1, Math.PI];
  const pts = values.map((v, i) => pt('cpu', a, T0 + ((i * 7) % values.length) * 25_000, v));
  await store.write(pts.slice(0, 4));
  await store.write(pts.slice(4));
  // Own tags per point, and a tag order that differs: the same series.
  await store.write([pt('cpu', { dc: 'x', host: 'h2' }, T0, 5), pt('cpu2', { ...a }, T0, 6)]);
  await store.write([pt('cpu', { host: 'h2', dc: 'x' }, T0 + 1000, 7)]);
  const expected = [...pts].sort((p, q) => p.timestampMs - q.timestampMs);

  t.deepEqual(await store.counters(), { series: 3, points: 0, pendingPoints: 12 });
  const r = await store.query({ metric: 'cpu', tags: { host: 'h1' }, fromMs: 0, toMs: T0 + 10 * MIN });
  t.is(r.length, 1);
  t.deepEqual(r[0]?.tags, a);
  t.deepEqual(
    r[0]?.timestampsMs,
    expected.map((p) => p.timestampMs),
  );
  t.deepEqual(
    r[0]?.values,
    expected.map((p) => p.value),
  );
  t.deepEqual(await store.stats(), { series: 3, points: 12, samples: 0 });
  t.deepEqual(await store.counters(), { series: 3, points: 12, pendingPoints: 0 });
  const all = await store.query({ metric: 'cpu', fromMs: 0, toMs: T0 + 10 * MIN });
  t.deepEqual(
    all.map((s) => [s.tags.host, s.values]),
    [
      ['h1', expected.map((p) => p.value)],
      ['h2', [5, 7]],
    ],
  );
  t.deepEqual(
    (await store.listSeries({ prefix: 'cpu', limit: 10 })).map((s) => `${s.metric}/${s.tags.host}`),
    ['cpu/h1', 'cpu/h2', 'cpu2/h1'],
  );
  t.deepEqual(
    (await store.listSeries({ metric: 'cpu2', limit: 10 })).map((s) => s.tags),
    [a],
  );
  t.is((await store.listSeries({ limit: 1 })).length, 1);
});

test('meta ops commit atomically with the points; a rejected write commits neither; bytes come back as Buffers', async (t) => {
  const dir = await tempDir(t);
  let store = await openWorker(t, dir);
  await store.write([pt('m', {}, T0, 1)], {
    meta: [putMeta('relay/r1', 'batches 1-5'), putMeta('relay/r2', 'x')],
  });
  const got = await store.getMeta('relay/r1');
  t.true(Buffer.isBuffer(got));
  t.is(got?.toString(), 'batches 1-5');
  await rejectsWith(
    t,
    store.write([pt('m', {}, T0 + 1000, 2), pt('m', {}, -1, 3)], {
      meta: [putMeta('relay/r1', 'batches 1-9')],
    }),
    StoreErrorCode.BAD_POINT,
  );
  t.is((await store.getMeta('relay/r1'))?.toString(), 'batches 1-5');
  t.deepEqual((await store.query({ metric: 'm', fromMs: 0, toMs: T0 + MIN }))[0]?.values, [1]);

  // Meta-only writes, deletes, byte values (a pooled Buffer slice and a plain Uint8Array).
  const pooled = Buffer.from('pooled value');
  t.true(pooled.byteLength < pooled.buffer.byteLength, 'the test needs a Buffer on a shared slab');
  await store.write([], {
    meta: [delMeta('relay/r2'), putMeta('relay/r0', Uint8Array.of(0, 255)), putMeta('relay/r3', pooled)],
  });
  t.is(await store.getMeta('relay/r2'), undefined);
  await store.close();
  store = await openWorker(t, dir);
  const rows = await store.listMeta('relay/');
  t.true(rows.every(([, v]) => Buffer.isBuffer(v)));
  t.deepEqual(
    rows.map(([k, v]) => [k, v.toString('hex')]),
    [
      ['relay/r0', '00ff'],
      ['relay/r1', Buffer.from('batches 1-5').toString('hex')],
      ['relay/r3', pooled.toString('hex')],
    ],
  );
  t.deepEqual(
    (await store.listMeta('relay/', 1)).map(([k]) => k),
    ['relay/r0'],
  );
  t.deepEqual(await store.listMeta('other/'), []);
});

test('writes of one turn join one message and one group commit; meta ops apply in call order', async (t) => {
  const dir = await tempDir(t);
  let store = await openWorker(t, dir);
  const writes: Array<Promise<void>> = [];
  const tags = Array.from({ length: 4 }, (_, w) => ({ w: String(w) }));
  for (let w = 0; w < 40; w++) {
    const pts = Array.from({ length: 100 }, (_, i) => pt('m', tags[w % 4]!, T0 + (w * 100 + i) * 1000, w));
    writes.push(store.write(pts, { meta: [putMeta('last', String(w))] }));
  }
  await Promise.all(writes);
  t.is((await store.getMeta('last'))?.toString(), '39');
  await store.close();
  store = await openWorker(t, dir);
  t.deepEqual(await store.stats(), { series: 4, points: 4000, samples: 0 });
  const r = await store.query({ metric: 'm', tags: { w: '3' }, fromMs: 0, toMs: T0 + 10_000 * MIN });
  t.is(r[0]?.values.length, 1000);
  t.true(r[0]?.values.every((v) => v % 4 === 3));
});

test('retention deletes old points and emptied series, also through reopen', async (t) => {
  const dir = await tempDir(t);
  let store = await openWorker(t, dir);
  const pts: StorePoint[] = [];
  for (let i = 0; i < 30; i++) pts.push(pt('m', { s: 'old' }, T0 + i * 10_000, i));
  for (let i = 0; i < 60; i++) pts.push(pt('m', { s: 'live' }, T0 + i * 10_000, i));
  await store.write(pts.slice(0, 45));
  await store.flush();
  await store.write(pts.slice(45));
  const cutoff = T0 + 5 * MIN + 30_000;
  t.deepEqual(await store.applyRetention(cutoff), { deletedPoints: 30 + 33, deletedSeries: 1 });
  t.deepEqual(await store.stats(), { series: 1, points: 27, samples: 0 });
  t.deepEqual(
    (await store.listSeries({ limit: 10 })).map((s) => s.tags.s),
    ['live'],
  );
  await store.close();
  store = await openWorker(t, dir);
  t.deepEqual(await store.stats(), { series: 1, points: 27, samples: 0 });
  const r = await store.query({ metric: 'm', fromMs: 0, toMs: T0 + 20 * MIN });
  t.deepEqual(r[0]?.timestampsMs[0], T0 + 33 * 10_000);
});

test('bad input: the same code, retriable flag and message as RocksSampleStore', async (t) => {
  const worker = await openWorker(t, await tempDir(t), { maxWritePoints: 10 });
  const rocks = await openRocks(t, await tempDir(t), { maxWritePoints: 10 });
  const cases: Array<[string, (s: SampleStore) => Promise<unknown>]> = [
    ['null point', (s) => s.write([null as unknown as StorePoint])],
    ['empty metric', (s) => s.write([pt('', {}, T0, 1)])],
    ['bad tag value', (s) => s.write([{ metric: 'm', tags: { a: 1 }, timestampMs: T0, value: 1 } as never])],
    ['negative time', (s) => s.write([pt('m', {}, -1, 1)])],
    ['NaN value', (s) => s.write([pt('m', {}, T0, Number.NaN)])],
    ['string value', (s) => s.write([{ metric: 'm', tags: {}, timestampMs: T0, value: '1' } as never])],
    ['not an array', (s) => s.write({ length: 1 } as never)],
    ['too large', (s) => s.write(Array.from({ length: 11 }, (_, i) => pt('m', {}, T0 + i, 1)))],
    ['bad meta key', (s) => s.write([], { meta: [putMeta('', 'x')] })],
    ['bad meta value', (s) => s.write([], { meta: [{ type: 'put', key: 'k', value: 5 } as never] })],
    ['bad meta op', (s) => s.write([], { meta: [{ type: 'inc', key: 'k' } as never] })],
    ['bad query', (s) => s.query({ metric: 'm', fromMs: 2, toMs: 1 })],
    ['bad limit', (s) => s.query({ metric: 'm', fromMs: 0, toMs: 1, limit: -1 })],
    ['bad listing', (s) => s.listSeries({ limit: -1 })],
    ['bad retention', (s) => s.applyRetention(-5)],
    ['bad meta key read', (s) => s.getMeta('')],
    ['bad prefix', (s) => s.listMeta(7 as never)],
  ];
  for (const [what, run] of cases) {
    const want = await errorOf(run(rocks));
    const got = await errorOf(run(worker));
    t.true(got instanceof StoreError, what);
    t.true(typeof want.code === 'string' && want.code.startsWith('OWL_ERR_STORE_'), what);
    t.deepEqual(
      { code: got.code, retriable: got.retriable, message: got.message },
      { code: want.code, retriable: want.retriable, message: want.message },
      what,
    );
  }
  t.deepEqual(await worker.stats(), { series: 0, points: 0, samples: 0 });
});

test('arguments that cannot cross (functions) are refused with a code; the other calls of that turn go through', async (t) => {
  const store = await openWorker(t, await tempDir(t));
  const ok1 = store.write([pt('m', {}, T0, 1)]);
  const badPoint = store.write([{ metric: 'm', tags: {}, timestampMs: T0, value: () => 1 } as never]);
  const badMeta = store.write([pt('m', {}, T0 + 1, 2)], {
    meta: [{ type: 'put', key: 'k', value: () => 'x' } as never],
  });
  const badQuery = store.query({ metric: 'm', fromMs: 0, toMs: 1, limit: Symbol('x') } as never);
  const ok2 = store.write([pt('m', {}, T0 + 2, 3)]);
  await rejectsWith(t, badPoint, StoreErrorCode.BAD_POINT);
  await rejectsWith(t, badMeta, StoreErrorCode.BAD_META);
  await rejectsWith(t, badQuery, StoreErrorCode.BAD_QUERY);
  await Promise.all([ok1, ok2]);
  t.deepEqual((await store.query({ metric: 'm', fromMs: 0, toMs: T0 + MIN }))[0]?.values, [1, 3]);
});

test('an option refused by the store fails open with its code', async (t) => {
  const err = await t.throwsAsync(WorkerSampleStore.open({ location: await tempDir(t), bucketMs: 1000 }));
  t.true(err instanceof StoreError);
  t.is((err as Coded).code, StoreErrorCode.BAD_OPTION);
});

test('close waits for pending writes, folds them, and refuses later calls; data survives reopen', async (t) => {
  const dir = await tempDir(t);
  let store = await openWorker(t, dir);
  const writes = Array.from({ length: 20 }, (_, w) => store.write([pt('m', { w: String(w) }, T0, w)]));
  const settled = writes.map(() => false);
  writes.forEach((w, i) => void w.then(() => (settled[i] = true)));
  const closing = store.close();
  t.is(store.close(), closing, 'idempotent');
  await rejectsWith(t, store.write([pt('m', {}, T0, 1)]), StoreErrorCode.CLOSED);
  await closing;
  t.true(
    settled.every((s) => s),
    'every write settled before close resolved',
  );
  await Promise.all(writes);
  await rejectsWith(t, store.query({ metric: 'm', fromMs: 0, toMs: 1 }), StoreErrorCode.CLOSED);
  await rejectsWith(t, store.getMeta('k'), StoreErrorCode.CLOSED);

  // Folded at close: nothing left to replay, on this thread or in a worker.
  const rocks = await openRocks(t, dir);
  t.deepEqual(rocks.counters(), { series: 20, points: 20, pendingPoints: 0 });
  await rocks.write([pt('m', { w: 'rocks' }, T0, 99)], { meta: [putMeta('k', 'v')] });
  await rocks.close();
  store = await openWorker(t, dir);
  t.deepEqual(await store.counters(), { series: 21, points: 21, pendingPoints: 0 });
  t.deepEqual(await store.stats(), { series: 21, points: 21, samples: 0 });
  t.is((await store.getMeta('k'))?.toString(), 'v');
});

test('a second open of the same location fails with the code RocksSampleStore gives; after close it opens', async (t) => {
  const dir = await tempDir(t);
  const first = await openRocks(t, dir);
  const want = await errorOf(RocksSampleStore.open({ location: dir, bucketMs: MIN }));
  t.is(want.code, StoreErrorCode.IO, String(want));
  const got = await errorOf(WorkerSampleStore.open({ location: dir, bucketMs: MIN }));
  t.true(got instanceof StoreError);
  t.is(got.code, want.code, String(got));
  t.is(got.retriable, want.retriable);
  await first.close();

  const w1 = await openWorker(t, dir);
  const again = await errorOf(WorkerSampleStore.open({ location: dir, bucketMs: MIN }));
  t.is(again.code, want.code, String(again));
  await w1.close();
  const w2 = await openWorker(t, dir);
  t.deepEqual(await w2.stats(), { series: 0, points: 0, samples: 0 });
});

test('a killed worker fails pending and later calls with a retriable OWL_ERR_STORE_IO; the store reopens', async (t) => {
  const dir = await tempDir(t);
  const errors: unknown[] = [];
  const store = await openWorker(t, dir, { onError: (err) => errors.push(err) });
  await store.write([pt('m', {}, T0, 1)], { meta: [putMeta('k', 'committed')] });
  // Calls queued in this turn are posted on the next; the kill lands while they are pending.
  const pending = [
    store.write([pt('m', {}, T0 + 1, 2)]),
    store.query({ metric: 'm', fromMs: 0, toMs: T0 + MIN }),
    store.stats(),
  ];
  const killed = store.killWorkerForTest();
  for (const p of pending) {
    const err = await errorOf(p);
    t.true(err instanceof StoreError);
    t.is(err.code, StoreErrorCode.IO, String(err));
    t.true(err.retriable);
  }
  await killed;
  const later = await errorOf(store.getMeta('k'));
  t.is(later.code, StoreErrorCode.IO);
  t.true(later.retriable);
  t.is(errors.length, 1, 'the failure is reported once');
  await store.close(); // nothing left to close: resolves
  await rejectsWith(t, store.write([pt('m', {}, T0, 1)]), StoreErrorCode.CLOSED);

  const reopened = await openWorker(t, dir);
  t.is((await reopened.getMeta('k'))?.toString(), 'committed');
  const r = await reopened.query({ metric: 'm', fromMs: 0, toMs: T0 + MIN });
  t.is(r[0]?.values[0], 1);
});

test('a damaged WAL tail is cut at open, in the worker or not: points kept, the bytes kept aside, reported', async (t) => {
  // A tail on which RocksDB 9.7's recovery loops forever (see spool-rocks.test.ts).
  const tail = fs.readFileSync(new URL('../fixtures/rocksdb-wal-loop-tail.bin', import.meta.url));
  for (const kind of ['worker', 'rocks'] as const) {
    const dir = await tempDir(t);
    const first = await openWorker(t, dir);
    await first.write(Array.from({ length: 10 }, (_, i) => pt('m', { h: String(i) }, T0, i)));
    await first.close();
    const wal = fs.readdirSync(dir).find((n) => n.endsWith('.log'));
    t.truthy(wal, `${kind}: a WAL to damage`);
    fs.appendFileSync(path.join(dir, wal!), tail);
    const cuts: WalTailCut[] = [];
    const onWalTailCut = (c: WalTailCut): void => void cuts.push(c);
    const store =
      kind === 'worker'
        ? await openWorker(t, dir, { onWalTailCut })
        : await openRocks(t, dir, { onWalTailCut });
    t.deepEqual(await store.stats(), { series: 10, points: 10, samples: 0 }, kind);
    t.is(cuts.length, 1, kind);
    t.like(cuts[0], { file: path.join(dir, wal!), cutBytes: tail.length }, kind);
    t.deepEqual(fs.readFileSync(path.join(cuts[0]!.savedTo, `${wal!}.tail`)), tail, kind);
    await store.close();
  }
});

test('stats: samples counts the points of writes marked countSamples, folded with points, in the worker or not', async (t) => {
  for (const kind of ['worker', 'rocks'] as const) {
    const dir = await tempDir(t);
    // A large pending limit and age: nothing is folded before stats() folds it.
    const opts = { maxPendingPoints: 1_000_000, maxPendingAgeMs: 3_600_000 };
    const store = kind === 'worker' ? await openWorker(t, dir, opts) : await openRocks(t, dir, opts);
    await store.write([pt('m', { h: 'a' }, T0, 1), pt('m', { h: 'a' }, T0 + 1000, 2)], {
      countSamples: true,
    });
    await store.write([pt('m', { h: 'b' }, T0, 3)]); // not marked: a point, no sample
    await store.write([pt('m', { h: 'c' }, T0, 4)], { meta: [putMeta('k', 'v')], countSamples: true });
    t.deepEqual(await store.stats(), { series: 3, points: 4, samples: 3 }, kind);
    // The same (series, timestamp) again: one more sample, no more points.
    await store.write([pt('m', { h: 'c' }, T0, 5)], { countSamples: true });
    t.deepEqual(await store.stats(), { series: 3, points: 4, samples: 4 }, kind);
    await store.write([pt('m', { h: 'c' }, T0 + 1000, 6)], { countSamples: false });
    t.deepEqual(await store.stats(), { series: 3, points: 5, samples: 4 }, kind);
    await store.close();
    // Counted since the store was opened: points persist, samples start again.
    const again = kind === 'worker' ? await openWorker(t, dir) : await openRocks(t, dir);
    t.deepEqual(await again.stats(), { series: 3, points: 5, samples: 0 }, kind);
    await again.close();
  }
});
