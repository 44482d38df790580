/**
 * The upstream's metrics listener: /metrics, /healthz, /readyz. Samples go agent → real relay
 * (`owl-relay run`) → real upstream (`owl-upstream run`); a scripted relay resends a batch and
 * sends one that does not open. The exposition is parsed: the ingest counter equals what the
 * store counted, duplicates and rejected batches are counted, one relay is connected with its
 * lag, build info and process metrics are there, and every `_total` is a counter. In process: a
 * closed store makes /readyz 503, and a plain ws:// uplink on a non-loopback address is warned of.
 */
import test from 'ava';
import { get } from 'node:http';
import { join } from 'node:path';
import { BatchAckStatus } from '../../protocol/index.js';
import { eventually } from '../helpers/agent-client.js';
import { ZONE_TOKEN } from '../helpers/agent-rig.js';
import { LoadAgent } from '../helpers/load-agent.js';
import { addRelay, startRelayCli, startUpstreamCli, upstreamStats } from '../helpers/owl-cli.js';
import { tempDir } from '../helpers/relay-harness.js';
import { captureLog, withUpstream } from '../helpers/upstream-fixture.js';
import { range, seqSamples, UplinkTestClient } from '../helpers/upstream-uplink-client.js';

const BATCHES = 20;
const SAMPLES = 50;

function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, timeout: 10_000, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer to ${path} in 10 s`)));
    req.on('error', reject);
  });
}

/** A parsed exposition: `# TYPE` per family, and each sample line's value by `name{labels}`. */
interface Exposition {
  types: Map<string, string>;
  values: Map<string, number>;
}

function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type !== null) types.set(type[1] as string, type[2] as string);
    else if (line !== '' && !line.startsWith('#')) {
      const cut = line.lastIndexOf(' ');
      values.set(line.slice(0, cut), Number(line.slice(cut + 1)));
    }
  }
  return { types, values };
}

async function scrape(port: number): Promise<Exposition> {
  const r = await httpGet(port, '/metrics');
  if (r.status !== 200) throw new Error(`/metrics: ${r.status}`);
  return parseExposition(r.body);
}

test('owl-upstream run: samples through a real relay are counted as stored; a resend as duplicate; relays, lag, build info, process metrics; every _total a counter; /readyz 200', async (t) => {
  const dir = tempDir('owl-upstream-metrics-');
  t.teardown(() => dir.remove());
  const up = await startUpstreamCli(join(dir.path, 'upstream'));
  t.teardown(() => up.proc.stop());
  const started = up.proc.log.find((l) => l.msg === 'upstream started');
  const address = started?.['metrics'] as { address: string; port: number } | undefined;
  t.is(address?.address, '127.0.0.1', 'metrics on loopback');
  const port = address?.port ?? 0;
  t.true(port > 0);
  t.false(
    up.proc.log.some((l) => /plain ws:\/\//.test(String(l.msg))),
    'no plain ws:// warning on loopback',
  );

  const token = await addRelay(up.api, 'zone-a');
  const relay = await startRelayCli({
    stateDir: join(dir.path, 'relay'),
    relayId: 'zone-a',
    token,
    upstreamUrl: `ws://127.0.0.1:${up.uplinkPort}/owl/v1/uplink`,
    zoneToken: ZONE_TOKEN,
  });
  t.teardown(() => relay.proc.stop());
  const agent = new LoadAgent({
    uuid: 'b'.repeat(32),
    session: 'metrics',
    samples: SAMPLES,
    window: 4,
    token: ZONE_TOKEN,
  });
  t.teardown(() => agent.close());
  await agent.connect(relay.agentPort);
  agent.sendUpTo(BATCHES);
  await agent.allAcked(30_000);
  await eventually(
    async () => (await upstreamStats(up.api)).samples === BATCHES * SAMPLES,
    30_000,
    'every sample stored upstream',
  );
  await eventually(
    async () => (await scrape(port)).values.has('owl_upstream_relay_backlog_bytes{relay="zone-a"}'),
    30_000,
    "the relay's RELAY_STATUS in the lag gauges",
  );

  // A scripted relay: a batch sent twice (STORED, then DUPLICATE), and one that does not open.
  const scriptedToken = await addRelay(up.api, 'zone-b');
  const { client } = await UplinkTestClient.open(
    `ws://127.0.0.1:${up.uplinkPort}`,
    'zone-b',
    scriptedToken,
    'spool-b',
  );
  const batch = UplinkTestClient.batch(seqSamples(range(0, 9), { uuid: 'c'.repeat(32), t0: 1_718_000_000 }));
  t.is(await client.sendBatchBody(batch), BatchAckStatus.STORED);
  t.is(await client.sendBatchBody(batch), BatchAckStatus.DUPLICATE);
  const bad = {
    ...UplinkTestClient.batch(seqSamples([10], { uuid: 'c'.repeat(32), t0: 1_718_000_000 })),
    compressed: true,
    payload: Buffer.from('not deflate'),
  };
  t.is(await client.sendBatchBody(bad), BatchAckStatus.REJECTED);
  const during = await scrape(port);
  t.is(during.values.get('owl_upstream_relays_connected'), 2);
  await client.close();
  await eventually(
    async () => (await scrape(port)).values.get('owl_upstream_relays_connected') === 1,
    10_000,
    'the scripted relay gone',
  );

  const m = await scrape(port);
  const stats = await upstreamStats(up.api);
  const stored = (zone: string): number | undefined =>
    m.values.get(`owl_upstream_ingest_samples_total{zone="${zone}"}`);
  t.is(stored('zone-a'), BATCHES * SAMPLES, 'the relay’s samples, as stored');
  t.is(stored('zone-b'), 10);
  t.is(
    (stored('zone-a') ?? 0) + (stored('zone-b') ?? 0),
    stats.samples,
    'the ingest counter is what the store counted',
  );
  t.is(m.values.get('owl_upstream_uplink_batches_total{status="duplicate"}'), 1);
  t.is(m.values.get('owl_upstream_uplink_batches_total{status="rejected"}'), 1);
  t.is(stats.duplicates, 1);
  t.is(stats.rejected, 1);
  t.is(m.values.get('owl_upstream_relays_connected'), 1);
  t.true((m.values.get('owl_upstream_relay_lag_seconds{relay="zone-a"}') ?? -1) >= 0);
  t.true((m.values.get('owl_upstream_relay_backlog_records{relay="zone-a"}') ?? -1) >= 0);
  t.false(
    [...m.values.keys()].some((k) => k.includes('relay="zone-b"')),
    'a relay that left takes its lag series',
  );
  t.true((m.values.get('owl_upstream_store_write_seconds_count') ?? 0) >= 2, 'store writes timed');
  t.is(m.types.get('owl_upstream_store_write_seconds'), 'histogram');
  t.is(m.values.get('owl_upstream_store_write_failures_total'), 0);
  const buildInfo = [...m.values.keys()].find((k) => k.startsWith('owl_upstream_build_info{'));
  t.regex(buildInfo ?? '', /^owl_upstream_build_info\{version="[^"]+",node="[^"]+"\}$/);
  t.is(m.values.get(buildInfo ?? ''), 1);
  t.true(m.types.has('process_cpu_seconds_total'), 'process default metrics');
  t.true(m.types.has('nodejs_heap_size_used_bytes'), 'Node default metrics');
  const totals = [...m.types].filter(([name]) => name.endsWith('_total'));
  t.true(totals.length >= 5);
  for (const [name, type] of totals) t.is(type, 'counter', `${name} is a counter`);

  t.deepEqual(JSON.parse((await httpGet(port, '/healthz')).body), { alive: true });
  const ready = await httpGet(port, '/readyz');
  t.is(ready.status, 200, ready.body);
  t.deepEqual((JSON.parse(ready.body) as { notReady: string[] }).notReady, []);
});

test('in process: /readyz 503 naming the store once it is closed; /healthz still 200', async (t) => {
  const { up } = await withUpstream(t);
  const port = up.metricsAddress?.port ?? 0;
  t.not(port, 0);
  t.is((await httpGet(port, '/readyz')).status, 200);
  await up.store.close();
  const r = await httpGet(port, '/readyz');
  t.is(r.status, 503, r.body);
  const body = JSON.parse(r.body) as {
    ready: boolean;
    notReady: string[];
    checks: Record<string, { ok: boolean }>;
  };
  t.false(body.ready);
  t.deepEqual(body.notReady, ['store']);
  t.true(body.checks['listeners']?.ok);
  t.is((await httpGet(port, '/healthz')).status, 200);
});

test('a plain ws:// uplink on a non-loopback address is warned of at start, once', async (t) => {
  const log = captureLog();
  await withUpstream(t, { uplink: { host: '0.0.0.0', port: 0 } }, { logger: log.logger });
  const warnings = log.lines.filter((l) => /plain ws:\/\//.test(String(l['msg'])));
  t.is(warnings.length, 1);
  t.is(warnings[0]?.['level'], 40);
  const quiet = captureLog();
  await withUpstream(t, {}, { logger: quiet.logger });
  t.false(
    quiet.lines.some((l) => /plain ws:\/\//.test(String(l['msg']))),
    'none on loopback',
  );
});
