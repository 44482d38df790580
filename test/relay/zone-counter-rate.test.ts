import test from 'ava';
import { counterRate, oidAfter, type CounterReading } from '../../relay/zone/index.js';

const r = (value: bigint, atMs: number, uptime: number, bits: 32 | 64 = 32): CounterReading => ({
  value,
  bits,
  atMs,
  uptime,
});

test('a rate is the delta over the time measured between the two responses', (t) => {
  t.deepEqual(counterRate(undefined, r(10n, 0, 100)), { kind: 'prime' });
  // 1,000 counts in 1.25 s (a late poll): 800/s, not 1,000/s over a 1 s interval.
  t.deepEqual(counterRate(r(0n, 1000, 100), r(1000n, 2250, 225)), {
    kind: 'rate',
    perSecond: 800,
    wrapped: false,
  });
});

test('Counter32 wraps once; Counter64 going back is a reset; so is sysUpTime going back', (t) => {
  const wrap = counterRate(r(2n ** 32n - 10n, 0, 100), r(5n, 1000, 200));
  t.deepEqual(wrap, { kind: 'rate', perSecond: 15, wrapped: true });
  t.deepEqual(counterRate(r(100n, 0, 100, 64), r(5n, 1000, 200, 64)), { kind: 'reset' });
  t.deepEqual(counterRate(r(100n, 0, 50_000), r(200n, 1000, 30)), { kind: 'reset' });
  // sysUpTime's own 32-bit wrap after 497 days is not a restart.
  t.is(counterRate(r(100n, 0, 2 ** 32 - 50), r(200n, 1000, 50)).kind, 'rate');
  // A 64-bit counter near 2^64 keeps its precision until the rate is taken.
  const big = counterRate(r(2n ** 63n, 0, 1, 64), r(2n ** 63n + 3_000_000_000n, 1000, 101, 64));
  t.deepEqual(big, { kind: 'rate', perSecond: 3e9, wrapped: false });
});

test('OIDs compare by arcs as numbers, not as text', (t) => {
  t.true(oidAfter('1.3.6.1.2.1.2.2.1.10.10', '1.3.6.1.2.1.2.2.1.10.9'));
  t.false(oidAfter('1.3.6.1.2.1.2.2.1.10.9', '1.3.6.1.2.1.2.2.1.10.10'));
  t.true(oidAfter('1.3.6.1.2.1.2.2.1.10.1', '1.3.6.1.2.1.2.2.1.10'), 'a row after its column');
  t.false(oidAfter('1.3.6.1.2.1.2.2.1.10', '1.3.6.1.2.1.2.2.1.10'), 'the same OID does not move forward');
  t.false(oidAfter('1.3.6.1.2.1.2.2.1.9.99', '1.3.6.1.2.1.2.2.1.10.1'));
});
