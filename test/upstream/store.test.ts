/**
 * RocksSampleStore on the test's thread: what only it has (counters() without
 * I/O, the checkpoint's timers and bounds, the id cache against retention)
 * and a model-based test. The SampleStore contract itself is checked by the
 * conformance suite (store-conformance.ts) against every backend.
 */
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import path from 'node:path';
import {
  RocksSampleStore,
  type RocksSampleStoreOptions,
  type StorePoint,
  type StoreTimers,
} from '../../upstream/index.js';
import { MIN, pt, T0, tempDir } from '../helpers/store-fixture.js';

type Opts = Omit<RocksSampleStoreOptions, 'location'>;

async function openStore(t: ExecutionContext, dir: string, opts: Opts = {}): Promise<RocksSampleStore> {
  const store = await RocksSampleStore.open({ location: dir, bucketMs: MIN, ...opts });
  t.teardown(() => store.close().catch(() => {}));
  return store;
}

async function pollUntil(cond: () => boolean, what: string, deadlineMs = 10_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

test('counters are exact and persistent; counters() shows unfolded points separately', async (t) => {
  const dir = await tempDir(t);
  let store = await openStore(t, dir);
  const pts: StorePoint[] = [];
  for (let s = 0; s < 20; s++)
    for (let i = 0; i < 50; i++) pts.push(pt('m', { s: String(s) }, T0 + i * 10_000, i));
  await store.write(pts);
  t.deepEqual(store.counters(), { series: 20, points: 0, pendingPoints: 1000 });
  t.deepEqual(await store.stats(), { series: 20, points: 1000, samples: 0 });
  await store.close();
  store = await openStore(t, dir);
  t.deepEqual(store.counters(), { series: 20, points: 1000, pendingPoints: 0 });
});

test('a write holding the cached id of a series that retention removes meanwhile re-creates it', async (t) => {
  const store = await openStore(t, await tempDir(t));
  await store.write([pt('m', { s: 'gone' }, T0, 1), pt('m', { s: 'other' }, T0 + 10 * MIN, 1)]);
  await store.flush();
  const w0 = store.write([pt('m', { s: 'other' }, T0 + 11 * MIN, 2)]);
  const ret = store.applyRetention(T0 + 5 * MIN);
  await w0;
  // Resolved from the id cache now; committed after the retention slice ran.
  const w1 = store.write([pt('m', { s: 'gone' }, T0 + 12 * MIN, 3)]);
  await Promise.all([ret, w1]);
  const r = await store.query({ metric: 'm', tags: { s: 'gone' }, fromMs: 0, toMs: T0 + 20 * MIN });
  t.deepEqual(r[0]?.values, [3]);
  t.deepEqual(await store.stats(), { series: 2, points: 3, samples: 0 });
});

test('close folds pending points, so a reopen has nothing to replay', async (t) => {
  const dir = await tempDir(t);
  let store = await openStore(t, dir);
  const writes = Array.from({ length: 20 }, (_, w) => store.write([pt('m', { w: String(w) }, T0, w)]));
  const closing = store.close();
  await Promise.all(writes);
  await closing;
  store = await openStore(t, dir);
  t.deepEqual(store.counters(), { series: 20, points: 20, pendingPoints: 0 });
});

test('the age-based checkpoint runs on the injected timer', async (t) => {
  const fired: Array<{ fn: () => void; ms: number }> = [];
  const timers: StoreTimers = {
    setTimeout(fn, ms) {
      const h = { fn, ms };
      fired.push(h);
      return h;
    },
    clearTimeout(h) {
      const i = fired.indexOf(h as (typeof fired)[number]);
      if (i >= 0) fired.splice(i, 1);
    },
  };
  const store = await openStore(t, await tempDir(t), { timers, maxPendingAgeMs: 12_345 });
  await store.write([pt('m', {}, T0, 1), pt('m', {}, T0 + 1, 2)]);
  t.is(fired.length, 1);
  t.is(fired[0]?.ms, 12_345);
  t.deepEqual(store.counters(), { series: 1, points: 0, pendingPoints: 2 });
  fired.shift()?.fn();
  await pollUntil(() => store.counters().pendingPoints === 0, 'the timer checkpoint');
  t.deepEqual(store.counters(), { series: 1, points: 2, pendingPoints: 0 });
});

test('the size-based checkpoint folds in the background and bounds pending points', async (t) => {
  const maxPendingPoints = 300;
  const maxGroupPoints = 200;
  const store = await openStore(t, await tempDir(t), {
    maxPendingPoints,
    maxGroupPoints,
    checkpointChunkBlocks: 8,
  });
  let peak = 0;
  const writer = async (w: number): Promise<void> => {
    for (let b = 0; b < 30; b++) {
      const pts = Array.from({ length: 50 }, (_, i) =>
        pt('m', { s: String(i % 25) }, T0 + (b * 4 + w) * 1000 + i, b),
      );
      await store.write(pts);
      peak = Math.max(peak, store.counters().pendingPoints);
    }
  };
  await Promise.all([0, 1, 2, 3].map(writer));
  t.true(peak <= 2 * (maxPendingPoints + maxGroupPoints), `peak ${peak}`);
  await pollUntil(() => store.counters().points > 0, 'a background checkpoint');
  t.deepEqual(await store.stats(), { series: 25, points: 4 * 30 * 50, samples: 0 });
});

// Model-based: random writes (with timestamp collisions across several buckets),
// flushes, reopens and retention passes against a Map model.
test('random operation sequences match a simple model', async (t) => {
  const dir = await tempDir(t);
  const tagSets: Array<Record<string, string>> = [{}, { h: '1' }, { h: '2', z: 'x' }];
  const point: fc.Arbitrary<StorePoint> = fc.record({
    metric: fc.constantFrom('a', 'b'),
    tags: fc.constantFrom(...tagSets),
    // Coarse steps: rewrites of one timestamp are common, across writes and folds.
    timestampMs: fc.integer({ min: 0, max: 100 }).map((k) => T0 + k * 3000),
    value: fc.oneof(
      fc.integer({ min: -1000, max: 1000 }),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.integer({ min: 0, max: 10_000 }).map((n) => n / 100),
    ),
  });
  const op = fc.oneof(
    {
      weight: 5,
      arbitrary: fc
        .array(point, { minLength: 1, maxLength: 40 })
        .map((pts) => ({ kind: 'write' as const, pts })),
    },
    { weight: 1, arbitrary: fc.constant({ kind: 'flush' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: T0, max: T0 + 5 * MIN })
        .map((cutoff) => ({ kind: 'retain' as const, cutoff })),
    },
  );
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
      const location = path.join(dir, String(run++));
      let store = await RocksSampleStore.open({ location, bucketMs: MIN, maxPendingPoints: 50 });
      const model = new Map<
        string,
        { metric: string; tags: Record<string, string>; pts: Map<number, number> }
      >();
      const keyOf = (p: StorePoint): string => `${p.metric}|${JSON.stringify(Object.entries(p.tags).sort())}`;
      try {
        for (const o of ops) {
          if (o.kind === 'write') {
            await store.write(o.pts);
            for (const p of o.pts) {
              const k = keyOf(p);
              let s = model.get(k);
              if (s === undefined) {
                s = { metric: p.metric, tags: { ...p.tags }, pts: new Map() };
                model.set(k, s);
              }
              s.pts.set(p.timestampMs, p.value);
            }
          } else if (o.kind === 'flush') {
            await store.flush();
          } else if (o.kind === 'reopen') {
            await store.close();
            store = await RocksSampleStore.open({ location, bucketMs: MIN, maxPendingPoints: 50 });
          } else {
            let deletedPoints = 0;
            let deletedSeries = 0;
            for (const [k, s] of model) {
              for (const ts of [...s.pts.keys()]) {
                if (ts < o.cutoff) {
                  s.pts.delete(ts);
                  deletedPoints++;
                }
              }
              if (s.pts.size === 0) {
                model.delete(k);
                deletedSeries++;
              }
            }
            const r = await store.applyRetention(o.cutoff);
            if (r.deletedPoints !== deletedPoints || r.deletedSeries !== deletedSeries) return false;
          }
        }
        let points = 0;
        for (const s of model.values()) {
          points += s.pts.size;
          const r = await store.query({ metric: s.metric, tags: s.tags, fromMs: 0, toMs: T0 + 10 * MIN });
          const mine = r.find(
            (x) =>
              JSON.stringify(Object.entries(x.tags).sort()) === JSON.stringify(Object.entries(s.tags).sort()),
          );
          const want = [...s.pts].sort((x, y) => x[0] - y[0]);
          if (!mine) return false;
          if (mine.timestampsMs.length !== want.length) return false;
          for (let i = 0; i < want.length; i++) {
            if (mine.timestampsMs[i] !== want[i]?.[0] || !Object.is(mine.values[i], want[i]?.[1]))
              return false;
          }
        }
        const stats = await store.stats();
        return stats.series === model.size && stats.points === points;
      } finally {
        await store.close();
      }
    }),
    { numRuns: 40, interruptAfterTimeLimit: 20_000 },
  );
  t.pass();
});
