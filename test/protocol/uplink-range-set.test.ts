/**
 * RangeSet against a naive Set<number> model (fast-check), plus its
 * invariants: ranges sorted, disjoint and never touching.
 */
import test from 'ava';
import fc from 'fast-check';
import { RangeSet, UplinkError, UplinkErrorCode } from '../../protocol/index.js';

const MAX = 200;

type Op =
  | { op: 'add'; first: number; last: number }
  | { op: 'has'; first: number; last: number }
  | { op: 'overlaps'; first: number; last: number }
  | { op: 'covers'; seq: number }
  | { op: 'gap'; seq: number };

const range = fc
  .tuple(fc.integer({ min: 0, max: MAX }), fc.integer({ min: 0, max: 12 }))
  .map(([first, len]) => ({ first, last: first + len }));
const op: fc.Arbitrary<Op> = fc.oneof(
  range.map((r) => ({ op: 'add' as const, ...r })),
  range.map((r) => ({ op: 'add' as const, ...r })),
  range.map((r) => ({ op: 'has' as const, ...r })),
  range.map((r) => ({ op: 'overlaps' as const, ...r })),
  fc.integer({ min: 0, max: MAX + 20 }).map((seq) => ({ op: 'covers' as const, seq })),
  fc.integer({ min: 0, max: MAX + 20 }).map((seq) => ({ op: 'gap' as const, seq })),
);

/** Ranges must be ascending, with at least one missing number between neighbours. */
function assertCanonical(set: RangeSet): void {
  const ranges = set.toJSON();
  for (let i = 0; i < ranges.length; i++) {
    const [first, last] = ranges[i] as [number, number];
    if (first > last) throw new Error(`reversed range ${first}..${last}`);
    const next = ranges[i + 1];
    if (next !== undefined && next[0] <= last + 1) throw new Error(`ranges touch: ${JSON.stringify(ranges)}`);
  }
  if (set.size !== ranges.length) throw new Error('size is not the number of ranges');
}

test('RangeSet agrees with a Set<number> model', (t) => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const set = new RangeSet();
      const model = new Set<number>();
      const modelHas = (a: number, b: number): boolean => {
        for (let i = a; i <= b; i++) if (!model.has(i)) return false;
        return true;
      };
      for (const o of ops) {
        switch (o.op) {
          case 'add':
            set.add(o.first, o.last);
            for (let i = o.first; i <= o.last; i++) model.add(i);
            assertCanonical(set);
            break;
          case 'has':
            if (set.has(o.first, o.last) !== modelHas(o.first, o.last))
              throw new Error(`has ${o.first}..${o.last}`);
            break;
          case 'overlaps': {
            let any = false;
            for (let i = o.first; i <= o.last; i++) any ||= model.has(i);
            if (set.overlaps(o.first, o.last) !== any) throw new Error(`overlaps ${o.first}..${o.last}`);
            break;
          }
          case 'covers':
            if (set.covers(o.seq) !== model.has(o.seq)) throw new Error(`covers ${o.seq}`);
            break;
          case 'gap': {
            let n = o.seq;
            while (model.has(n)) n++;
            if (set.firstGapFrom(o.seq) !== n) throw new Error(`firstGapFrom ${o.seq}`);
            break;
          }
        }
      }
      if (set.count !== model.size) throw new Error(`count ${set.count} != ${model.size}`);
      const copy = RangeSet.fromJSON(JSON.parse(JSON.stringify(set)));
      if (JSON.stringify(copy) !== JSON.stringify(set)) throw new Error('fromJSON(toJSON()) differs');
    }),
    { interruptAfterTimeLimit: 4000, numRuns: 3000 },
  );
  t.pass();
});

test('adjacent ranges merge, so in-order numbers stay one range', (t) => {
  const set = new RangeSet();
  for (let i = 0; i < 1000; i += 10) set.add(i, i + 9);
  t.is(set.size, 1);
  t.deepEqual(set.toJSON(), [[0, 999]]);
  set.add(1005, 1010).add(2000, 2000);
  t.deepEqual(set.toJSON(), [
    [0, 999],
    [1005, 1010],
    [2000, 2000],
  ]);
  set.add(1000, 1004);
  t.deepEqual(set.toJSON(), [
    [0, 1010],
    [2000, 2000],
  ]);
  t.is(set.firstGapFrom(0), 1011);
  t.is(set.firstGapFrom(1500), 1500);
  t.true(set.has(5, 1010));
  t.false(set.has(5, 1011));
  t.true(set.overlaps(1011, 2000));
  t.false(set.overlaps(1011, 1999));
});

test('RangeSet works at the top of the safe integer range', (t) => {
  const top = Number.MAX_SAFE_INTEGER;
  const set = RangeSet.of([top - 5, top], [0, 0]);
  t.true(set.covers(top));
  t.is(set.firstGapFrom(0), 1);
  t.is(set.count, 7);
});

test('fromJSON merges any order and refuses bad input with a code', (t) => {
  t.deepEqual(
    RangeSet.fromJSON([
      [5, 6],
      [0, 2],
      [3, 4],
    ]).toJSON(),
    [[0, 6]],
  );
  for (const bad of [null, {}, [[1]], [[2, 1]], [[-1, 1]], [[0.5, 1]], [['0', 1]], [[0, 2 ** 53]]]) {
    const err = t.throws(() => RangeSet.fromJSON(bad));
    t.true(err instanceof UplinkError);
    t.is((err as UplinkError).code, UplinkErrorCode.BAD_FIELD);
  }
  t.throws(() => new RangeSet().add(2, 1), { instanceOf: RangeError });
});
