/**
 * Sink naming and wire formats, in process: the Prometheus name rule is injective (fast-check:
 * distinct inputs never share a name) and always yields valid names; tags become labels or the
 * point is refused with a counted reason; a remote_write body decodes back to the points;
 * OpenTSDB keeps v3 names and maps other characters.
 */
import test from 'ava';
import fc from 'fast-check';
import type { StorePoint } from '../../upstream/store/index.js';
import {
  columnsOf,
  RemoteWriteEncoder,
  decodeName,
  decodeRemoteWrite,
  encodeName,
  encodeOpenTsdb,
  encodeRemoteWrite,
  opentsdbName,
  PROM_LABEL_NAME,
  PROM_METRIC_NAME,
  promLabelName,
  promMetricName,
  promSeries,
  type PromNaming,
} from '../../upstream/sinks/index.js';

const NAMING: PromNaming = { prefix: 'owl_', extraLabels: {}, maxLabelsPerSeries: 30 };

/** Names biased towards the troublesome characters: dots, underscores, digits, others. */
const nameArb = fc.oneof(
  fc.string({
    unit: fc.constantFrom('a', 'b', 'Z', '0', '9', '.', '_', '-', ':', ' ', 'é', '/'),
    maxLength: 12,
  }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
);

test('examples of the Prometheus rule', (t) => {
  t.is(promMetricName('cpu.user', 'owl_'), 'owl_cpu_user');
  t.is(promMetricName('web.cpu.user', 'owl_'), 'owl_web_cpu_user');
  t.is(promMetricName('a_b', 'owl_'), 'owl_a__b');
  t.not(promMetricName('a.b', ''), promMetricName('a_b', ''));
  t.is(promMetricName('my-svc.load', ''), 'my___2dsvc_load');
  t.is(promMetricName('9lives', ''), '_9lives');
  t.is(promMetricName('9lives', 'owl_'), 'owl_9lives');
  t.is(promMetricName('a..b', ''), 'a___2e___2eb');
  t.is(promLabelName('uuid'), 'uuid');
  t.is(promLabelName('host.name'), 'host_name');
  t.is(promLabelName('_private'), undefined);
  t.is(promLabelName('1st'), undefined);
  t.is(promLabelName(''), undefined);
});

test('the escape is injective: decode(encode(x)) = x', (t) => {
  fc.assert(fc.property(nameArb, (s) => decodeName(encodeName(s)) === s));
  t.pass();
});

/** Short names over a tiny alphabet: many near-misses per run, where a weak rule would collide. */
const shortNames = fc.uniqueArray(
  fc.string({ unit: fc.constantFrom('a', '1', '.', '_', '-'), maxLength: 5 }),
  { minLength: 2, maxLength: 60 },
);

test('distinct metrics never share a Prometheus name, with or without a prefix', (t) => {
  for (const prefix of ['owl_', '']) {
    fc.assert(
      fc.property(
        shortNames,
        (names) => new Set(names.map((n) => promMetricName(n, prefix))).size === names.length,
      ),
    );
    fc.assert(
      fc.property(
        nameArb,
        nameArb,
        (a, b) => a === b || promMetricName(a, prefix) !== promMetricName(b, prefix),
      ),
    );
  }
  t.pass();
});

test('metric and label names are always valid Prometheus names', (t) => {
  fc.assert(
    fc.property(
      nameArb.filter((s) => s !== ''),
      (s) => {
        if (!PROM_METRIC_NAME.test(promMetricName(s, ''))) return false;
        const label = promLabelName(s);
        return label === undefined || (PROM_LABEL_NAME.test(label) && !label.startsWith('__'));
      },
    ),
  );
  t.pass();
});

test('distinct tag sets never map to the same label set', (t) => {
  const tagsArb = fc.dictionary(nameArb, fc.string({ minLength: 1, maxLength: 3 }), { maxKeys: 4 });
  fc.assert(
    fc.property(tagsArb, tagsArb, (a, b) => {
      const sa = promSeries({ metric: 'm', tags: a }, NAMING);
      const sb = promSeries({ metric: 'm', tags: b }, NAMING);
      if (!sa.ok || !sb.ok) return true;
      const same = JSON.stringify(sa.labels) === JSON.stringify(sb.labels);
      const equal = JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
      return same === equal;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('labels: sorted after __name__, extra labels only where missing, limits refuse the point', (t) => {
  const naming: PromNaming = {
    prefix: 'owl_',
    extraLabels: { cluster: 'eu', zone: 'default' },
    maxLabelsPerSeries: 5,
  };
  const s = promSeries(
    { metric: 'cpu.user', tags: { zone: 'z1', uuid: 'u', ip: '10.0.0.1', empty: '' } },
    naming,
  );
  t.deepEqual(s, {
    ok: true,
    labels: [
      { name: '__name__', value: 'owl_cpu_user' },
      { name: 'cluster', value: 'eu' },
      { name: 'ip', value: '10.0.0.1' },
      { name: 'uuid', value: 'u' },
      { name: 'zone', value: 'z1' },
    ],
  });
  t.deepEqual(promSeries({ metric: 'm', tags: { a: '1', b: '2', c: '3', d: '4' } }, naming), {
    ok: false,
    reason: 'too_many_labels',
  });
  t.deepEqual(promSeries({ metric: 'm', tags: { __name__: 'x' } }, NAMING), {
    ok: false,
    reason: 'bad_label_name',
  });
});

test('a remote_write body decodes back to the points, grouped by series, sorted by time, drops counted', (t) => {
  const T = 1_800_000_000_000;
  const points: StorePoint[] = [
    { metric: 'cpu.user', tags: { uuid: 'u1' }, timestampMs: T + 1000, value: 2 },
    { metric: 'cpu.user', tags: { uuid: 'u1' }, timestampMs: T, value: 1 },
    { metric: 'cpu.user', tags: { uuid: 'u2', host: 'ünï cødé "x"' }, timestampMs: T, value: -0.5 },
    { metric: 'cpu.user', tags: { _bad: 'x' }, timestampMs: T, value: 3 },
  ];
  const req = encodeRemoteWrite(points, NAMING);
  t.is(req.samples, 3);
  t.deepEqual(req.dropped, { bad_label_name: 1 });
  t.deepEqual(decodeRemoteWrite(req.body), [
    {
      labels: [
        { name: '__name__', value: 'owl_cpu_user' },
        { name: 'uuid', value: 'u1' },
      ],
      samples: [
        { value: 1, timestamp: T },
        { value: 2, timestamp: T + 1000 },
      ],
    },
    {
      labels: [
        { name: '__name__', value: 'owl_cpu_user' },
        { name: 'host', value: 'ünï cødé "x"' },
        { name: 'uuid', value: 'u2' },
      ],
      samples: [{ value: -0.5, timestamp: T }],
    },
  ]);
});

test('OpenTSDB keeps v3 names and maps other characters to _', (t) => {
  t.is(opentsdbName('web.cpu.user'), 'web.cpu.user');
  t.is(opentsdbName('a-b_c/d.e'), 'a-b_c/d.e');
  t.is(opentsdbName('a b:c=é'), 'a_b_c__');
  const put = encodeOpenTsdb(
    [
      {
        metric: 'web.cpu.user',
        tags: { uuid: 'u1', 'host name': 'x y' },
        timestampMs: 1_800_000_000_123,
        value: 4,
      },
      { metric: 'lonely', tags: {}, timestampMs: 1, value: 1 },
    ],
    { extraTags: {}, maxTags: 8 },
  );
  t.deepEqual(JSON.parse(put.body), [
    {
      metric: 'web.cpu.user',
      timestamp: 1_800_000_000_123,
      value: 4,
      tags: { uuid: 'u1', host_name: 'x_y' },
    },
  ]);
  t.deepEqual(put.dropped, { no_tags: 1 });
});

test('remote_write shards: each label set in one part, parts balanced by samples, nothing lost; labels kept across requests', (t) => {
  const T = 1_800_000_000_000;
  const points: StorePoint[] = [];
  for (let step = 0; step < 5; step++)
    for (let h = 0; h < 9; h++)
      points.push({ metric: 'cpu.user', tags: { uuid: `u${h}` }, timestampMs: T + step * 1000, value: h });
  // Two store series with one label set (an empty tag is an absent label): one group, one part.
  points.push({ metric: 'cpu.user', tags: { uuid: 'u0', dc: '' }, timestampMs: T + 9000, value: 0 });
  const encoder = new RemoteWriteEncoder(NAMING);
  const columns = columnsOf(points);
  const enc = encoder.encode(columns, 4);
  t.is(enc.parts.length, 4);
  t.is(enc.samples, 46);
  const decoded = enc.parts.map((p) => decodeRemoteWrite(p.body));
  t.deepEqual(
    decoded.map((series) => series.reduce((n, s) => n + s.samples.length, 0)),
    enc.parts.map((p) => p.samples),
  );
  const owners = new Map<string, number>();
  for (const series of decoded)
    for (const s of series) {
      const key = s.labels.map((l) => l.value).join(',');
      owners.set(key, (owners.get(key) ?? 0) + 1);
    }
  t.is(owners.size, 9);
  t.true(
    [...owners.values()].every((n) => n === 1),
    'one part per label set',
  );
  const sizes = enc.parts.map((p) => p.samples);
  t.true(Math.max(...sizes) - Math.min(...sizes) <= 6, `balanced: ${sizes.join(',')}`);
  // A second request of the same series: the kept labels give the same bytes.
  t.deepEqual(encoder.encode(columns, 4), enc);
  t.deepEqual(new RemoteWriteEncoder(NAMING).encode(columns, 1).parts.length, 1);
});
