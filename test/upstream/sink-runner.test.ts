/**
 * SinkRunner over a real RocksSampleStore (temp dir) with a scripted sink client and hand-driven
 * timers: a retry resends the same points, a refusal as bad data is skipped and counted, a 401
 * never skips, one log line per state change, and the lag and sink metrics.
 */
import test, { type ExecutionContext } from 'ava';
import { pino } from 'pino';
import {
  RocksSampleStore,
  SinkRunner,
  UpstreamMetrics,
  type SinkClient,
  type StorePoint,
} from '../../upstream/index.js';
import { SinkError, SinkErrorCode, type EncodedPart, type SendResult } from '../../upstream/sinks/index.js';
import { eventually } from '../helpers/agent-client.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { pt, T0, tempDir } from '../helpers/store-fixture.js';

type Respond = (call: number, points: StorePoint[]) => SendResult | Promise<SendResult>;

/**
 * A sink client whose answers the test scripts; it keeps every batch it was sent, decoded back
 * to points from the OpenTSDB JSON the store encoded (the rig's encoding).
 */
class ScriptedClient implements SinkClient {
  readonly calls: StorePoint[][] = [];
  constructor(private readonly respond: Respond) {}
  sendPart(part: EncodedPart): Promise<SendResult> {
    const puts = JSON.parse(Buffer.from(part.body).toString('utf8')) as OpenTsdbPut[];
    const points = puts.map((p) => pt(p.metric, p.tags, p.timestamp, p.value));
    this.calls.push(points);
    return Promise.resolve(this.respond(this.calls.length, points));
  }
}

interface OpenTsdbPut {
  metric: string;
  tags: Record<string, string>;
  timestamp: number;
  value: number;
}

const ok = (samples: number): SendResult => ({ ok: true, samples, dropped: {} });

function failed(status: number | undefined, code: SinkErrorCode = SinkErrorCode.UNAVAILABLE): SendResult {
  const error = new SinkError(code, `sink answered ${status ?? code}`, status, 'why');
  return {
    ok: false,
    retryable: error.retriable,
    error,
    ...(status === undefined ? {} : { status }),
    bodyLine: 'why',
    samples: 0,
    dropped: {},
  };
}

interface Rig {
  store: RocksSampleStore;
  timers: FakeTimers;
  lines: Record<string, unknown>[];
  metrics: UpstreamMetrics;
  runner: (client: SinkClient, shards?: number) => SinkRunner;
}

async function rig(t: ExecutionContext): Promise<Rig> {
  const store = await RocksSampleStore.open({
    location: await tempDir(t),
    forward: {
      sinks: ['vm'],
      maxBytes: 1 << 30,
      policy: 'drop-oldest',
      encodings: { vm: { type: 'opentsdb', naming: { extraTags: {}, maxTags: 8 } } },
    },
  });
  const timers = new FakeTimers();
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  const metrics = new UpstreamMetrics({
    relays: () => [],
    agents: () => 0,
    forward: () => store.forwardStats(),
  });
  const runners: SinkRunner[] = [];
  t.teardown(async () => {
    for (const r of runners) await r.stop();
    await store.close();
  });
  return {
    store,
    timers,
    lines,
    metrics,
    runner: (client, shards) => {
      const r = new SinkRunner({
        name: 'vm',
        client,
        ...(shards === undefined ? {} : { shards }),
        store,
        log,
        timers,
        random: () => 1,
        onSent: (n) => metrics.sinkSamples.inc({ sink: 'vm' }, n),
        onFailure: (status) => metrics.sinkFailures.inc({ sink: 'vm', status }),
      });
      runners.push(r);
      r.start();
      return r;
    },
  };
}

const batch = (n: number, from: number): StorePoint[] =>
  Array.from({ length: n }, (_, i) => pt('cpu.user', { uuid: 'h1' }, T0 + (from + i) * 1000, from + i));

async function calls(client: ScriptedClient, n: number): Promise<void> {
  await eventually(() => client.calls.length >= n, 5000, `${n} sends`);
}

/** Fire the runner's pending timer (a backoff or retry wait) once it has set one. */
async function fire(timers: FakeTimers, ms: number): Promise<void> {
  await eventually(() => timers.pending > 0, 5000, 'a runner timer');
  timers.advance(ms);
}

async function metric(metrics: UpstreamMetrics, name: string): Promise<string> {
  return metrics.registry.getSingleMetricAsString(name);
}

test('a retryable failure resends the same points until they are accepted; one log line per state change', async (t) => {
  const r = await rig(t);
  await r.store.write(batch(5, 0));
  await r.store.write(batch(5, 5));
  const client = new ScriptedClient((n) =>
    n <= 3 ? failed(503) : n === 4 ? failed(undefined, SinkErrorCode.UNREACHABLE) : ok(10),
  );
  const runner = r.runner(client);
  await calls(client, 1);
  t.is(client.calls[0]?.length, 10, 'both records in one send');
  for (let i = 2; i <= 5; i++) {
    await fire(r.timers, 30_000);
    await calls(client, i);
  }
  for (const c of client.calls) t.deepEqual(c, client.calls[0], 'the same points each time');
  await eventually(() => runner.status().state === 'up' && runner.status().sent === 10, 5000, 'delivered');
  const stats = await r.store.forwardStats();
  t.is(stats?.perSink[0]?.lagRecords, 0);
  t.is(runner.status().failures, 4);
  t.is(r.lines.filter((l) => l.msg === 'sink down: retrying').length, 1, 'one "down" line for 4 failures');
  const up = r.lines.filter((l) => l.msg === 'sink up again');
  t.is(up.length, 1);
  t.true((up[0]?.downMs as number) >= 4 * 25);
  const failures = await metric(r.metrics, 'owl_upstream_sink_failures_total');
  t.regex(failures, /sink="vm",status="503"} 3/);
  t.regex(failures, /sink="vm",status="network"} 1/);
  t.regex(await metric(r.metrics, 'owl_upstream_sink_samples_total'), /sink="vm"} 10/);
});

test('shards: a read goes as parts sent at once, each series in one; only a failed part is resent; the ack waits for all', async (t) => {
  const r = await rig(t);
  const hosts = ['h1', 'h2', 'h3', 'h4'];
  await r.store.write(
    hosts.flatMap((uuid) => [0, 1, 2].map((i) => pt('cpu.user', { uuid }, T0 + i * 1000, i))),
  );
  // Parts holding h2 fail twice (503), the others are accepted at once.
  let h2Failures = 0;
  const client = new ScriptedClient((_n, points) => {
    if (points.some((p) => p.tags.uuid === 'h2') && h2Failures < 2) return (h2Failures++, failed(503));
    return ok(points.length);
  });
  const runner = r.runner(client, 3);
  await calls(client, 3);
  const first = client.calls.slice(0, 3);
  t.is(first.length, 3, 'three parts at once');
  const owners = hosts.map((h) => first.filter((c) => c.some((p) => p.tags.uuid === h)).length);
  t.deepEqual(owners, [1, 1, 1, 1], 'each series in one part');
  t.is(first.flat().length, 12);
  t.is((await r.store.forwardStats())?.perSink[0]?.lagRecords, 1, 'no ack while a part failed');
  await fire(r.timers, 30_000);
  await calls(client, 4);
  await fire(r.timers, 30_000);
  await calls(client, 5);
  const h2Part = first.find((c) => c.some((p) => p.tags.uuid === 'h2'));
  t.deepEqual(client.calls.slice(3), [h2Part, h2Part], 'only the failed part, the same points');
  await eventually(() => runner.status().sent === 12, 5000, 'all accepted');
  await eventually(
    async () => (await r.store.forwardStats())?.perSink[0]?.lagRecords === 0,
    5000,
    'acked once all parts were accepted',
  );
  t.is(runner.status().failures, 2);
  t.is(runner.status().state, 'up');
});

test('a batch refused as bad data is skipped, counted and logged; the next is delivered', async (t) => {
  const r = await rig(t);
  await r.store.write(batch(3, 0));
  const client = new ScriptedClient((n) => (n === 1 ? failed(400, SinkErrorCode.REFUSED) : ok(2)));
  const runner = r.runner(client);
  await calls(client, 1);
  await eventually(() => runner.status().refusedBatches === 1, 5000, 'skipped');
  t.is((await r.store.forwardStats())?.perSink[0]?.lagRecords, 0, 'acked past the refused batch');
  await r.store.write(batch(2, 3));
  await fire(r.timers, 100);
  await calls(client, 2);
  t.deepEqual(client.calls[1], batch(2, 3), 'only the new record');
  await eventually(() => runner.status().sent === 2, 5000, 'delivered');
  t.is(r.lines.filter((l) => l.msg === 'sink refused a batch as bad data: skipped').length, 1);
  t.regex(await metric(r.metrics, 'owl_upstream_sink_failures_total'), /status="400"} 1/);
});

test('401 never skips: retried every 30 s in state stopped-auth until accepted', async (t) => {
  const r = await rig(t);
  await r.store.write(batch(4, 0));
  const client = new ScriptedClient((n) => (n <= 3 ? failed(401, SinkErrorCode.REFUSED) : ok(4)));
  const runner = r.runner(client);
  await calls(client, 1);
  await eventually(() => runner.status().state === 'stopped-auth', 5000, 'stopped-auth');
  await fire(r.timers, 29_999);
  t.is(client.calls.length, 1, 'not before 30 s');
  r.timers.advance(1);
  await calls(client, 2);
  t.is((await r.store.forwardStats())?.perSink[0]?.lagRecords, 1, 'cursor not moved');
  await fire(r.timers, 30_000);
  await calls(client, 3);
  await fire(r.timers, 30_000);
  await calls(client, 4);
  for (const c of client.calls) t.deepEqual(c, batch(4, 0));
  await eventually(() => runner.status().state === 'up', 5000, 'up');
  t.is(runner.status().refusedBatches, 0);
  t.is(r.lines.filter((l) => /credentials/.test(String(l.msg))).length, 1, 'logged once');
});

test('lag metrics follow the log; stop abandons an in-flight send without acking', async (t) => {
  const r = await rig(t);
  await r.store.write(batch(2, 0));
  await r.store.write(batch(2, 2));
  t.regex(await metric(r.metrics, 'owl_upstream_sink_lag_records'), /sink="vm"} 2/);
  t.regex(await metric(r.metrics, 'owl_upstream_sink_lag_seconds'), /sink="vm"} [0-9.e-]+/);
  // A send that never answers.
  const client = new ScriptedClient(() => new Promise<SendResult>(() => undefined));
  const runner = r.runner(client);
  await calls(client, 1);
  await runner.stop();
  t.is(runner.status().state, 'stopped');
  t.is((await r.store.forwardStats())?.perSink[0]?.lagRecords, 2, 'nothing acked');
  // A new runner resends the same records and catches up.
  const again = new ScriptedClient(() => ok(4));
  const next = r.runner(again);
  await calls(again, 1);
  t.deepEqual(again.calls[0], client.calls[0]);
  await eventually(() => next.status().sent === 4, 5000, 'delivered');
  t.regex(await metric(r.metrics, 'owl_upstream_sink_lag_records'), /sink="vm"} 0/);
  t.regex(await metric(r.metrics, 'owl_upstream_sink_dropped_records_total'), /sink="vm"} 0/);
});
