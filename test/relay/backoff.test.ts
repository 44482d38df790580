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

test('the default never waits more than half a second between attempts', (t) => {
  const b = new Backoff(DEFAULT_BACKOFF, () => 0.999999);
  for (let i = 0; i < 50; i++) t.true(b.next() <= 500);
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
