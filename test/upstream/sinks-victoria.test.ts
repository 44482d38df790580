/**
 * The sink clients against a real VictoriaMetrics (Debian's `victoria-metrics`, started per
 * test): remote_write samples read back raw through /api/v1/export with the mapped names and
 * labels, ms timestamps and values; a resend stores each sample once (dedup on); OpenTSDB
 * /api/put keeps the v3 names; wrong auth is refused; a stopped engine is retryable, and the
 * same points go in once it is back.
 */
import test, { type ExecutionContext } from 'ava';
import type { StorePoint } from '../../upstream/store/index.js';
import { OpenTsdbClient, RemoteWriteClient, SinkErrorCode } from '../../upstream/sinks/index.js';
import { tempDir } from '../helpers/relay-harness.js';
import { VictoriaMetrics, type ExportedSeries, type VictoriaMetricsOptions } from '../helpers/tsdb.js';

async function startVm(
  t: ExecutionContext,
  options: Omit<VictoriaMetricsOptions, 'dir'> = {},
): Promise<VictoriaMetrics> {
  const dir = tempDir('owl-vm-');
  const vm = await VictoriaMetrics.start({ dir: dir.path, ...options });
  t.teardown(async () => {
    await vm.stop();
    dir.remove();
  });
  return vm;
}

/** Within the last hour, not on a second boundary: the ms must survive. */
const T0 = Date.now() - 30 * 60_000 - 123;

function points(): StorePoint[] {
  const out: StorePoint[] = [];
  for (let i = 0; i < 5; i++) {
    const ts = T0 + i * 10_007;
    out.push({
      metric: 'cpu.user',
      tags: { uuid: 'u1', ip: '10.0.0.1', zone: 'lab' },
      timestampMs: ts,
      value: i + 0.25,
    });
    out.push({
      metric: 'web-api.req_count',
      tags: { uuid: 'u2', device: 'eth0', 'host.name': 'héllo "wörld"' },
      timestampMs: ts,
      value: -i * 1e12,
    });
  }
  return out;
}

/** Series sorted by name then labels, for comparison. */
function sorted(series: ExportedSeries[]): ExportedSeries[] {
  return [...series].sort((a, b) => JSON.stringify(a.metric).localeCompare(JSON.stringify(b.metric)));
}

const EXPECTED: ExportedSeries[] = [
  {
    metric: { __name__: 'owl_cpu_user', ip: '10.0.0.1', site: 'test', uuid: 'u1', zone: 'lab' },
    values: [0.25, 1.25, 2.25, 3.25, 4.25],
    timestamps: [0, 1, 2, 3, 4].map((i) => T0 + i * 10_007),
  },
  {
    metric: {
      __name__: 'owl_web___2dapi_req__count',
      device: 'eth0',
      host_name: 'héllo "wörld"',
      site: 'test',
      uuid: 'u2',
    },
    values: [0, -1e12, -2e12, -3e12, -4e12],
    timestamps: [0, 1, 2, 3, 4].map((i) => T0 + i * 10_007),
  },
];

test('remote_write samples appear in VictoriaMetrics with the mapped names, labels, ms timestamps and values', async (t) => {
  const vm = await startVm(t);
  const client = new RemoteWriteClient({ url: vm.writeUrl, extraLabels: { site: 'test' } });
  t.teardown(() => client.close());
  t.deepEqual(await client.send(points()), { ok: true, samples: 10, dropped: {} });
  const got = sorted(await vm.export('{__name__=~"owl_.*"}'));
  t.deepEqual(
    got.map((s) => ({ ...s, metric: { ...s.metric } })),
    sorted(EXPECTED),
  );
});

test('a resent request is stored once (VictoriaMetrics with -dedup.minScrapeInterval)', async (t) => {
  const vm = await startVm(t);
  const client = new RemoteWriteClient({ url: vm.writeUrl, extraLabels: { site: 'test' } });
  t.teardown(() => client.close());
  for (let i = 0; i < 3; i++) t.like(await client.send(points()), { ok: true });
  // Shuffled and split differently: still the same samples.
  const again = points().reverse();
  t.like(await client.send(again.slice(0, 3)), { ok: true });
  t.like(await client.send(again.slice(3)), { ok: true });
  t.deepEqual(sorted(await vm.export('{__name__=~"owl_.*"}')), sorted(EXPECTED));
});

test('without dedup VictoriaMetrics keeps every copy (why the sink needs -dedup.minScrapeInterval)', async (t) => {
  const vm = await startVm(t, { dedup: false });
  const client = new RemoteWriteClient({ url: vm.writeUrl });
  t.teardown(() => client.close());
  const p = points().slice(0, 1);
  t.like(await client.send(p), { ok: true });
  t.like(await client.send(p), { ok: true });
  const [series] = await vm.export('{__name__=~"owl_.*"}');
  t.deepEqual(series?.timestamps, [T0, T0]);
});

test('OpenTSDB /api/put through VictoriaMetrics keeps the v3 names', async (t) => {
  const vm = await startVm(t, { opentsdb: true });
  const client = new OpenTsdbClient({ url: vm.opentsdbUrl, extraTags: { site: 'test' } });
  t.teardown(() => client.close());
  const pts: StorePoint[] = [
    { metric: 'web.cpu.user', tags: { uuid: 'u1', 'host name': 'a b' }, timestampMs: T0, value: 1.5 },
    { metric: 'web.cpu.user', tags: { uuid: 'u1', 'host name': 'a b' }, timestampMs: T0 + 1001, value: 2.5 },
  ];
  t.like(await client.send(pts), { ok: true, samples: 2 });
  t.like(await client.send(pts), { ok: true, samples: 2 });
  t.deepEqual(await vm.export('{__name__="web.cpu.user"}'), [
    {
      metric: { __name__: 'web.cpu.user', host_name: 'a_b', site: 'test', uuid: 'u1' },
      values: [1.5, 2.5],
      timestamps: [T0, T0 + 1001],
    },
  ]);
});

test('wrong credentials are refused with the status; right ones are accepted', async (t) => {
  const auth = { username: 'owl', password: 'secret' };
  const vm = await startVm(t, { auth });
  const wrong = new RemoteWriteClient({ url: vm.writeUrl, basicAuth: { ...auth, password: 'nope' } });
  const none = new RemoteWriteClient({ url: vm.writeUrl });
  const right = new RemoteWriteClient({ url: vm.writeUrl, basicAuth: auth });
  t.teardown(() => [wrong, none, right].forEach((c) => c.close()));
  for (const client of [wrong, none]) {
    const r = await client.send(points());
    if (r.ok) return t.fail('accepted');
    t.false(r.retryable);
    t.is(r.status, 401);
    t.is(r.error.code, SinkErrorCode.REFUSED);
  }
  t.like(await right.send(points()), { ok: true, samples: 10 });
  t.is((await vm.export('{__name__=~"owl_.*"}')).length, 2);
});

test('a stopped engine is retryable; the same points go in once it is back', async (t) => {
  const vm = await startVm(t);
  const client = new RemoteWriteClient({ url: vm.writeUrl, extraLabels: { site: 'test' }, timeoutMs: 5000 });
  t.teardown(() => client.close());
  const pts = points();
  t.like(await client.send(pts.slice(0, 4)), { ok: true });
  await vm.stop();
  // The keep-alive socket of the first send is gone too: the failure is the connection's.
  const r = await client.send(pts);
  if (r.ok) return t.fail('sent to a stopped engine');
  t.true(r.retryable);
  t.is(r.error.code, SinkErrorCode.UNREACHABLE);
  await vm.start();
  t.like(await client.send(pts), { ok: true, samples: 10 });
  t.deepEqual(sorted(await vm.export('{__name__=~"owl_.*"}')), sorted(EXPECTED));
});
