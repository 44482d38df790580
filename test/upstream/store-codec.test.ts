/* eslint-disable no-restricted-imports -- the store's own format tests reach its internal codecs */
import test from 'ava';
import fc from 'fast-check';
import { ByteReader, ByteWriter, unzigzag, zigzag } from '../../upstream/store/bytes.js';
import { blockCount, decodeBlock, encodeBlock } from '../../upstream/store/block-codec.js';
import { StoreErrorCode, parseSeriesKey, seriesKey } from '../../upstream/store/index.js';
import { beginLogRecord, pushLogPoint, readLogRecord } from '../../upstream/store/log-codec.js';
import { mergeSorted, normalize } from '../../upstream/store/pending.js';
import { SeriesIdCache } from '../../upstream/store/series-cache.js';
/* eslint-enable no-restricted-imports */

const BUCKET = 3_600_000;
const START = 1_767_225_600_000 - (1_767_225_600_000 % BUCKET);

/** Strictly ascending timestamps inside one bucket, with arbitrary values. */
const blockArb = fc
  .uniqueArray(fc.integer({ min: 0, max: BUCKET - 1 }), { minLength: 1, maxLength: 300 })
  .chain((offsets) => {
    const ts = offsets.sort((a, b) => a - b).map((o) => START + o);
    const value = fc.oneof(
      fc.double(),
      fc.integer({ min: -1_000_000, max: 1_000_000 }),
      fc.integer({ min: -100_000, max: 100_000 }).map((n) => n / 100),
      fc.constantFrom(0, -0, 2 ** 50, -(2 ** 50), 2 ** 53 - 1, Number.MIN_VALUE, Number.MAX_VALUE, 0.1 + 0.2),
    );
    return fc.tuple(fc.constant(ts), fc.array(value, { minLength: ts.length, maxLength: ts.length }));
  });

function encode(ts: number[], vals: number[]): Buffer {
  const w = new ByteWriter(16);
  encodeBlock(w, START, ts, vals, 0, ts.length);
  return w.copy();
}

function sameValues(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}

test('blocks round-trip every double bit-exactly, including -0, NaN and extremes', (t) => {
  fc.assert(
    fc.property(blockArb, ([ts, vals]) => {
      const buf = encode(ts, vals);
      const outTs: number[] = [];
      const outVals: number[] = [];
      const n = decodeBlock(buf, START, outTs, outVals);
      return n === ts.length && blockCount(buf) === n && sameValues(outTs, ts) && sameValues(outVals, vals);
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('a block decoded with a range returns exactly the points inside [from, to)', (t) => {
  fc.assert(
    fc.property(
      blockArb,
      fc.integer({ min: 0, max: BUCKET }),
      fc.integer({ min: 0, max: BUCKET }),
      ([ts, vals], a, b) => {
        const from = START + Math.min(a, b);
        const to = START + Math.max(a, b);
        const outTs: number[] = [];
        const outVals: number[] = [];
        decodeBlock(encode(ts, vals), START, outTs, outVals, from, to);
        const keep = ts.map((x, i) => [x, vals[i] as number] as const).filter(([x]) => x >= from && x < to);
        return (
          sameValues(
            outTs,
            keep.map(([x]) => x),
          ) &&
          sameValues(
            outVals,
            keep.map(([, v]) => v),
          )
        );
      },
    ),
    { numRuns: 200 },
  );
  t.pass();
});

test('typical series take a few bytes per point', (t) => {
  const ts = Array.from({ length: 360 }, (_, i) => START + i * 10_000 + (i % 3));
  const sizes = {
    constant: encode(
      ts,
      ts.map(() => 7),
    ).length,
    smallInts: encode(
      ts,
      ts.map((_, i) => 100 + (i % 5)),
    ).length,
    percent: encode(
      ts,
      ts.map((_, i) => Math.round((50 + Math.sin(i) * 10) * 100) / 100),
    ).length,
    counter: encode(
      ts,
      ts.map((_, i) => 1e12 + i * 123_457),
    ).length,
  };
  t.true(sizes.constant <= 360 * 2 + 16, JSON.stringify(sizes));
  t.true(sizes.smallInts <= 360 * 2 + 16, JSON.stringify(sizes));
  t.true(sizes.percent <= 360 * 3.5, JSON.stringify(sizes));
  t.true(sizes.counter <= 360 * 5, JSON.stringify(sizes));
});

test('damaged blocks throw CORRUPT instead of inventing points', (t) => {
  fc.assert(
    fc.property(blockArb, fc.nat(), ([ts, vals], cut) => {
      const buf = encode(ts, vals);
      const short = buf.subarray(0, cut % buf.length);
      try {
        decodeBlock(short, START, [], []);
        return false;
      } catch (err) {
        return (err as { code?: string }).code === StoreErrorCode.CORRUPT;
      }
    }),
    { numRuns: 300 },
  );
  for (const bad of [Buffer.from([0x00, 1, 0]), Buffer.from([0x1f, 1, 0]), Buffer.from([0x10, 0])]) {
    const err = t.throws(() => decodeBlock(bad, START, [], []));
    t.is((err as { code?: string } | undefined)?.code, StoreErrorCode.CORRUPT);
  }
});

test('varints and zigzag cover the safe integer range', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.maxSafeNat()),
      fc.array(fc.integer({ min: -(2 ** 51), max: 2 ** 51 })),
      (us, ss) => {
        const w = new ByteWriter(1);
        for (const u of us) w.varint(u);
        for (const s of ss) w.varint(zigzag(s));
        const r = new ByteReader(w.copy());
        return (
          us.every((u) => r.varint() === u) &&
          ss.every((s) => unzigzag(r.varint()) === s) &&
          r.remaining === 0
        );
      },
    ),
  );
  t.pass();
});

test('log records round-trip every point exactly and reject damage', (t) => {
  const pointArb = fc.record({
    id: fc.integer({ min: 1, max: 2 ** 32 - 1 }),
    ts: fc.integer({ min: 0, max: 2 ** 48 - 1 }),
    value: fc.oneof(
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.integer({ min: -(2 ** 49), max: 2 ** 49 }),
      fc.integer().map((n) => n / 1000),
      fc.constantFrom(-0, 2 ** 49 + 1, 0.1 + 0.2, Number.MAX_VALUE, -Number.MIN_VALUE),
    ),
  });
  fc.assert(
    fc.property(fc.array(pointArb, { maxLength: 50 }), fc.nat(), (pts, cut) => {
      const w = new ByteWriter(8);
      beginLogRecord(w, pts.length);
      let prev = 0;
      for (const p of pts) {
        pushLogPoint(w, prev, p.id, p.ts, p.value);
        prev = p.ts;
      }
      const buf = w.copy();
      const got: Array<{ id: number; ts: number; value: number }> = [];
      const n = readLogRecord(buf, (id, ts, value) => got.push({ id, ts, value }));
      const same =
        n === pts.length &&
        got.every((g, i) => g.id === pts[i]?.id && g.ts === pts[i]?.ts && Object.is(g.value, pts[i]?.value));
      let damaged = false;
      try {
        readLogRecord(buf.subarray(0, cut % buf.length), () => {});
      } catch (err) {
        damaged = (err as { code?: string }).code === StoreErrorCode.CORRUPT;
      }
      return same && damaged;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('series keys are canonical and parse back', (t) => {
  const tagName = fc.string({ minLength: 1, maxLength: 8 }).filter((s) => !s.includes('\u0000'));
  const tagValue = fc.string({ maxLength: 8 }).filter((s) => !s.includes('\u0000'));
  fc.assert(
    fc.property(tagName, fc.dictionary(tagName, tagValue, { maxKeys: 6 }), (metric, tags) => {
      const key = seriesKey(metric, tags);
      const reversed = Object.fromEntries(Object.entries(tags).reverse());
      const parsed = parseSeriesKey(key);
      return (
        key === seriesKey(metric, reversed) &&
        parsed.metric === metric &&
        JSON.stringify(Object.entries(parsed.tags).sort()) === JSON.stringify(Object.entries(tags).sort())
      );
    }),
  );
  t.deepEqual(parseSeriesKey(seriesKey('m', { __proto__: 'x' } as never)).tags, {});
  const own = parseSeriesKey(seriesKey('m', JSON.parse('{"__proto__":"x"}') as Record<string, string>));
  t.true(Object.hasOwn(own.tags, '__proto__'));
  t.is(seriesKey('m', {}), 'm\u0000');
});

test('normalize keeps the last write of each timestamp; mergeSorted lets the second list win', (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.integer())), (pts) => {
      const model = new Map<number, number>();
      for (const [ts, v] of pts) model.set(ts, v);
      const want = [...model].sort((a, b) => a[0] - b[0]);
      const got = normalize(
        pts.map((p) => p[0]),
        pts.map((p) => p[1]),
      );
      return (
        JSON.stringify(got) === JSON.stringify({ ts: want.map((p) => p[0]), vals: want.map((p) => p[1]) })
      );
    }),
  );
  t.deepEqual(mergeSorted([1, 2, 4], [10, 20, 40], [2, 3], [21, 31]), {
    ts: [1, 2, 3, 4],
    vals: [10, 21, 31, 40],
  });
});

test('the series id cache stays bounded and keeps recently used entries', (t) => {
  const cache = new SeriesIdCache(100);
  for (let i = 0; i < 1000; i++) {
    cache.set('tags', `m${i}`, i);
    t.is(cache.get('tags', 'm0'), 0); // used all the time: never evicted
  }
  let held = 0;
  for (let i = 0; i < 1000; i++) if (cache.get('tags', `m${i}`) !== undefined) held++;
  t.true(held <= 100, `held ${held}`);
  cache.delete('tags', 'm0');
  t.is(cache.get('tags', 'm0'), undefined);
});
