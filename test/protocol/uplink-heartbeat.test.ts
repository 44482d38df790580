/** The uplink heartbeat rule (protocol/uplink/heartbeat.ts), on a fake clock and fake timers. */
import test from 'ava';
import { Heartbeat, UPLINK_DEFAULT_HEARTBEAT_MS, type HeartbeatTimers } from '../../protocol/index.js';

/** One interval at a time, fired by `advance`. */
function fakeTimers(): HeartbeatTimers & {
  advance: (ms: number) => void;
  now: () => number;
  active: () => number;
} {
  let now = 0;
  let timer: { fn: () => void; ms: number; next: number } | undefined;
  return {
    now: () => now,
    active: () => (timer === undefined ? 0 : 1),
    setInterval: (fn, ms) => (timer = { fn, ms, next: now + ms }),
    clearInterval: (h) => {
      if (h === timer) timer = undefined;
    },
    advance(ms) {
      const end = now + ms;
      while (timer !== undefined && timer.next <= end) {
        now = timer.next;
        timer.next += timer.ms;
        timer.fn();
      }
      now = end;
    },
  };
}

test('a silent peer is noticed within 3.5 periods (17.5 s at the default 5 s), pings go out every period', (t) => {
  const timers = fakeTimers();
  const pings: number[] = [];
  let silent: number | undefined;
  const hb = new Heartbeat({
    periodMs: UPLINK_DEFAULT_HEARTBEAT_MS,
    now: timers.now,
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
  t.is(timers.active(), 0, 'stopped itself');
});

test('anything heard restarts the count; stop() stops pings and checks', (t) => {
  const timers = fakeTimers();
  let pings = 0;
  let silent = false;
  const hb = new Heartbeat({
    periodMs: 1000,
    now: timers.now,
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
