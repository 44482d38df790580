/**
 * Forwarding conformance (upstream/store/types.ts: readForward, ackForward,
 * forwardStats), run against both backends by store-conformance-rocks.test.ts
 * and store-conformance-worker.test.ts with the harness of
 * store-conformance.ts. What needs the database itself (records deleted on
 * disk) or a crash is in store-forward.test.ts.
 */
import type { TestFn } from 'ava';
import {
  StoreErrorCode,
  putMeta,
  type ForwardOptions,
  type ForwardRecord,
  type SampleStore,
} from '../../upstream/index.js';
import { decodeRemoteWrite } from '../../upstream/sinks/index.js';
import { MIN, pt, rejectsWith, T0 } from '../helpers/store-fixture.js';
import type { StoreHarnessFactory, StoreOpenOptions } from './store-conformance.js';

function fwd(
  sinks: string[],
  maxBytes = 1e9,
  policy: ForwardOptions['policy'] = 'drop-oldest',
): ForwardOptions {
  return { sinks, maxBytes, policy };
}

/** Every record `sink` has not accepted, read in pieces of `maxPoints`. */
export async function readAll(store: SampleStore, sink: string, maxPoints = 1000): Promise<ForwardRecord[]> {
  const out: ForwardRecord[] = [];
  let after = -1;
  for (;;) {
    const b = await store.readForward(sink, after, maxPoints);
    if (b.records.length === 0) return out;
    out.push(...b.records);
    after = b.lastSeq;
  }
}

/** Records as [metric, host, timestampMs, value] rows, to compare. */
function rows(records: ForwardRecord[]): Array<Array<string | number | undefined>> {
  return records.flatMap((r) => r.points.map((p) => [p.metric, p.tags.host, p.timestampMs, p.value]));
}

/** Write record `i`: one point on each of two series, the same shape (and log bytes) every time. */
function writeRecord(store: SampleStore, i: number, meta?: string): Promise<void> {
  return store.write(
    [pt('m', { host: 'a' }, T0 + i * 1000, i), pt('m', { host: 'b' }, T0 + i * 1000, 1000 + i)],
    {
      ...(meta === undefined ? {} : { meta: [putMeta('last', meta)] }),
    },
  );
}

export function storeForwardConformance<S extends SampleStore>(
  test: TestFn,
  name: string,
  factory: StoreHarnessFactory<S>,
): void {
  async function withStore(
    options: StoreOpenOptions,
    body: (
      store: S,
      reopen: (o?: StoreOpenOptions) => Promise<S>,
      flush: (s: S) => Promise<void>,
    ) => Promise<void>,
  ): Promise<void> {
    const h = await factory();
    let store: S | undefined;
    try {
      store = await h.open(options);
      const reopen = async (o: StoreOpenOptions = options): Promise<S> => {
        await store?.close();
        store = undefined;
        store = await h.open(o);
        return store;
      };
      await body(store, reopen, (s) => h.flush(s));
    } finally {
      await store?.close().catch(() => undefined);
      await h.cleanup();
    }
  }

  test(`${name}: forwarding: records in commit order, names and tags resolved, whole records per read`, async (t) => {
    await withStore({ forward: fwd(['vm']) }, async (store, _reopen, flush) => {
      await store.write([pt('cpu', { host: 'h1', dc: 'x' }, T0, 1), pt('mem', { host: 'h1' }, T0, 2)]);
      await Promise.all([
        store.write([pt('cpu', { host: 'h2' }, T0 + 5, 3)]),
        store.write([pt('cpu', { host: 'h1', dc: 'x' }, T0 + 1, 4)]),
      ]);
      await store.write([], { meta: [putMeta('only', 'meta')] }); // no record
      await flush(store); // folded into blocks, still held for the sink
      await store.write([pt('cpu', { host: 'h3' }, T0 - 7, 5.5)]);
      const all = await readAll(store, 'vm');
      t.deepEqual(
        all.flatMap((r) => r.points),
        [
          pt('cpu', { host: 'h1', dc: 'x' }, T0, 1),
          pt('mem', { host: 'h1' }, T0, 2),
          pt('cpu', { host: 'h2' }, T0 + 5, 3),
          pt('cpu', { host: 'h1', dc: 'x' }, T0 + 1, 4),
          pt('cpu', { host: 'h3' }, T0 - 7, 5.5),
        ],
      );
      const seqs = all.map((r) => r.seq);
      t.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
        'ascending seqs',
      );
      t.true(all.length >= 3 && all.length <= 4, `one record per group commit: ${all.length}`);
      // maxPoints: whole records, at least one.
      const one = await store.readForward('vm', -1, 1);
      t.is(one.records.length, 1);
      t.is(one.records[0]?.points.length, 2);
      t.is(one.lastSeq, one.records[0]!.seq);
      const rest = await store.readForward('vm', one.lastSeq, 1000);
      t.deepEqual(rest.records, all.slice(1));
      const none = await store.readForward('vm', all[all.length - 1]!.seq, 1000);
      t.deepEqual(none, { records: [], lastSeq: all[all.length - 1]!.seq });
      // Queries are unaffected.
      const q = await store.query({ metric: 'cpu', tags: { host: 'h1' }, fromMs: 0, toMs: T0 + MIN });
      t.deepEqual(q[0]?.values, [1, 4]);
      await rejectsWith(t, store.readForward('nope', -1, 10), StoreErrorCode.BAD_QUERY);
      await rejectsWith(t, store.readForward('vm', -1, 0), StoreErrorCode.BAD_QUERY);
      await rejectsWith(t, store.ackForward('nope', 0), StoreErrorCode.BAD_QUERY);
      await rejectsWith(t, store.ackForward('vm', 1e6), StoreErrorCode.BAD_QUERY);
    });
  });

  test(`${name}: forwarding: readForwardEncoded gives the same records as one body of the sink's encoding`, async (t) => {
    const encodings = {
      vm: { type: 'remote_write', naming: { prefix: 'owl_', extraLabels: {}, maxLabelsPerSeries: 30 } },
    } as const;
    await withStore({ forward: { ...fwd(['vm', 'bare']), encodings } }, async (store) => {
      await store.write([pt('cpu', { host: 'h1' }, T0, 1), pt('cpu', { host: 'h2' }, T0, 2)]);
      await store.write([pt('cpu', { host: 'h1' }, T0 + 1000, 3), pt('cpu', { _bad: 'x' }, T0, 4)]);
      const plain = await store.readForward('vm', -1, 1000);
      const enc = await store.readForwardEncoded('vm', -1, 1000);
      t.like(enc, { records: plain.records.length, points: 4, samples: 3, lastSeq: plain.lastSeq });
      t.deepEqual(enc.dropped, { bad_label_name: 1 });
      t.deepEqual(
        decodeRemoteWrite(enc.parts[0]!.body).map((s) => [s.labels.map((l) => l.value).join(','), s.samples]),
        [
          [
            'owl_cpu,h1',
            [
              { value: 1, timestamp: T0 },
              { value: 3, timestamp: T0 + 1000 },
            ],
          ],
          ['owl_cpu,h2', [{ value: 2, timestamp: T0 }]],
        ],
      );
      // Again from the first record's end: the series' kept encodings give the same bytes.
      const second = await store.readForwardEncoded('vm', plain.records[0]!.seq, 1000);
      t.is(second.samples, 1);
      t.deepEqual(decodeRemoteWrite(second.parts[0]!.body)[0]?.samples, [{ value: 3, timestamp: T0 + 1000 }]);
      const none = await store.readForwardEncoded('vm', plain.lastSeq, 1000);
      t.like(none, { records: 0, samples: 0, lastSeq: plain.lastSeq });
      await rejectsWith(t, store.readForwardEncoded('nope', -1, 10), StoreErrorCode.BAD_QUERY);
      await rejectsWith(t, store.readForwardEncoded('bare', -1, 10), StoreErrorCode.BAD_QUERY);
    });
  });

  test(`${name}: forwarding: not configured, reads are refused and stats say so`, async (t) => {
    await withStore({}, async (store) => {
      await store.write([pt('m', {}, T0, 1)]);
      await rejectsWith(t, store.readForward('vm', -1, 10), StoreErrorCode.BAD_QUERY);
      t.is(await store.forwardStats(), undefined);
    });
  });

  test(`${name}: forwarding: an ack moves the cursor, survives reopen and folding; a new sink starts at the end`, async (t) => {
    await withStore({ forward: fwd(['vm']) }, async (store, reopen, flush) => {
      for (let i = 0; i < 4; i++) await writeRecord(store, i);
      const all = await readAll(store, 'vm');
      t.is(all.length, 4);
      await store.ackForward('vm', all[1]!.seq);
      await store.ackForward('vm', all[0]!.seq); // never back
      t.deepEqual(await readAll(store, 'vm'), all.slice(2));
      let st = await store.forwardStats();
      t.like(st?.perSink[0], { name: 'vm', cursor: all[1]!.seq, lagRecords: 2, droppedRecords: 0 });
      await flush(store);
      store = await reopen({ forward: fwd(['vm', 'late']) });
      t.deepEqual(await readAll(store, 'vm'), all.slice(2), 'resent from the cursor after reopen');
      t.deepEqual(await readAll(store, 'late'), [], 'a new sink starts after the last committed record');
      await writeRecord(store, 9);
      const tail = await readAll(store, 'late');
      t.deepEqual(rows(tail), [
        ['m', 'a', T0 + 9000, 9],
        ['m', 'b', T0 + 9000, 1009],
      ]);
      t.true(tail[0]!.seq > all[3]!.seq, 'seqs are never reused');
      await store.ackForward('vm', tail[0]!.seq);
      await store.ackForward('late', tail[0]!.seq);
      st = await store.forwardStats();
      t.is(st?.logBytes, 0);
      t.deepEqual(
        st?.perSink.map((s) => [s.name, s.lagRecords, s.lagBytes]),
        [
          ['vm', 0, 0],
          ['late', 0, 0],
        ],
      );
      // Every point is still there for queries, through all of it.
      const q = await store.query({ metric: 'm', tags: { host: 'a' }, fromMs: 0, toMs: T0 + MIN });
      t.deepEqual(q[0]?.values, [0, 1, 2, 3, 9]);
      t.deepEqual(await store.stats(), { series: 2, points: 10, samples: 0 });
    });
  });

  test(`${name}: forwarding: two sinks at different speeds; folding keeps what the slow one has not accepted`, async (t) => {
    await withStore({ forward: fwd(['fast', 'slow']) }, async (store, reopen, flush) => {
      const got: ForwardRecord[] = [];
      for (let i = 0; i < 6; i++) {
        await writeRecord(store, i);
        const b = await store.readForward('fast', -1, 1000);
        got.push(...b.records);
        await store.ackForward('fast', b.lastSeq);
        if (i % 2 === 1) await flush(store);
      }
      t.is(got.length, 6);
      const st = await store.forwardStats();
      t.deepEqual(
        st?.perSink.map((s) => [s.name, s.lagRecords, s.lagPoints]),
        [
          ['fast', 0, 0],
          ['slow', 6, 12],
        ],
      );
      t.is(st?.perSink[1]?.lagBytes, st?.logBytes);
      t.true((st?.logBytes ?? 0) > 0);
      store = await reopen();
      const slow = await readAll(store, 'slow', 3);
      t.deepEqual(slow, got, 'the slow sink gets every record, in order, after folding and reopen');
      t.deepEqual(await store.stats(), { series: 2, points: 12, samples: 0 });
      await store.ackForward('slow', slow[2]!.seq);
      t.like((await store.forwardStats())?.perSink[1], { lagRecords: 3, lagPoints: 6 });
    });
  });

  test(`${name}: forwarding cap, drop-oldest: slow sinks move past the oldest records, counted per sink`, async (t) => {
    await withStore({ forward: fwd(['fast', 'slow']) }, async (store, reopen) => {
      await writeRecord(store, 0);
      const recordBytes = (await store.forwardStats())!.logBytes;
      t.true(recordBytes > 0);
      store = await reopen({ forward: fwd(['fast', 'slow'], Math.floor(recordBytes * 3.5)) });
      const seen: ForwardRecord[] = [];
      for (let i = 1; i < 8; i++) {
        await writeRecord(store, i);
        const b = await store.readForward('fast', -1, 1000);
        seen.push(...b.records);
        await store.ackForward('fast', b.lastSeq);
      }
      const st = await store.forwardStats();
      t.true(st!.logBytes <= recordBytes * 3.5, `${st!.logBytes} held`);
      // 8 records written, 3 fit: the slow sink lost the 5 oldest; the fast one nothing.
      t.like(st?.perSink[1], { name: 'slow', droppedRecords: 5, droppedPoints: 10, lagRecords: 3 });
      t.like(st?.perSink[0], { name: 'fast', droppedRecords: 0, droppedPoints: 0, lagRecords: 0 });
      t.is(st?.droppedRecords, 5);
      t.is(st?.droppedPoints, 10);
      const slow = await readAll(store, 'slow');
      t.deepEqual(
        rows(slow).map((r) => r[3]),
        [5, 1005, 6, 1006, 7, 1007],
        'the newest three',
      );
      t.is(seen.length, 8, 'the fast sink saw every record');
      store = await reopen();
      t.deepEqual(await readAll(store, 'slow'), slow, 'the drop is durable');
      // Queries keep every point: the cap is on forwarding only.
      t.deepEqual(await store.stats(), { series: 2, points: 16, samples: 0 });
    });
  });

  test(`${name}: forwarding cap, reject-new: writes fail with a retriable coded error, counted, until an ack`, async (t) => {
    await withStore({ forward: fwd(['vm']) }, async (store, reopen) => {
      await writeRecord(store, 0);
      const recordBytes = (await store.forwardStats())!.logBytes;
      store = await reopen({ forward: fwd(['vm'], Math.floor(recordBytes * 2.5), 'reject-new') });
      await writeRecord(store, 1, '1');
      const err = await rejectsWith(t, writeRecord(store, 2, '2'), StoreErrorCode.FORWARD_FULL);
      t.true(err.retriable);
      t.is((await store.getMeta('last'))?.toString(), '1', 'the refused write committed nothing');
      await store.write([], { meta: [putMeta('meta-only', 'ok')] }); // no record: not refused
      let st = await store.forwardStats();
      t.is(st?.rejectedWrites, 1);
      t.is(st?.perSink[0]?.lagRecords, 2);
      t.is(st?.droppedRecords, 0);
      const held = await readAll(store, 'vm');
      await store.ackForward('vm', held[0]!.seq);
      await writeRecord(store, 2, '2');
      st = await store.forwardStats();
      t.is(st?.perSink[0]?.lagRecords, 2);
      t.deepEqual(
        rows(await readAll(store, 'vm')).map((r) => r[3]),
        [1, 1001, 2, 1002],
      );
    });
  });

  test(`${name}: keepSamples false: only the log for the sinks; queries return nothing; acked records go`, async (t) => {
    await withStore({ forward: fwd(['vm']), keepSamples: false }, async (store, reopen, flush) => {
      for (let i = 0; i < 3; i++) await writeRecord(store, i, String(i));
      await flush(store);
      t.deepEqual(await store.query({ metric: 'm', fromMs: 0, toMs: T0 + MIN }), []);
      t.deepEqual(await store.stats(), { series: 2, points: 0, samples: 0 });
      t.is((await store.getMeta('last'))?.toString(), '2', 'meta is kept');
      t.is((await store.forwardStats())?.keepSamples, false);
      store = await reopen();
      const all = await readAll(store, 'vm');
      t.deepEqual(
        rows(all).map((r) => r[3]),
        [0, 1000, 1, 1001, 2, 1002],
      );
      t.deepEqual(await store.applyRetention(T0 + MIN), { deletedPoints: 0, deletedSeries: 0 });
      await store.ackForward('vm', all[2]!.seq);
      t.is((await store.forwardStats())?.logBytes, 0);
      store = await reopen();
      t.deepEqual(await readAll(store, 'vm'), []);
      t.deepEqual(await store.query({ metric: 'm', fromMs: 0, toMs: T0 + MIN }), []);
      await writeRecord(store, 3);
      const next = await readAll(store, 'vm');
      t.true(next[0]!.seq > all[2]!.seq, 'seqs are never reused');
    });
  });
}
