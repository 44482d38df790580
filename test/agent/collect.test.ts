import test from 'ava';
import { CollectorRunner, nullLogger, type Collector } from '../../agent/index.js';
import { FakeTimers } from '../helpers/fake-timers.js';

function counting(name: string, reads: number[]): Collector {
  return {
    name,
    read: () => {
      reads.push(reads.length);
      return Promise.resolve([{ metric: 'total', value: reads.length * 100, kind: 'counter' as const }]);
    },
  };
}

test('a collector with its own interval runs every Nth round; its rates use the measured gap', async (t) => {
  const timers = new FakeTimers(1_700_000_000_000);
  const fast: number[] = [];
  const slow: number[] = [];
  const runner = new CollectorRunner(
    [counting('fast', fast), counting('slow', slow)],
    timers,
    nullLogger,
    new Map([['slow', 3]]),
  );
  const out = [];
  for (let i = 0; i < 7; i++) {
    out.push(await runner.round());
    timers.advance(10_000);
  }
  t.is(fast.length, 7);
  t.is(slow.length, 3, 'rounds 0, 3 and 6');
  const slowRates = out
    .flat()
    .filter((s) => s.service_name === 'slow')
    .map((s) => s.value);
  t.deepEqual(
    slowRates,
    [100 / 30, 100 / 30],
    'a rate over the 30 s between its two readings, not the round interval',
  );
  t.deepEqual(
    out
      .flat()
      .filter((s) => s.service_name === 'fast')
      .map((s) => s.value),
    [10, 10, 10, 10, 10, 10],
  );
});
