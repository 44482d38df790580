/** The uplink heartbeat rule (protocol/uplink/heartbeat.ts), on a fake clock and fake timers. */
import test from 'ava';
import { Heartbeat, UPLINK_DEFAULT_HEARTBEAT_MS } from '../../protocol/index.js';
import { FakeTimers } from '../helpers/fake-timers.js';

test('a silent peer is noticed within 3.5 periods (17.5 s at the default 5 s), pings go out every period', (t) => {
  const timers = new FakeTimers(0);
  const pings: number[] = [];
  let silent: number | undefined;
  const hb = new Heartbeat({
    periodMs: UPLINK_DEFAULT_HEARTBEAT_MS,
    timers,
    ping: (at) => pings.push(at),
    onSilent: (ms) => (silent = ms),
  });
  hb.start();
  timers.advance(15_000);
  t.deepEqual(pings, [5_000, 10_000, 15_000]);
  t.is(silent, undefined, 'exactly 3 periods of silence is not yet too long');
  timers.advance(2_500);
  t.is(silent, 17_500);
  t.true(silent !== undefined && silent <= 20_000);
  t.is(timers.pending, 0, 'stopped itself');
});

test('anything heard restarts the count; stop() stops pings and checks', (t) => {
  const timers = new FakeTimers(0);
  let pings = 0;
  let silent = false;
  const hb = new Heartbeat({
    periodMs: 1000,
    timers,
    ping: () => pings++,
    onSilent: () => (silent = true),
  });
  hb.start();
  for (let i = 0; i < 20; i++) {
    timers.advance(2_900);
    hb.heard();
  }
  t.false(silent, 'a peer heard every 2.9 periods is alive');
  t.is(pings, 58);
  hb.stop();
  timers.advance(10_000);
  t.false(silent);
  t.is(pings, 58);
});
