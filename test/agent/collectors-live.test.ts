/**
 * agent/collectors: every built-in collector run once against this
 * machine's real /proc and /sys, with sanity checks on the values.
 */
import test from 'ava';
import { builtinCollectors, type Collector, type Reading } from '../../agent/collectors/index.js';

const collectors = new Map<string, Collector>(builtinCollectors().map((c) => [c.name, c]));

async function read(name: string): Promise<Reading[]> {
  const c = collectors.get(name);
  if (c === undefined) throw new Error(`no collector ${name}`);
  return c.read();
}

function get(readings: Reading[], metric: string, tags?: Record<string, string>): number {
  const key = JSON.stringify(tags ?? null);
  const r = readings.find((x) => x.metric === metric && JSON.stringify(x.tags ?? null) === key);
  if (r === undefined) throw new Error(`no ${metric} ${key}`);
  return r.value;
}

test('builtinCollectors: one collector per service', (t) => {
  t.deepEqual([...collectors.keys()], ['cpu', 'mem', 'swap', 'load', 'disk', 'diskio', 'net', 'fd', 'tcp']);
});

test('cpu: total user seconds > 0, cores ≥ 1 with one tag per core', async (t) => {
  const r = await read('cpu');
  t.true(get(r, 'user_seconds', { cpu: 'total' }) > 0);
  const cores = get(r, 'cores');
  t.true(cores >= 1);
  t.is(new Set(r.filter((x) => x.metric === 'idle_seconds').map((x) => x.tags?.cpu)).size, cores + 1);
  t.true(get(r, 'context_switches') > 0);
});

test('mem and swap: total > 0, available ≤ total, percentages in 0..100', async (t) => {
  const mem = await read('mem');
  const total = get(mem, 'total');
  t.true(total > 0);
  t.true(get(mem, 'available') <= total);
  t.true(get(mem, 'used_pct') >= 0 && get(mem, 'used_pct') <= 100);
  const swap = await read('swap');
  t.true(get(swap, 'free') <= get(swap, 'total'));
});

test('load: three loads ≥ 0 and at least one task', async (t) => {
  const r = await read('load');
  for (const m of ['load1', 'load5', 'load15']) t.true(get(r, m) >= 0);
  t.true(get(r, 'tasks_total') >= 1);
});

test('disk: the filesystem of / is measured with sane sizes', async (t) => {
  const r = await read('disk');
  const root = r.filter((x) => x.tags?.mount === '/');
  if (root.length === 0) return t.pass('/ is not a block-device filesystem here');
  const total = root.find((x) => x.metric === 'total')!.value;
  const used = root.find((x) => x.metric === 'used')!.value;
  t.true(total > 0 && used <= total);
});

test('diskio, net: counters are non-negative, no loop devices, no lo', async (t) => {
  const io = await read('diskio');
  t.true(io.every((x) => x.value >= 0 && !x.tags!.device!.startsWith('loop')));
  const net = await read('net');
  t.true(net.every((x) => x.value >= 0 && x.tags!.interface !== 'lo'));
});

test('fd: allocated ≤ max', async (t) => {
  const r = await read('fd');
  t.true(get(r, 'allocated') > 0);
  t.true(get(r, 'allocated') <= get(r, 'max'));
});

test('tcp: all eleven v3 state keys', async (t) => {
  const r = await read('tcp');
  t.is(r.length, 11);
  t.true(r.some((x) => x.metric === 'TCP_LISTEN'));
  t.true(r.every((x) => Number.isInteger(x.value) && x.value >= 0));
});
