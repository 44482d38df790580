/**
 * WorkerSampleStore: what is specific to the store in a worker thread (the
 * SampleStore contract is checked by the conformance suite,
 * store-conformance.ts): errors keep their code, retriable flag and message
 * across the thread boundary (checked against RocksSampleStore on this
 * thread), arguments that cannot cross are refused with a code, counters()
 * asked of the worker, a store closed in a worker opens on this thread and
 * back, a dead worker fails every call with a retriable OWL_ERR_STORE_IO, a
 * damaged WAL tail is cut in the worker too.
 */
import fs from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import {
  RocksSampleStore,
  StoreError,
  StoreErrorCode,
  WorkerSampleStore,
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

test('counters() and blockSpanMs are answered by the worker; close folds, so either kind reopens with nothing to replay', async (t) => {
  const dir = await tempDir(t);
  let store = await openWorker(t, dir);
  t.is(store.blockSpanMs, MIN);
  await store.write(Array.from({ length: 20 }, (_, w) => pt('m', { w: String(w) }, T0, w)));
  t.deepEqual(await store.counters(), { series: 20, points: 0, pendingPoints: 20 });
  await store.close();

  // Folded at close: nothing left to replay, on this thread or in a worker.
  const rocks = await openRocks(t, dir);
  t.deepEqual(rocks.counters(), { series: 20, points: 20, pendingPoints: 0 });
  await rocks.write([pt('m', { w: 'rocks' }, T0, 99)], { meta: [putMeta('k', 'v')] });
  await rocks.close();
  store = await openWorker(t, dir);
  t.deepEqual(await store.counters(), { series: 21, points: 21, pendingPoints: 0 });
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
