/**
 * RemoteWriteClient against a real Prometheus 2.42 (Debian's `prometheus`, remote-write
 * receiver on): the data read back through PromQL; a resend stores each sample once when
 * `out_of_order_time_window` covers it; without that window Prometheus refuses (400) a request
 * holding any sample older than its series' newest, the whole request, which the client
 * classifies as refused; a sample older than the head block is refused too.
 */
import test, { type ExecutionContext } from 'ava';
import type { StorePoint } from '../../upstream/store/index.js';
import { RemoteWriteClient } from '../../upstream/sinks/index.js';
import { tempDir } from '../helpers/relay-harness.js';
import { Prometheus, type PromResult } from '../helpers/tsdb.js';

async function startProm(
  t: ExecutionContext,
  outOfOrderWindow?: string,
): Promise<{ prom: Prometheus; client: RemoteWriteClient }> {
  const dir = tempDir('owl-prom-');
  const prom = await Prometheus.start({
    dir: dir.path,
    ...(outOfOrderWindow !== undefined ? { outOfOrderWindow } : {}),
  });
  const client = new RemoteWriteClient({ url: prom.writeUrl });
  t.teardown(async () => {
    client.close();
    await prom.stop();
    dir.remove();
  });
  return { prom, client };
}

const T0 = Date.now() - 20 * 60_000 - 321;

function at(i: number, value = i * 1.5): StorePoint {
  return {
    metric: 'disk.used_pct',
    tags: { uuid: 'u1', device: 'sda1', zone: 'z' },
    timestampMs: T0 + i * 15_001,
    value,
  };
}

/** The raw samples of the series as [ms, value] pairs. */
async function samples(prom: Prometheus): Promise<PromResult[]> {
  return prom.query('owl_disk_used__pct[1h]', Date.now());
}

function expected(n: number): PromResult[] {
  return [
    {
      metric: { __name__: 'owl_disk_used__pct', device: 'sda1', uuid: 'u1', zone: 'z' },
      values: Array.from(
        { length: n },
        (_, i) => [(T0 + i * 15_001) / 1000, String(i * 1.5)] as [number, string],
      ),
    },
  ];
}

test('samples written through remote_write are read back through PromQL', async (t) => {
  const { prom, client } = await startProm(t);
  t.deepEqual(await client.send([0, 1, 2, 3].map((i) => at(i))), { ok: true, samples: 4, dropped: {} });
  t.deepEqual(await samples(prom), expected(4));
  const [count] = await prom.query('count_over_time(owl_disk_used__pct{uuid="u1"}[1h])', Date.now());
  t.is(count?.value?.[1], '4');
});

test('with out_of_order_time_window, resends (alone or mixed with new samples) are stored once', async (t) => {
  const { prom, client } = await startProm(t, '2h');
  const a = [0, 1, 2].map((i) => at(i));
  t.like(await client.send(a), { ok: true });
  t.like(await client.send([3, 4].map((i) => at(i))), { ok: true });
  t.like(await client.send(a), { ok: true });
  t.like(await client.send([...a, at(5)]), { ok: true });
  t.like(await client.send([0, 1, 2, 3, 4, 5].map((i) => at(i))), { ok: true });
  t.deepEqual(await samples(prom), expected(6));
});

test('without it, a resend of older samples is refused as a whole (400 out of order)', async (t) => {
  const { prom, client } = await startProm(t);
  const a = [0, 1, 2].map((i) => at(i));
  t.like(await client.send(a), { ok: true });
  // The newest sample alone, resent, is an identical duplicate: dropped silently.
  t.like(await client.send([at(2)]), { ok: true });
  const r = await client.send([...a, at(3)]);
  if (r.ok) return t.fail('accepted');
  t.false(r.retryable);
  t.is(r.status, 400);
  t.regex(r.bodyLine ?? '', /out of order sample/);
  // at(3) went down with the request.
  t.deepEqual(await samples(prom), expected(3));
});

test('a sample older than the head is refused (400 out of bounds)', async (t) => {
  const { client } = await startProm(t);
  // An empty head takes anything: its time range starts with the first sample.
  t.like(await client.send([at(0)]), { ok: true });
  const r = await client.send([{ ...at(0), timestampMs: Date.now() - 3 * 86_400_000 }]);
  if (r.ok) return t.fail('accepted');
  t.false(r.retryable);
  t.is(r.status, 400);
  t.regex(r.bodyLine ?? '', /out of bounds/);
});
