/** CreditWindow: the relay's count of unacknowledged batches against the upstream's grant. */
import test from 'ava';
import { CreditWindow, UplinkError, UplinkErrorCode } from '../../protocol/index.js';

test('sends up to the window, and an ack frees one credit', (t) => {
  const w = new CreditWindow(2);
  t.true(w.canSend());
  w.onSent(1, 10);
  w.onSent(11, 20);
  t.false(w.canSend());
  t.is(w.pending, 2);
  t.is(w.available, 0);
  const err = t.throws(() => w.onSent(21, 30));
  t.is((err as UplinkError).code, UplinkErrorCode.NO_CREDIT);
  // Acks may come out of order.
  t.true(w.onAck(11, 20));
  t.true(w.canSend());
  t.deepEqual(w.ranges(), [[1, 10]]);
});

test('a stale or mismatched ack is reported and changes nothing', (t) => {
  const w = new CreditWindow(4);
  w.onSent(1, 10);
  t.false(w.onAck(1, 9));
  t.false(w.onAck(2, 10));
  t.false(w.onAck(50, 60));
  t.is(w.pending, 1);
  t.true(w.has(1, 10));
  t.true(w.onAck(1, 10));
  t.false(w.onAck(1, 10));
  t.is(w.pending, 0);
});

test('a batch already in flight cannot be sent twice', (t) => {
  const w = new CreditWindow(4);
  w.onSent(1, 10);
  const err = t.throws(() => w.onSent(1, 10));
  t.true(err instanceof UplinkError);
  t.is((err as UplinkError).code, UplinkErrorCode.BATCH_IN_FLIGHT);
});

test('lowering the window takes nothing back; 0 pauses; raising resumes', (t) => {
  const w = new CreditWindow(3);
  w.onSent(1, 1);
  w.onSent(2, 2);
  w.onSent(3, 3);
  w.setWindow(1);
  t.is(w.window, 1);
  t.is(w.pending, 3);
  t.false(w.canSend());
  w.onAck(1, 1);
  w.onAck(2, 2);
  t.false(w.canSend());
  w.onAck(3, 3);
  t.true(w.canSend());
  w.setWindow(0);
  t.false(w.canSend());
  w.setWindow(5);
  t.is(w.available, 5);
  t.throws(() => w.setWindow(-1), { instanceOf: RangeError });
  t.throws(() => w.setWindow(1.5), { instanceOf: RangeError });
});

test('starts closed until WELCOME; reset returns what was in flight, ascending', (t) => {
  const w = new CreditWindow();
  t.false(w.canSend());
  w.setWindow(8);
  w.onSent(30, 39);
  w.onSent(10, 19);
  t.deepEqual(w.reset(), [
    [10, 19],
    [30, 39],
  ]);
  t.is(w.pending, 0);
  t.false(w.canSend());
  t.is(w.reset(4).length, 0);
  t.true(w.canSend());
});
