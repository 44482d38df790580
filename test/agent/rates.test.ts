import test from 'ava';
import {
  RateTracker,
  ratesFromReadings,
  seriesKey,
  wrappedDelta,
  type RawReading,
} from '../../agent/index.js';

const T0 = 1_700_000_000_000;

test('first reading primes; COUNTER is the rate over the measured gap, not the nominal interval', (t) => {
  const r = new RateTracker();
  t.is(r.update('rx', 'COUNTER', 1000, T0), undefined);
  // A 10 s job that ran 2.5 s late: 12.5 s between readings.
  t.is(r.update('rx', 'COUNTER', 2250, T0 + 12_500), 100);
  t.is(r.update('rx', 'COUNTER', 2250, T0 + 22_500), 0);
});

test('GAUGE passes through, even the first reading', (t) => {
  const r = new RateTracker();
  t.is(r.update('temp', 'GAUGE', 42.5, T0), 42.5);
  t.is(r.update('temp', 'GAUGE', -3, T0 + 1), -3);
  t.is(r.size, 0);
});

test('DERIVE is the difference', (t) => {
  const r = new RateTracker();
  t.is(r.update('jobs', 'DERIVE', 10, T0), undefined);
  t.is(r.update('jobs', 'DERIVE', 17, T0 + 60_000), 7);
});

test('a decrease that is not a wrap is a reset: no sample, then rates from the new base', (t) => {
  const r = new RateTracker();
  r.update('c', 'COUNTER', 5_000_000, T0);
  t.is(r.update('c', 'COUNTER', 100, T0 + 10_000), undefined);
  t.is(r.update('c', 'COUNTER', 600, T0 + 20_000), 50);
  r.update('d', 'DERIVE', 50, T0);
  t.is(r.update('d', 'DERIVE', 40, T0 + 1000), undefined);
});

test('a 32-bit wrap gives the right rate', (t) => {
  const r = new RateTracker();
  const prev = 2 ** 32 - 1000;
  r.update('if', 'COUNTER', prev, T0);
  // 1000 to the top, then 500 past zero: 1500 in 10 s.
  t.is(r.update('if', 'COUNTER', 500, T0 + 10_000), 150);
});

test('a 64-bit wrap is a wrap too (coarse near 2^64)', (t) => {
  const prev = 2 ** 64 - 2 ** 20;
  const d = wrappedDelta(prev, 4096);
  t.truthy(d !== undefined && Math.abs(d - (2 ** 20 + 4096)) <= 8192);
});

test('wrap rule: only from the top sixteenth of the range to near zero', (t) => {
  t.is(wrappedDelta(2 ** 32 - 10, 5), 15);
  t.is(wrappedDelta(2 ** 32 * (15 / 16), 0), 2 ** 28); // exactly at the limit
  t.is(wrappedDelta(2 ** 32 * (15 / 16) - 1, 0), undefined); // below the top sixteenth: reset
  t.is(wrappedDelta(2 ** 32 - 10, 2 ** 28), undefined); // wrapped delta too large: reset
  t.is(wrappedDelta(3_000_000_000, 10), undefined); // a counter that restarted mid-range
  t.is(wrappedDelta(2 ** 33, 10), undefined); // a 64-bit counter far from its top
  t.is(wrappedDelta(100, -1), undefined);
});

test('a gap ≤ 0 (clock went back) re-primes instead of dividing by it', (t) => {
  const r = new RateTracker();
  r.update('c', 'COUNTER', 100, T0);
  t.is(r.update('c', 'COUNTER', 200, T0), undefined);
  t.is(r.update('c', 'COUNTER', 300, T0 - 5000), undefined);
  // Primed at T0 - 5000 with 300.
  t.is(r.update('c', 'COUNTER', 400, T0 + 5000), 10);
});

test('a key whose type changes starts over', (t) => {
  const r = new RateTracker();
  r.update('k', 'COUNTER', 100, T0);
  t.is(r.update('k', 'DERIVE', 200, T0 + 1000), undefined);
  t.is(r.update('k', 'DERIVE', 250, T0 + 2000), 50);
});

test('keys unseen for N rounds are forgotten (bounded memory), seen ones kept', (t) => {
  const r = new RateTracker({ forgetAfterRounds: 3 });
  r.update('gone', 'COUNTER', 1, T0);
  r.update('stays', 'COUNTER', 1, T0);
  r.endRound();
  for (let i = 1; i <= 3; i++) {
    r.update('stays', 'COUNTER', 1 + i, T0 + i * 1000);
    t.is(r.size, 2, `round ${i}`);
    r.endRound();
  }
  t.is(r.size, 1);
  t.is(r.update('gone', 'COUNTER', 5, T0 + 4000), undefined, 'primes again');
});

test('non-finite values give nothing and leave the state alone', (t) => {
  const r = new RateTracker();
  r.update('c', 'COUNTER', 100, T0);
  t.is(r.update('c', 'COUNTER', Number.NaN, T0 + 1000), undefined);
  t.is(r.update('c', 'COUNTER', 300, T0 + 2000), 100);
});

test('seriesKey: tags in any order give the same key; different tags differ', (t) => {
  t.is(seriesKey('m'), 'm');
  t.is(seriesKey('m', {}), 'm');
  t.is(seriesKey('m', { a: '1', b: '2' }), seriesKey('m', { b: '2', a: '1' }));
  t.not(seriesKey('m', { a: '1' }), seriesKey('m', { a: '2' }));
});

test('ratesFromReadings: collectors counters as rates per tagged series, gauges as is', (t) => {
  const r = new RateTracker();
  const read = (rx0: number, rx1: number, used: number): RawReading[] => [
    { metric: 'rx_bytes', value: rx0, kind: 'counter', tags: { interface: 'eth0' } },
    { metric: 'rx_bytes', value: rx1, kind: 'counter', tags: { interface: 'eth1' } },
    { metric: 'used_pct', value: used, kind: 'gauge' },
  ];
  t.deepEqual(ratesFromReadings(r, read(1000, 50, 10), T0), [
    { metric: 'used_pct', value: 10, kind: 'gauge' },
  ]);
  t.deepEqual(ratesFromReadings(r, read(3000, 60, 11), T0 + 2000), [
    { metric: 'rx_bytes', value: 1000, kind: 'counter', tags: { interface: 'eth0' } },
    { metric: 'rx_bytes', value: 5, kind: 'counter', tags: { interface: 'eth1' } },
    { metric: 'used_pct', value: 11, kind: 'gauge' },
  ]);
});
