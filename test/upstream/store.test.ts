import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import path from 'node:path';
import {
  RocksSampleStore,
  StoreErrorCode,
  delMeta,
  putMeta,
  type RocksSampleStoreOptions,
  type StorePoint,
  type StoreTimers,
} from '../../upstream/index.js';
import { MIN, pt, rejectsWith, T0, tempDir } from '../helpers/store-fixture.js';

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

test('round trip: exact values, one series per metric + tag set, time order, before and after folding', async (t) => {
  const dir = await tempDir(t);
  const store = await openStore(t, dir);
  const a = { host: 'h1', dc: 'x' };
  const values = [
    0,
    1,
    -1,
    42,
    12.34,
    0.1 + 0.2,
    -7.5e-300,
    1.7976931348623157e308,
    2 ** 53 - 1,
    99.99,
    Math.PI,
  ];
  // Out of order inside a write and across writes, across several buckets.
  const pts: StorePoint[] = values.map((v, i) => pt('cpu', a, T0 + ((i * 7) % values.length) * 25_000, v));
  await store.write(pts.slice(0, 6));
  await store.write(pts.slice(6));
  await store.write([pt('cpu', { dc: 'x', host: 'h2' }, T0, 5), pt('cpu2', a, T0, 6)]);

  const expected = [...pts].sort((p, q) => p.timestampMs - q.timestampMs);
  const check = async (when: string): Promise<void> => {
    const r = await store.query({ metric: 'cpu', tags: { host: 'h1' }, fromMs: 0, toMs: T0 + 10 * MIN });
    t.is(r.length, 1, when);
    t.deepEqual(r[0]?.tags, a, when);
    t.deepEqual(
      r[0]?.timestampsMs,
      expected.map((p) => p.timestampMs),
      when,
    );
    t.deepEqual(
      r[0]?.values,
      expected.map((p) => p.value),
      when,
    );
  };
  await check('pending');
  t.true(store.counters().pendingPoints > 0);
  await store.flush();
  t.is(store.counters().pendingPoints, 0);
  await check('folded');

  // [from, to): to is exclusive.
  const from = expected[2]?.timestampMs as number;
  const to = expected[5]?.timestampMs as number;
  const r = await store.query({ metric: 'cpu', tags: a, fromMs: from, toMs: to });
  t.deepEqual(
    r[0]?.timestampsMs,
    expected.slice(2, 5).map((p) => p.timestampMs),
  );
  t.deepEqual(await store.stats(), { series: 3, points: values.length + 2, samples: 0 });
});

test('tag order does not matter; the tag filter is an exact-match subset', async (t) => {
  const store = await openStore(t, await tempDir(t));
  await store.write([
    pt('net.in', { host: 'a', ifname: 'eth0' }, T0, 1),
    pt('net.in', { ifname: 'eth0', host: 'a' }, T0 + 1000, 2),
    pt('net.in', { host: 'a', ifname: 'eth1' }, T0, 3),
    pt('net.in', { host: 'b', ifname: 'eth0' }, T0, 4),
    pt('net.in', {}, T0, 5),
    pt('net.inx', { host: 'a', ifname: 'eth0' }, T0, 6),
  ]);
  const q = async (tags: Record<string, string> | undefined): Promise<number[][]> =>
    (await store.query({ metric: 'net.in', ...(tags ? { tags } : {}), fromMs: 0, toMs: T0 + MIN })).map(
      (s) => s.values,
    );
  t.deepEqual(await q({ ifname: 'eth0', host: 'a' }), [[1, 2]]);
  t.deepEqual(await q({ host: 'a' }), [[1, 2], [3]]);
  t.deepEqual(await q({ ifname: 'eth0' }), [[1, 2], [4]]);
  t.deepEqual(await q(undefined), [[5], [1, 2], [3], [4]]);
  t.deepEqual(await q({ host: 'c' }), []);
  t.deepEqual(await q({ vlan: '1' }), []);
  t.is((await store.stats()).series, 5);
});

test('a rewritten timestamp keeps the last value and counts once, pending, folded and reopened', async (t) => {
  const dir = await tempDir(t);
  let store = await openStore(t, dir);
  const tags = { host: 'h' };
  await store.write([pt('m', tags, T0, 1), pt('m', tags, T0, 2), pt('m', tags, T0 + 10_000, 3)]);
  await store.write([pt('m', tags, T0 + 10_000, 4)]);
  const read = async (): Promise<number[] | undefined> =>
    (await store.query({ metric: 'm', fromMs: 0, toMs: T0 + MIN }))[0]?.values;
  t.deepEqual(await read(), [2, 4]);
  t.deepEqual(await store.stats(), { series: 1, points: 2, samples: 0 });
  await store.write([pt('m', tags, T0, 5)]); // over a folded block
  t.deepEqual(await read(), [5, 4]);
  t.deepEqual(await store.stats(), { series: 1, points: 2, samples: 0 });
  await store.close();
  store = await openStore(t, dir);
  t.deepEqual(await read(), [5, 4]);
  t.deepEqual(await store.stats(), { series: 1, points: 2, samples: 0 });
});

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

test('retention deletes old points, trims blocks, removes emptied series and keeps counters right', async (t) => {
  const dir = await tempDir(t);
  let store = await openStore(t, dir);
  const pts: StorePoint[] = [];
  // "old": 5 minutes of points only before the cutoff; "live": 10 minutes across it.
  for (let i = 0; i < 30; i++) pts.push(pt('m', { s: 'old' }, T0 + i * 10_000, i));
  for (let i = 0; i < 60; i++) pts.push(pt('m', { s: 'live' }, T0 + i * 10_000, i));
  await store.write(pts.slice(0, 45));
  await store.flush();
  await store.write(pts.slice(45)); // some still pending when retention starts
  const cutoff = T0 + 5 * MIN + 30_000; // mid-bucket: 33 live points are older
  t.deepEqual(await store.applyRetention(cutoff), { deletedPoints: 30 + 33, deletedSeries: 1 });
  t.deepEqual(await store.stats(), { series: 1, points: 27, samples: 0 });
  const r = await store.query({ metric: 'm', fromMs: 0, toMs: T0 + 20 * MIN });
  t.is(r.length, 1);
  t.deepEqual(r[0]?.tags, { s: 'live' });
  t.deepEqual(
    r[0]?.timestampsMs,
    Array.from({ length: 27 }, (_, i) => T0 + (33 + i) * 10_000),
  );
  t.deepEqual(
    (await store.listSeries({ limit: 10 })).map((s) => s.tags.s),
    ['live'],
  );
  t.deepEqual(await store.applyRetention(cutoff), { deletedPoints: 0, deletedSeries: 0 });

  // A removed series comes back as a new one when written again.
  await store.write([pt('m', { s: 'old' }, T0 + 20 * MIN, 7)]);
  t.deepEqual(await store.stats(), { series: 2, points: 28, samples: 0 });
  await store.close();
  store = await openStore(t, dir);
  t.deepEqual(await store.stats(), { series: 2, points: 28, samples: 0 });
  const again = await store.query({ metric: 'm', tags: { s: 'old' }, fromMs: 0, toMs: T0 + 30 * MIN });
  t.deepEqual(again[0]?.values, [7]);
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

test('meta ops commit atomically with the points; a rejected write commits neither', async (t) => {
  const dir = await tempDir(t);
  let store = await openStore(t, dir);
  await store.write([pt('m', {}, T0, 1)], {
    meta: [putMeta('relay/r1', 'batches 1-5'), putMeta('relay/r2', 'x')],
  });
  t.is((await store.getMeta('relay/r1'))?.toString(), 'batches 1-5');
  await rejectsWith(
    t,
    store.write([pt('m', {}, T0 + 1000, 2), pt('m', {}, -1, 3)], {
      meta: [putMeta('relay/r1', 'batches 1-9')],
    }),
    StoreErrorCode.BAD_POINT,
  );
  t.is((await store.getMeta('relay/r1'))?.toString(), 'batches 1-5');
  t.deepEqual((await store.query({ metric: 'm', fromMs: 0, toMs: T0 + MIN }))[0]?.values, [1]);

  // Meta-only writes, deletes, bytes values, prefix listing in key order.
  await store.write([], { meta: [delMeta('relay/r2'), putMeta('relay/r0', Uint8Array.of(0, 255))] });
  t.is(await store.getMeta('relay/r2'), undefined);
  await store.close();
  store = await openStore(t, dir);
  t.deepEqual(
    (await store.listMeta('relay/')).map(([k, v]) => [k, v.toString('hex')]),
    [
      ['relay/r0', '00ff'],
      ['relay/r1', Buffer.from('batches 1-5').toString('hex')],
    ],
  );
  t.deepEqual(await store.listMeta('other/'), []);
});

test('group commit: concurrent writes all land, meta ops apply in call order', async (t) => {
  const dir = await tempDir(t);
  let store = await openStore(t, dir);
  const writes: Array<Promise<void>> = [];
  for (let w = 0; w < 40; w++) {
    const pts = Array.from({ length: 100 }, (_, i) =>
      pt('m', { w: String(w % 4) }, T0 + (w * 100 + i) * 1000, w),
    );
    writes.push(store.write(pts, { meta: [putMeta('last', String(w))] }));
  }
  await Promise.all(writes);
  t.is((await store.getMeta('last'))?.toString(), '39');
  await store.close();
  store = await openStore(t, dir);
  t.deepEqual(await store.stats(), { series: 4, points: 4000, samples: 0 });
  const r = await store.query({ metric: 'm', tags: { w: '3' }, fromMs: 0, toMs: T0 + 10_000 * MIN });
  t.is(r[0]?.values.length, 1000);
  t.true(r[0]?.values.every((v) => v % 4 === 3));
});

test('close waits for queued writes and folds them, so reopening replays nothing', async (t) => {
  const dir = await tempDir(t);
  let store = await openStore(t, dir);
  const writes = Array.from({ length: 20 }, (_, w) => store.write([pt('m', { w: String(w) }, T0, w)]));
  const closing = store.close();
  await rejectsWith(t, store.write([pt('m', {}, T0, 1)]), StoreErrorCode.CLOSED);
  await Promise.all(writes);
  await closing;
  await rejectsWith(t, store.query({ metric: 'm', fromMs: 0, toMs: 1 }), StoreErrorCode.CLOSED);
  store = await openStore(t, dir);
  t.deepEqual(store.counters(), { series: 20, points: 20, pendingPoints: 0 });
});

test('close waits for reads issued just before it: they answer in full', async (t) => {
  const store = await openStore(t, await tempDir(t));
  const hosts = Array.from({ length: 300 }, (_, i) => ({ host: `h${i}` }));
  await store.write(
    hosts.map((tags, i) => pt('m', tags, T0, i)),
    { meta: hosts.map((h) => putMeta(`meta/${h.host}`, h.host)) },
  );
  const reads = [
    store.query({ metric: 'm', fromMs: 0, toMs: T0 + MIN }),
    store.listSeries({ limit: 1000 }),
    store.getMeta('meta/h7'),
    store.listMeta('meta/'),
    store.stats(),
  ];
  await store.close();
  const results = await Promise.allSettled(reads);
  // Before the fix the query and the listing failed with OWL_ERR_STORE_IO "Database is not open".
  t.deepEqual(
    results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok')),
    ['ok', 'ok', 'ok', 'ok', 'ok'],
  );
  t.is(((await reads[0]) as unknown[]).length, 300);
  t.is(((await reads[1]) as unknown[]).length, 300);
});

test('bad input is rejected with coded errors', async (t) => {
  const store = await openStore(t, await tempDir(t), { maxWritePoints: 10 });
  const bad: unknown[] = [
    null,
    { metric: '', tags: {}, timestampMs: T0, value: 1 },
    { metric: 'a\u0000b', tags: {}, timestampMs: T0, value: 1 },
    { metric: 7, tags: {}, timestampMs: T0, value: 1 },
    { metric: 'x'.repeat(257), tags: {}, timestampMs: T0, value: 1 },
    { metric: 'm', tags: null, timestampMs: T0, value: 1 },
    { metric: 'm', tags: { a: 1 }, timestampMs: T0, value: 1 },
    { metric: 'm', tags: { 'a\u0000': 'b' }, timestampMs: T0, value: 1 },
    { metric: 'm', tags: { a: 'b\u0000' }, timestampMs: T0, value: 1 },
    { metric: 'm', tags: { '': 'b' }, timestampMs: T0, value: 1 },
    { metric: 'm', tags: {}, timestampMs: -1, value: 1 },
    { metric: 'm', tags: {}, timestampMs: 1.5, value: 1 },
    { metric: 'm', tags: {}, timestampMs: Number.NaN, value: 1 },
    { metric: 'm', tags: {}, timestampMs: T0, value: Number.NaN },
    { metric: 'm', tags: {}, timestampMs: T0, value: Infinity },
    { metric: 'm', tags: {}, timestampMs: T0, value: '1' },
  ];
  for (const p of bad) await rejectsWith(t, store.write([p as StorePoint]), StoreErrorCode.BAD_POINT);
  await rejectsWith(
    t,
    store.write(Array.from({ length: 11 }, (_, i) => pt('m', {}, T0 + i, 1))),
    StoreErrorCode.WRITE_TOO_LARGE,
  );
  for (const op of [
    { type: 'put', key: '', value: 'x' },
    { type: 'put', key: 'k', value: 5 },
    { type: 'inc', key: 'k' },
  ]) {
    await rejectsWith(t, store.write([], { meta: [op as never] }), StoreErrorCode.BAD_META);
  }
  const badQueries: unknown[] = [
    { metric: '', fromMs: 0, toMs: 1 },
    { metric: 'm', fromMs: 2, toMs: 1 },
    { metric: 'm', fromMs: 0.5, toMs: 1 },
    { metric: 'm', fromMs: 0, toMs: 1, limit: -1 },
  ];
  for (const q of badQueries) await rejectsWith(t, store.query(q as never), StoreErrorCode.BAD_QUERY);
  await rejectsWith(t, store.listSeries({ limit: -1 }), StoreErrorCode.BAD_QUERY);
  await rejectsWith(t, store.applyRetention(-5), StoreErrorCode.BAD_QUERY);
  t.deepEqual(await store.stats(), { series: 0, points: 0, samples: 0 });
});

test('listSeries by metric, by prefix, with a limit; query limit and maxSeries', async (t) => {
  const store = await openStore(t, await tempDir(t));
  const pts: StorePoint[] = [];
  for (const metric of ['cpu.user', 'cpu.system', 'mem.used']) {
    for (let h = 0; h < 3; h++)
      for (let i = 0; i < 4; i++) pts.push(pt(metric, { host: `h${h}` }, T0 + i * 1000, i));
  }
  await store.write(pts);
  t.is((await store.listSeries({ limit: 100 })).length, 9);
  t.deepEqual(
    (await store.listSeries({ metric: 'cpu.user', limit: 2 })).map((s) => s.tags.host),
    ['h0', 'h1'],
  );
  t.deepEqual(
    [...new Set((await store.listSeries({ prefix: 'cpu.', limit: 100 })).map((s) => s.metric))],
    ['cpu.system', 'cpu.user'],
  );
  t.deepEqual(await store.listSeries({ metric: 'cpu', limit: 100 }), []);
  const limited = await store.query({ metric: 'mem.used', fromMs: 0, toMs: T0 + MIN, limit: 6 });
  t.deepEqual(
    limited.map((s) => s.values),
    [
      [0, 1, 2, 3],
      [0, 1],
    ],
  );
  t.is((await store.query({ metric: 'mem.used', fromMs: 0, toMs: T0 + MIN, maxSeries: 2 })).length, 2);
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
