import test from 'ava';
import { Backoff, DEFAULT_BACKOFF } from '../../relay/index.js';

test('backoff ceilings grow exponentially up to the maximum, with full jitter', (t) => {
  const top = new Backoff({ initialMs: 100, maxMs: 1000, factor: 2, minMs: 10 }, () => 0.999999);
  t.deepEqual(
    Array.from({ length: 6 }, () => top.next()),
    [99, 199, 399, 799, 999, 999],
  );
  const bottom = new Backoff({ initialMs: 100, maxMs: 1000, factor: 2, minMs: 10 }, () => 0);
  t.is(bottom.next(), 10);
});

test('reset starts over', (t) => {
  const b = new Backoff(DEFAULT_BACKOFF, () => 0.5);
  b.next();
  b.next();
  t.is(b.attempts, 2);
  b.reset();
  t.is(b.attempts, 0);
  t.is(b.next(), Math.floor(0.5 * DEFAULT_BACKOFF.initialMs));
});

test('the default never waits more than a second between attempts', (t) => {
  const b = new Backoff(DEFAULT_BACKOFF, () => 0.999999);
  for (let i = 0; i < 50; i++) t.true(b.next() <= 1000);
});
