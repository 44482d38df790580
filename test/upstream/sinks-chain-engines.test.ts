/**
 * Sinks end to end into the other engines, real processes: a v4 agent (test/helpers/load-agent.ts,
 * one series per sample, timestamps of ten minutes ago) sends through `owl-relay run` to
 * `owl-upstream run`, whose config names two sinks: a real Prometheus (remote-write receiver on)
 * and a real VictoriaMetrics' OpenTSDB HTTP listener. Every sample is read back from both: from
 * Prometheus through PromQL (its value, and its time with `timestamp()`), under the documented
 * `owl_` name; from VictoriaMetrics under the v3 name OpenTSDB keeps; `owl-upstream status` shows
 * the store, the relay and both sinks. Exactly once after a crash
 * is sinks-chain.test.ts' (VictoriaMetrics) and sinks-prometheus.test.ts' (Prometheus' window).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import type { SinkView } from '../../upstream/index.js';
import { eventually } from '../helpers/agent-client.js';
import { sampleId } from '../helpers/load-agent.js';
import { startUpstreamCli } from '../helpers/owl-cli.js';
import { tempDir } from '../helpers/relay-harness.js';
import { startZoneAgent } from '../helpers/zone-agent.js';
import { Prometheus, VictoriaMetrics } from '../helpers/tsdb.js';
import { callApi } from '../helpers/upstream-api.js';

const ZONE = 'zone-p';
const ZONE_TOKEN = 'zone-token-prom-0123456789';
const UUID = 'b'.repeat(32);
const SESSION = 'engines';
const SAMPLES = 50;
const BATCHES = 20;
const CLI = fileURLToPath(new URL('../../upstream/cli.ts', import.meta.url));

test('samples through relay and upstream are read back from Prometheus (PromQL) and from VictoriaMetrics as OpenTSDB', async (t) => {
  t.timeout(120_000);
  const dir = tempDir('owl-sinks-engines-');
  mkdirSync(join(dir.path, 'prom'));
  const prom = await Prometheus.start({ dir: join(dir.path, 'prom') });
  const vm = await VictoriaMetrics.start({ dir: join(dir.path, 'vm'), dedup: true, opentsdb: true });
  const config = join(dir.path, 'upstream.json');
  writeFileSync(
    config,
    JSON.stringify({
      sinks: [
        { name: 'prom', type: 'remote_write', url: prom.writeUrl, extraLabels: { site: 'lab' } },
        { name: 'tsdb', type: 'opentsdb', url: vm.opentsdbUrl },
      ],
    }),
  );
  const up = await startUpstreamCli(join(dir.path, 'upstream'), 0, [], { config });
  // Prometheus takes samples within its head block: ten minutes ago, a millisecond apart.
  const base = Date.now() - 10 * 60_000;
  t.teardown(async () => {
    await up.proc.kill();
    await prom.stop();
    await vm.stop();
    dir.remove();
  });
  const zone = await startZoneAgent(up, {
    stateDir: join(dir.path, 'relay'),
    zone: ZONE,
    zoneToken: ZONE_TOKEN,
    agent: { uuid: UUID, session: SESSION, samples: SAMPLES, window: 4, timestampBaseMs: base },
  });
  t.teardown(() => zone.close());
  const { agent, relay } = zone;
  agent.sendUpTo(BATCHES);
  await agent.allAcked(30_000).catch((err: unknown) => {
    console.log(JSON.stringify(relay.proc.log.slice(-15)));
    throw err;
  });
  const total = BATCHES * SAMPLES;
  await eventually(
    async () => {
      const views = (await callApi(up.api, 'GET', '/api/v1/sinks')).body as SinkView[];
      return (
        views.length === 2 && views.every((v) => v.state === 'up' && v.lagRecords === 0 && v.sent >= total)
      );
    },
    45_000,
    'both sinks caught up',
    200,
  );

  // Prometheus: value and time of every series, through PromQL.
  const at = base + BATCHES + 1;
  const values = await prom.query('owl_load_value', at);
  const times = await prom.query('timestamp(owl_load_value)', at);
  t.is(values.length, total, 'one series per sample');
  const byId = new Map(values.map((r) => [r.metric['id'], r]));
  const timeById = new Map(times.map((r) => [r.metric['id'], Math.round(Number(r.value?.[1]) * 1000)]));
  let wrong = 0;
  for (let seq = 1; seq <= BATCHES; seq++)
    for (let i = 0; i < SAMPLES; i++) {
      const id = sampleId(UUID, SESSION, seq, i);
      const r = byId.get(id);
      const ok =
        r !== undefined &&
        Number(r.value?.[1]) === seq * 1000 + i &&
        r.metric['zone'] === ZONE &&
        r.metric['site'] === 'lab' &&
        timeById.get(id) === base + seq;
      if (!ok) wrong++;
    }
  t.is(wrong, 0, 'every sample with its value, time, zone and extra label');
  const counts = await prom.query('count_over_time(owl_load_value[15m])', Date.now());
  t.true(counts.length === total && counts.every((r) => r.value?.[1] === '1'), 'each sample stored once');

  // VictoriaMetrics through its OpenTSDB listener: the v3 name.
  const series = await vm.export('{__name__="load.value"}');
  t.is(series.length, total);
  const exported = new Map(series.map((s) => [s.metric['id'], s]));
  let wrongTsdb = 0;
  for (let seq = 1; seq <= BATCHES; seq++)
    for (let i = 0; i < SAMPLES; i++) {
      const s = exported.get(sampleId(UUID, SESSION, seq, i));
      if (s?.timestamps.length !== 1 || s.timestamps[0] !== base + seq || s.values[0] !== seq * 1000 + i)
        wrongTsdb++;
    }
  t.is(wrongTsdb, 0, 'every sample once, with its time and value');

  // `owl-upstream status`: the store's figures, the relay and both sinks at a glance.
  const api = ['--api', `127.0.0.1:${up.api.port}`, '--token', up.api.token ?? ''];
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', CLI, 'status', ...api]);
  const status = JSON.parse(stdout) as {
    store: { samples: number };
    relays: { id: string }[];
    sinks: SinkView[];
  };
  t.true(status.store.samples >= total, 'the embedded store holds them too');
  t.deepEqual(
    status.relays.map((r) => r.id),
    [ZONE],
  );
  t.deepEqual(
    status.sinks.map((v) => [v.name, v.state, v.lagRecords]),
    [
      ['prom', 'up', 0],
      ['tsdb', 'up', 0],
    ],
  );
});
