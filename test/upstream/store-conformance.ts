/**
 * The SampleStore conformance suite (upstream/store/types.ts is the
 * contract), written once and run against every backend, as
 * test/relay/spool-conformance.ts is for spools:
 * store-conformance-rocks.test.ts (RocksSampleStore on the test's thread) and
 * store-conformance-worker.test.ts (WorkerSampleStore). A harness opens
 * stores on one location; a reopen must find every acknowledged write.
 * What only one backend has (the checkpoint timers, a worker's death, the
 * packing of points) stays in store.test.ts and worker-store.test.ts.
 */
import type { TestFn } from 'ava';
import {
  StoreErrorCode,
  delMeta,
  putMeta,
  type ForwardOptions,
  type SampleStore,
  type StorePoint,
} from '../../upstream/index.js';
import { MIN, pt, rejectsWith, T0 } from '../helpers/store-fixture.js';

export interface StoreOpenOptions {
  /** Most points one write takes (SampleStore.maxWritePoints). */
  maxWritePoints?: number;
  /** Forwarding sinks and their cap (store-forward-conformance.ts). */
  forward?: ForwardOptions;
  keepSamples?: boolean;
}

export interface StoreHarness<S extends SampleStore = SampleStore> {
  /** Open a store on the harness's location (again, after close). Blocks of a minute, so tests span several. */
  open(options?: StoreOpenOptions): Promise<S>;
  /** Fold buffered writes into storage, so that cases are checked before and after it. */
  flush(store: S): Promise<void>;
  cleanup(): Promise<void>;
}

export type StoreHarnessFactory<S extends SampleStore = SampleStore> = () => Promise<StoreHarness<S>>;

/** The points of series `metric`+`tags` in [0, T0 + 1 day), or undefined when it has none. */
async function seriesOf(
  store: SampleStore,
  metric: string,
  tags: Record<string, string>,
): Promise<{ ts: number[]; values: number[] } | undefined> {
  const r = await store.query({ metric, tags, fromMs: 0, toMs: T0 + 1440 * MIN });
  const same = r.filter((s) => Object.keys(s.tags).length === Object.keys(tags).length);
  return same[0] && { ts: same[0].timestampsMs, values: same[0].values };
}

export function storeConformance<S extends SampleStore>(
  test: TestFn,
  name: string,
  factory: StoreHarnessFactory<S>,
): void {
  /** Run `body` on a fresh store; `reopen` closes it and opens the location again. Everything is closed and removed after. */
  async function withStore(
    options: StoreOpenOptions,
    body: (store: S, reopen: () => Promise<S>, h: StoreHarness<S>) => Promise<void>,
  ): Promise<void> {
    const h = await factory();
    let store: S | undefined;
    try {
      store = await h.open(options);
      const reopen = async (): Promise<S> => {
        await store?.close();
        store = undefined;
        store = await h.open(options);
        return store;
      };
      await body(store, reopen, h);
    } finally {
      await store?.close().catch(() => undefined);
      await h.cleanup();
    }
  }

  test(`${name}: round trip: exact values, one series per metric and tag set, time order, before and after folding`, async (t) => {
    await withStore({}, async (store, _reopen, h) => {
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
      // Out of order inside a write and across writes, across several buckets; one shared tags object.
      const pts = values.map((v, i) => pt('cpu', a, T0 + ((i * 7) % values.length) * 25_000, v));
      await store.write(pts.slice(0, 6));
      await store.write(pts.slice(6));
      // Own tags objects, in another key order: still one series per tag set.
      await store.write([pt('cpu', { dc: 'x', host: 'h2' }, T0, 5), pt('cpu2', { ...a }, T0, 6)]);
      await store.write([pt('cpu', { host: 'h2', dc: 'x' }, T0 + 1000, 7)]);
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
        const all = await store.query({ metric: 'cpu', fromMs: 0, toMs: T0 + 10 * MIN });
        t.deepEqual(
          all.map((s) => [s.tags.host, s.values.length]),
          [
            ['h1', values.length],
            ['h2', 2],
          ],
          when,
        );
        // [from, to): `to` is exclusive.
        const part = await store.query({
          metric: 'cpu',
          tags: a,
          fromMs: expected[2]!.timestampMs,
          toMs: expected[5]!.timestampMs,
        });
        t.deepEqual(
          part[0]?.timestampsMs,
          expected.slice(2, 5).map((p) => p.timestampMs),
          when,
        );
      };
      await check('as written');
      await h.flush(store);
      await check('folded');
      t.deepEqual(await store.stats(), { series: 3, points: values.length + 3, samples: 0 });
    });
  });

  test(`${name}: tag order does not matter; the tag filter is an exact-match subset`, async (t) => {
    await withStore({}, async (store) => {
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
  });

  test(`${name}: a rewritten timestamp keeps the last value and counts once, as written, folded and reopened`, async (t) => {
    await withStore({}, async (store, reopen, h) => {
      const tags = { host: 'h' };
      await store.write([pt('m', tags, T0, 1), pt('m', tags, T0, 2), pt('m', tags, T0 + 10_000, 3)]);
      await store.write([pt('m', tags, T0 + 10_000, 4)]);
      t.deepEqual((await seriesOf(store, 'm', tags))?.values, [2, 4]);
      t.deepEqual(await store.stats(), { series: 1, points: 2, samples: 0 });
      await h.flush(store);
      await store.write([pt('m', tags, T0, 5)]); // over a folded point
      t.deepEqual((await seriesOf(store, 'm', tags))?.values, [5, 4]);
      t.deepEqual(await store.stats(), { series: 1, points: 2, samples: 0 });
      store = await reopen();
      t.deepEqual((await seriesOf(store, 'm', tags))?.values, [5, 4]);
      t.deepEqual(await store.stats(), { series: 1, points: 2, samples: 0 });
    });
  });

  test(`${name}: meta ops commit atomically with the points; byte values; getMeta and listMeta give Buffers`, async (t) => {
    await withStore({}, async (store, reopen) => {
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
      t.is((await store.getMeta('relay/r1'))?.toString(), 'batches 1-5', 'the refused write put no meta');
      t.deepEqual((await seriesOf(store, 'm', {}))?.values, [1], 'and no point');

      // Meta-only writes, deletes, byte values (a plain Uint8Array and a Buffer on a shared pool slab).
      const pooled = Buffer.from('pooled value');
      t.true(pooled.byteLength < pooled.buffer.byteLength, 'the test needs a Buffer on a shared slab');
      await store.write([], {
        meta: [delMeta('relay/r2'), putMeta('relay/r0', Uint8Array.of(0, 255)), putMeta('relay/r3', pooled)],
      });
      t.is(await store.getMeta('relay/r2'), undefined);
      t.is(await store.getMeta('never'), undefined);
      store = await reopen();
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
      t.deepEqual((await store.listMeta('')).length, 3);
    });
  });

  test(`${name}: concurrent writes all land; their meta ops apply in call order`, async (t) => {
    await withStore({}, async (store, reopen) => {
      const tags = Array.from({ length: 4 }, (_, w) => ({ w: String(w) }));
      const writes: Array<Promise<void>> = [];
      for (let w = 0; w < 40; w++) {
        const pts = Array.from({ length: 100 }, (_, i) =>
          pt('m', tags[w % 4]!, T0 + (w * 100 + i) * 1000, w),
        );
        writes.push(store.write(pts, { meta: [putMeta('last', String(w))] }));
      }
      await Promise.all(writes);
      t.is((await store.getMeta('last'))?.toString(), '39');
      store = await reopen();
      t.deepEqual(await store.stats(), { series: 4, points: 4000, samples: 0 });
      const r = await seriesOf(store, 'm', { w: '3' });
      t.is(r?.values.length, 1000);
      t.true(r?.values.every((v) => v % 4 === 3));
    });
  });

  test(`${name}: a refused write commits nothing, its points nor its meta; other writes of the turn land`, async (t) => {
    await withStore({ maxWritePoints: 10 }, async (store) => {
      t.is(store.maxWritePoints, 10);
      const good = pt('m', { h: 'good' }, T0, 1);
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
      const meta = [putMeta('k', 'refused')];
      for (const p of bad) {
        await rejectsWith(t, store.write([good, p as StorePoint], { meta }), StoreErrorCode.BAD_POINT);
      }
      await rejectsWith(t, store.write({ length: 1 } as never), StoreErrorCode.BAD_POINT);
      const eleven = Array.from({ length: 11 }, (_, i) => pt('m', {}, T0 + i, 1));
      await rejectsWith(t, store.write(eleven, { meta }), StoreErrorCode.WRITE_TOO_LARGE);
      await store.write(eleven.slice(0, 10)); // exactly the limit
      for (const op of [
        { type: 'put', key: '', value: 'x' },
        { type: 'put', key: 'x'.repeat(1025), value: 'x' },
        { type: 'put', key: 'k', value: 5 },
        { type: 'inc', key: 'k' },
      ]) {
        await rejectsWith(t, store.write([good], { meta: [...meta, op as never] }), StoreErrorCode.BAD_META);
      }
      t.deepEqual(await store.stats(), { series: 1, points: 10, samples: 0 }, 'only the write at the limit');
      t.is(await store.getMeta('k'), undefined);
      t.is(await seriesOf(store, 'm', { h: 'good' }), undefined);

      // Refused and accepted writes issued in one turn: each settles on its own.
      const ok1 = store.write([pt('m', { h: 'a' }, T0, 1)]);
      const refused = store.write([pt('m', { h: 'b' }, T0, 2), pt('m', { h: 'b' }, -5, 3)]);
      const ok2 = store.write([pt('m', { h: 'a' }, T0 + 1, 4)], { meta: [putMeta('k', 'ok2')] });
      await rejectsWith(t, refused, StoreErrorCode.BAD_POINT);
      await Promise.all([ok1, ok2]);
      t.deepEqual((await seriesOf(store, 'm', { h: 'a' }))?.values, [1, 4]);
      t.is(await seriesOf(store, 'm', { h: 'b' }), undefined);
      t.is((await store.getMeta('k'))?.toString(), 'ok2');
    });
  });

  test(`${name}: bad query, listing, retention and meta arguments are refused with coded errors`, async (t) => {
    await withStore({}, async (store) => {
      const badQueries: unknown[] = [
        null,
        { metric: '', fromMs: 0, toMs: 1 },
        { metric: 'a\u0000b', fromMs: 0, toMs: 1 },
        { metric: 'm', fromMs: 2, toMs: 1 },
        { metric: 'm', fromMs: 0.5, toMs: 1 },
        { metric: 'm', fromMs: 0, toMs: 1, limit: -1 },
        { metric: 'm', fromMs: 0, toMs: 1, maxSeries: -1 },
      ];
      for (const q of badQueries) await rejectsWith(t, store.query(q as never), StoreErrorCode.BAD_QUERY);
      await rejectsWith(t, store.listSeries({ limit: -1 }), StoreErrorCode.BAD_QUERY);
      await rejectsWith(t, store.listSeries({ limit: 1.5 }), StoreErrorCode.BAD_QUERY);
      await rejectsWith(t, store.listSeries({ metric: '', limit: 1 }), StoreErrorCode.BAD_QUERY);
      await rejectsWith(t, store.listSeries({ prefix: 7 as never, limit: 1 }), StoreErrorCode.BAD_QUERY);
      await rejectsWith(t, store.applyRetention(-5), StoreErrorCode.BAD_QUERY);
      await rejectsWith(t, store.applyRetention(1.5), StoreErrorCode.BAD_QUERY);
      await rejectsWith(t, store.getMeta(''), StoreErrorCode.BAD_META);
      await rejectsWith(t, store.listMeta(7 as never), StoreErrorCode.BAD_QUERY);
      t.deepEqual(await store.stats(), { series: 0, points: 0, samples: 0 });
    });
  });

  test(`${name}: stats: series, points, and samples (the points of writes marked countSamples, since open)`, async (t) => {
    await withStore({}, async (store, reopen) => {
      t.deepEqual(await store.stats(), { series: 0, points: 0, samples: 0 });
      await store.write([pt('m', { h: 'a' }, T0, 1), pt('m', { h: 'a' }, T0 + 1000, 2)], {
        countSamples: true,
      });
      await store.write([pt('m', { h: 'b' }, T0, 3)]); // not marked: a point, no sample
      await store.write([pt('m', { h: 'c' }, T0, 4)], { meta: [putMeta('k', 'v')], countSamples: true });
      t.deepEqual(await store.stats(), { series: 3, points: 4, samples: 3 });
      // The same (series, timestamp) again: one more sample, no more points.
      await store.write([pt('m', { h: 'c' }, T0, 5)], { countSamples: true });
      t.deepEqual(await store.stats(), { series: 3, points: 4, samples: 4 });
      await store.write([pt('m', { h: 'c' }, T0 + 1000, 6)], { countSamples: false });
      t.deepEqual(await store.stats(), { series: 3, points: 5, samples: 4 });
      // Counted since the store was opened: series and points persist, samples start again.
      store = await reopen();
      t.deepEqual(await store.stats(), { series: 3, points: 5, samples: 0 });
    });
  });

  test(`${name}: listSeries by metric, by prefix, with a limit; query limit and maxSeries`, async (t) => {
    await withStore({}, async (store) => {
      const pts: StorePoint[] = [];
      for (const metric of ['cpu.user', 'cpu.system', 'mem.used']) {
        for (let h = 0; h < 3; h++)
          for (let i = 0; i < 4; i++) pts.push(pt(metric, { host: `h${h}` }, T0 + i * 1000, i));
      }
      await store.write(pts);
      const all = await store.listSeries({ limit: 100 });
      t.deepEqual(
        all.map((s) => `${s.metric}/${s.tags.host}`),
        [
          'cpu.system/h0',
          'cpu.system/h1',
          'cpu.system/h2',
          'cpu.user/h0',
          'cpu.user/h1',
          'cpu.user/h2',
        ].concat(['mem.used/h0', 'mem.used/h1', 'mem.used/h2']),
      );
      t.deepEqual(
        (await store.listSeries({ metric: 'cpu.user', limit: 2 })).map((s) => s.tags),
        [{ host: 'h0' }, { host: 'h1' }],
      );
      t.deepEqual(
        [...new Set((await store.listSeries({ prefix: 'cpu.', limit: 100 })).map((s) => s.metric))],
        ['cpu.system', 'cpu.user'],
      );
      t.deepEqual(await store.listSeries({ metric: 'cpu', limit: 100 }), []);
      t.deepEqual(await store.listSeries({ limit: 0 }), []);
      t.is((await store.listSeries({ limit: 1 })).length, 1);
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
  });

  test(`${name}: retention deletes old points, trims blocks, removes emptied series, keeps counts right`, async (t) => {
    await withStore({}, async (store, reopen, h) => {
      const pts: StorePoint[] = [];
      // "old": 5 minutes of points only before the cutoff; "live": 10 minutes across it.
      for (let i = 0; i < 30; i++) pts.push(pt('m', { s: 'old' }, T0 + i * 10_000, i));
      for (let i = 0; i < 60; i++) pts.push(pt('m', { s: 'live' }, T0 + i * 10_000, i));
      await store.write(pts.slice(0, 45));
      await h.flush(store);
      await store.write(pts.slice(45)); // some not folded yet when retention starts
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
      t.deepEqual(await store.applyRetention(cutoff), { deletedPoints: 0, deletedSeries: 0 }, 'idempotent');

      // A removed series comes back as a new one when written again.
      await store.write([pt('m', { s: 'old' }, T0 + 20 * MIN, 7)]);
      t.deepEqual(await store.stats(), { series: 2, points: 28, samples: 0 });
      store = await reopen();
      t.deepEqual(await store.stats(), { series: 2, points: 28, samples: 0 });
      t.deepEqual((await seriesOf(store, 'm', { s: 'old' }))?.values, [7]);
      t.is((await seriesOf(store, 'm', { s: 'live' }))?.ts[0], T0 + 33 * 10_000);
    });
  });

  test(`${name}: a reopen keeps every acknowledged write: points, series, meta, counts`, async (t) => {
    await withStore({}, async (store, reopen, h) => {
      const hosts = Array.from({ length: 5 }, (_, i) => ({ host: `h${i}` }));
      const pts = hosts.flatMap((tags, i) =>
        Array.from({ length: 50 }, (_, j) => pt('m', tags, T0 + j * 7000, i * j)),
      );
      await store.write(pts.slice(0, 100), { meta: [putMeta('mark', '1')] });
      await h.flush(store);
      // Written after the fold: a reopen finds these through the backend's recovery.
      await store.write(pts.slice(100), { meta: [putMeta('mark', '2'), putMeta('other', Uint8Array.of(1))] });
      const before = {
        stats: await store.stats(),
        series: await store.listSeries({ limit: 100 }),
        data: await store.query({ metric: 'm', fromMs: 0, toMs: T0 + 10 * MIN }),
        meta: (await store.listMeta('')).map(([k, v]) => [k, v.toString('hex')]),
      };
      t.deepEqual(before.stats, { series: 5, points: 250, samples: 0 });
      for (let round = 0; round < 2; round++) {
        store = await reopen();
        t.deepEqual(await store.stats(), before.stats);
        t.deepEqual(await store.listSeries({ limit: 100 }), before.series);
        t.deepEqual(await store.query({ metric: 'm', fromMs: 0, toMs: T0 + 10 * MIN }), before.data);
        t.deepEqual(
          (await store.listMeta('')).map(([k, v]) => [k, v.toString('hex')]),
          before.meta,
        );
      }
    });
  });

  test(`${name}: close waits for pending writes and retention; later calls fail with OWL_ERR_STORE_CLOSED`, async (t) => {
    await withStore({}, async (store, reopen) => {
      const writes = Array.from({ length: 20 }, (_, w) =>
        store.write([pt('m', { w: String(w) }, T0 + MIN, w)], { meta: [putMeta(`w/${w}`, String(w))] }),
      );
      const retention = store.applyRetention(T0);
      const settled = [...writes, retention].map(() => false);
      [...writes, retention].forEach((p, i) => void p.then(() => (settled[i] = true)).catch(() => {}));
      const closing = store.close();
      await rejectsWith(t, store.write([pt('m', {}, T0, 1)]), StoreErrorCode.CLOSED);
      await closing;
      t.true(
        settled.every((s) => s),
        'every call issued before close() had completed when it resolved',
      );
      await Promise.all(writes);
      t.deepEqual(await retention, { deletedPoints: 0, deletedSeries: 0 });
      await t.notThrowsAsync(store.close(), 'close twice is harmless');

      const after: Array<[string, () => Promise<unknown>]> = [
        ['write', () => store.write([pt('m', {}, T0, 1)])],
        ['meta-only write', () => store.write([], { meta: [putMeta('k', 'v')] })],
        ['query', () => store.query({ metric: 'm', fromMs: 0, toMs: 1 })],
        ['listSeries', () => store.listSeries({ limit: 1 })],
        ['stats', () => store.stats()],
        ['applyRetention', () => store.applyRetention(0)],
        ['getMeta', () => store.getMeta('k')],
        ['listMeta', () => store.listMeta('')],
      ];
      for (const [what, call] of after) {
        const err = await t.throwsAsync(call(), undefined, what);
        t.is((err as { code?: string } | undefined)?.code, StoreErrorCode.CLOSED, what);
      }

      store = await reopen();
      t.deepEqual(await store.stats(), { series: 20, points: 20, samples: 0 });
      t.deepEqual(
        (await store.listMeta('w/')).map(([k, v]) => [k, v.toString()]),
        Array.from({ length: 20 }, (_, w) => [`w/${w}`, String(w)]).sort(),
      );
    });
  });

  test(`${name}: close waits for reads issued before it: they answer in full`, async (t) => {
    await withStore({}, async (store) => {
      const hosts = Array.from({ length: 300 }, (_, i) => ({ host: `h${i}` }));
      await store.write(
        hosts.map((tags, i) => pt('m', tags, T0, i)),
        { meta: hosts.map((h) => putMeta(`meta/${h.host}`, h.host)) },
      );
      const query = store.query({ metric: 'm', fromMs: 0, toMs: T0 + MIN });
      const listed = store.listSeries({ limit: 1000 });
      const meta = store.getMeta('meta/h7');
      const metas = store.listMeta('meta/');
      const stats = store.stats();
      await store.close();
      const results = await Promise.allSettled([query, listed, meta, metas, stats]);
      t.deepEqual(
        results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok')),
        ['ok', 'ok', 'ok', 'ok', 'ok'],
      );
      t.is((await query).length, 300);
      t.is((await listed).length, 300);
      t.is((await meta)?.toString(), 'h7');
      t.is((await metas).length, 300);
      t.deepEqual(await stats, { series: 300, points: 300, samples: 0 });
    });
  });
}
