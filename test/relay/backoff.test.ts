import test from 'ava';
import { Backoff, DEFAULT_BACKOFF, IngestGate } from '../../relay/index.js';

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

test('the default starts within 100 ms, reaches its 30 s cap after 9 failures and never waits longer', (t) => {
  const b = new Backoff(DEFAULT_BACKOFF, () => 0.999999);
  const delays = Array.from({ length: 50 }, () => b.next());
  t.deepEqual(delays.slice(0, 10), [99, 199, 399, 799, 1599, 3199, 6399, 12799, 25599, 29999]);
  for (const d of delays) t.true(d < 30_000);
  // The jitter: the same attempt at the other end of the random range waits the minimum.
  t.is(new Backoff(DEFAULT_BACKOFF, () => 0).next(), DEFAULT_BACKOFF.minMs);
});

test('the ingest gate closes at the high mark and opens again at the low mark, telling listeners', (t) => {
  const gate = new IngestGate(100, 40);
  let opened = 0;
  gate.onOpen(() => opened++);
  gate.add(60);
  t.false(gate.closed);
  gate.add(50);
  t.true(gate.closed);
  gate.done(60);
  t.true(gate.closed, 'still above the low mark');
  t.is(opened, 0);
  gate.done(20);
  t.false(gate.closed);
  t.is(opened, 1);
  t.is(gate.pendingBytes, 30);
});
