import test from 'ava';
import { Scheduler } from '../../agent/plugins/index.js';
import type { AgentLogger } from '../../agent/index.js';
import { FakeTimers } from '../helpers/fake-timers.js';

/** A logger that keeps what it was told. */
function recordingLogger(): AgentLogger & { lines: { level: string; obj: object; msg: string }[] } {
  const lines: { level: string; obj: object; msg: string }[] = [];
  const at = (level: string) => (obj: object, msg: string) => lines.push({ level, obj, msg });
  return { lines, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}

/** Let settled promises run their callbacks (no time passes). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Advance the clock by `totalMs` in `stepMs` steps, letting finished runs settle between them. */
async function advanceInSteps(timers: FakeTimers, totalMs: number, stepMs = 1000): Promise<void> {
  for (let done = 0; done < totalMs; done += stepMs) {
    timers.advance(Math.min(stepMs, totalMs - done));
    await settle();
  }
}

test('interval jobs run on wall-clock multiples of the interval', async (t) => {
  const timers = new FakeTimers(1_700_000_003_456);
  const s = new Scheduler({ timers });
  const ranAt: number[] = [];
  const info = await s.add({ id: 'a', intervalS: 10, run: async () => void ranAt.push(timers.now()) });
  t.is(info.mode, 'interval');
  t.is(info.nextRunAt, 1_700_000_010_000);
  await advanceInSteps(timers, 35_000);
  t.deepEqual(ranAt, [1_700_000_010_000, 1_700_000_020_000, 1_700_000_030_000]);
  t.is(s.info('a')?.nextRunAt, 1_700_000_040_000);
  s.stop();
  t.is(timers.pending, 0);
});

test('a job never overlaps itself: ticks while it runs are skipped and counted as overruns', async (t) => {
  const timers = new FakeTimers(1_700_000_000_000);
  const logger = recordingLogger();
  const s = new Scheduler({ timers, logger });
  let release!: () => void;
  let started = 0;
  await s.add({
    id: 'slow',
    intervalS: 5,
    run: () => {
      started++;
      return new Promise<void>((resolve) => (release = resolve));
    },
  });
  timers.advance(5_000);
  await settle();
  t.is(started, 1);
  timers.advance(10_000);
  await settle();
  t.is(started, 1);
  t.like(s.info('slow'), { runs: 1, overruns: 2, running: true });
  t.is(logger.lines.filter((l) => l.level === 'warn').length, 1, 'warned once, then debug');
  release();
  await settle();
  timers.advance(5_000);
  await settle();
  t.is(started, 2);
  t.like(s.info('slow'), { runs: 2, overruns: 2 });
  s.stop();
});

test('a failing job is logged and keeps its schedule', async (t) => {
  const timers = new FakeTimers(1_700_000_000_000);
  const logger = recordingLogger();
  const s = new Scheduler({ timers, logger });
  let runs = 0;
  await s.add({
    id: 'bad',
    intervalS: 1,
    run: async () => {
      runs++;
      throw new Error('boom');
    },
  });
  await s.add({
    id: 'throws',
    intervalS: 1,
    run: () => {
      throw new Error('sync boom');
    },
  });
  await advanceInSteps(timers, 3_000);
  t.is(runs, 3);
  t.like(s.info('throws'), { runs: 3, running: false });
  t.true(logger.lines.some((l) => l.level === 'error' && l.msg === 'job failed'));
  s.stop();
});

for (const intervalS of [0, -10, Number.NaN, Number.POSITIVE_INFINITY]) {
  test(`exec_interval ${intervalS}: not scheduled, logged once, no crash`, async (t) => {
    const timers = new FakeTimers();
    const logger = recordingLogger();
    const s = new Scheduler({ timers, logger });
    const info = await s.add({ id: 'zero', intervalS, run: async () => t.fail('must not run') });
    t.is(info.mode, 'none');
    t.is(info.nextRunAt, undefined);
    t.is(timers.pending, 0);
    timers.advance(3_600_000);
    t.is(logger.lines.length, 1);
    t.like(logger.lines[0], { level: 'warn', obj: { job: 'zero' } });
  });
}

test('remove unschedules; add with the same id replaces', async (t) => {
  const timers = new FakeTimers(1_700_000_000_000);
  const s = new Scheduler({ timers });
  const ran: string[] = [];
  await s.add({ id: 'x', intervalS: 10, run: async () => void ran.push('old') });
  await s.add({ id: 'x', intervalS: 10, run: async () => void ran.push('new') });
  timers.advance(10_000);
  t.deepEqual(ran, ['new']);
  t.true(s.remove('x'));
  t.false(s.remove('x'));
  timers.advance(60_000);
  t.deepEqual(ran, ['new']);
  t.is(timers.pending, 0);
});

test('cron: a 6-field expression runs on its seconds, driven by the injected clock', async (t) => {
  const timers = new FakeTimers(1_700_000_003_000); // :23 past a minute, UTC and most zones
  const s = new Scheduler({ timers });
  const ranAt: number[] = [];
  const info = await s.add({
    id: 'c',
    intervalS: 0,
    cron: '*/15 * * * * *',
    run: async () => void ranAt.push(timers.now()),
  });
  t.is(info.mode, 'cron');
  t.is(new Date(info.nextRunAt!).getSeconds() % 15, 0);
  t.true(info.nextRunAt! > timers.now() && info.nextRunAt! <= timers.now() + 15_000);
  await advanceInSteps(timers, 60_000);
  t.is(ranAt.length, 4);
  for (const at of ranAt) t.is(new Date(at).getSeconds() % 15, 0);
  t.is(ranAt[1]! - ranAt[0]!, 15_000);
  s.stop();
});

test('cron: the next run of a daily expression is the next 03:30 local time', async (t) => {
  const start = new Date(2024, 5, 10, 12, 0, 0).getTime();
  const timers = new FakeTimers(start);
  const s = new Scheduler({ timers });
  const info = await s.add({ id: 'd', intervalS: 0, cron: '30 3 * * *', run: async () => {} });
  t.is(info.nextRunAt, new Date(2024, 5, 11, 3, 30, 0).getTime());
  s.stop();
});

test('cron: a run months away is armed in steps a Node timer can take, and fires on time', async (t) => {
  const start = new Date(2024, 1, 1, 0, 0, 0).getTime();
  const timers = new FakeTimers(start);
  const s = new Scheduler({ timers });
  const ranAt: number[] = [];
  const info = await s.add({
    id: 'y',
    intervalS: 0,
    cron: '0 0 1 12 *',
    run: async () => void ranAt.push(timers.now()),
  });
  const due = new Date(2024, 11, 1, 0, 0, 0).getTime();
  t.is(info.nextRunAt, due);
  timers.advance(due - start - 1);
  t.deepEqual(ranAt, []);
  timers.advance(1);
  t.deepEqual(ranAt, [due]);
  s.stop();
});

test('cron: an invalid expression is logged and falls back to exec_interval, or is not scheduled', async (t) => {
  const timers = new FakeTimers(1_700_000_000_000);
  const logger = recordingLogger();
  const s = new Scheduler({ timers, logger });
  const a = await s.add({ id: 'a', intervalS: 30, cron: '61 * * * *', run: async () => {} });
  t.is(a.mode, 'interval');
  t.is(a.nextRunAt, 1_700_000_010_000);
  const b = await s.add({ id: 'b', intervalS: 0, cron: 'every day', run: async () => {} });
  t.is(b.mode, 'none');
  t.regex(
    logger.lines.map((l) => l.msg).join('|'),
    /invalid cron: every 30 s instead\|invalid cron: not scheduled/,
  );
  s.stop();
});
