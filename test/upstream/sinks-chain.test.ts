/**
 * Sinks end to end, real processes: a v4 agent (test/helpers/load-agent.ts, one series per
 * sample) sends through `owl-relay run` to `owl-upstream run`, whose config names a real
 * VictoriaMetrics (dedup on) as a remote_write sink. Every sample must appear in
 * VictoriaMetrics exactly once, read back with /api/v1/export, under its documented name and
 * labels: first plainly, then after the upstream is killed with SIGKILL mid-forwarding and
 * restarted, then after VictoriaMetrics is stopped for 60 s while samples keep coming.
 * The upstream reaches VictoriaMetrics through a TCP forwarder (test/helpers/tcp-proxy.ts) that
 * holds each answer 1 s: the kill lands after VictoriaMetrics stored a request and before the
 * upstream heard so, so the restarted upstream resends it (without dedup this test fails).
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import type { SinkView } from '../../upstream/index.js';
import { eventually } from '../helpers/agent-client.js';
import { sampleId } from '../helpers/load-agent.js';
import { startUpstreamCli, type UpstreamCli } from '../helpers/owl-cli.js';
import { tempDir } from '../helpers/relay-harness.js';
import { startZoneAgent } from '../helpers/zone-agent.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { VictoriaMetrics } from '../helpers/tsdb.js';
import { callApi } from '../helpers/upstream-api.js';

const ZONE = 'zone-a';
const ZONE_TOKEN = 'zone-token-0123456789';
const UUID = 'a'.repeat(32);
const SESSION = 'sinks-chain';
const SAMPLES = 50;
const CLI = fileURLToPath(new URL('../../upstream/cli.ts', import.meta.url));

async function sinkView(up: UpstreamCli): Promise<SinkView> {
  const r = await callApi(up.api, 'GET', '/api/v1/sinks');
  const [view] = r.body as SinkView[];
  if (r.status !== 200 || view === undefined) throw new Error(`GET /api/v1/sinks: ${r.status}`);
  return view;
}

/** Every sample of batches 1..batches in VictoriaMetrics once, with its name, labels, time and value. */
async function checkExported(t: ExecutionContext, vm: VictoriaMetrics, batches: number): Promise<void> {
  const series = await vm.export('{__name__="owl_load_value"}');
  const byId = new Map(series.map((s) => [s.metric['id'], s]));
  t.is(series.length, batches * SAMPLES, 'one series per sample');
  let wrong = 0;
  for (let seq = 1; seq <= batches; seq++) {
    for (let i = 0; i < SAMPLES; i++) {
      const s = byId.get(sampleId(UUID, SESSION, seq, i));
      const once =
        s !== undefined &&
        s.timestamps.length === 1 &&
        s.timestamps[0] === 1_700_000_000_000 + seq &&
        s.values[0] === seq * 1000 + i &&
        s.metric['zone'] === ZONE;
      if (!once) wrong++;
    }
  }
  t.is(wrong, 0, 'every sample once, with its timestamp, value and zone');
}

test('every sample reaches VictoriaMetrics once: plainly, after an upstream kill -9, after a 60 s VictoriaMetrics outage', async (t) => {
  t.timeout(240_000);
  const dir = tempDir('owl-sinks-chain-');
  const vm = await VictoriaMetrics.start({ dir: join(dir.path, 'vm'), dedup: true });
  const proxy = await TcpProxy.start(vm.port);
  proxy.setReplyDelay(1000);
  const url = `http://127.0.0.1:${proxy.port}/api/v1/write`;
  const config = join(dir.path, 'upstream.json');
  // A 2 s retry cap: the sink is back within 2 s of VictoriaMetrics' return (30 s by default).
  writeFileSync(
    config,
    JSON.stringify({ sinks: [{ name: 'vm', type: 'remote_write', url, retryMaxMs: 2000 }] }),
  );
  const upDir = join(dir.path, 'upstream');
  let up = await startUpstreamCli(upDir, 0, [], { config });
  t.teardown(async () => {
    await up.proc.kill();
    await proxy.close();
    await vm.stop();
    dir.remove();
  });
  const zone = await startZoneAgent(up, {
    stateDir: join(dir.path, 'relay'),
    zone: ZONE,
    zoneToken: ZONE_TOKEN,
    agent: { uuid: UUID, session: SESSION, samples: SAMPLES, window: 4 },
  });
  t.teardown(() => zone.close());
  const { agent } = zone;
  /** The agent's batches 1..batches acknowledged, stored upstream, forwarded, and in VictoriaMetrics once. */
  const forwarded = async (batches: number): Promise<void> => {
    await agent.allAcked(30_000);
    await eventually(
      async () => {
        const v = await sinkView(up);
        if (v.state !== 'up' || v.lagRecords !== 0) return false;
        return (await vm.export('{__name__="owl_load_value"}')).length === batches * SAMPLES;
      },
      45_000,
      `${batches * SAMPLES} samples forwarded`,
      200,
    );
    await checkExported(t, vm, batches);
  };

  agent.sendUpTo(20);
  await forwarded(20);
  const first = await sinkView(up);
  t.like(first, { name: 'vm', type: 'remote_write', url, failures: 0, lastError: null });
  t.true(first.sent >= 20 * SAMPLES, 'sent counts the samples');

  // kill -9 while forwarding: VictoriaMetrics has stored a request the upstream has not heard
  // back on, so its cursor is behind; the restarted upstream resends, stored once.
  agent.sendUpTo(60);
  await eventually(
    async () => (await vm.export('{__name__="owl_load_value"}')).length > 20 * SAMPLES,
    20_000,
    'a request of new samples stored',
    20,
  );
  await up.proc.kill();
  up = await startUpstreamCli(upDir, up.uplinkPort, [], { config });
  await forwarded(60);
  t.true(
    (await sinkView(up)).sent >= 40 * SAMPLES,
    'the restarted upstream sent batches 21-60 again, those stored before the kill too',
  );

  // VictoriaMetrics down 60 s (the outage) while samples keep coming; all arrive, once.
  await vm.stop();
  let limit = 60;
  await eventually(
    async () => {
      agent.sendUpTo((limit = Math.min(limit + 2, 100)));
      const v = await sinkView(up);
      return v.state === 'down' && v.lagSeconds >= 60;
    },
    90_000,
    'the sink down for 60 s',
    500,
  );
  agent.sendUpTo(100);
  await vm.start();
  await forwarded(100);
  const after = await sinkView(up);
  t.true(after.failures > 0, 'the outage was seen as failed sends');
  t.not(after.lastError, null);
  t.true(
    up.proc.log.some((l) => l.msg === 'sink up again'),
    'one line when the sink came back',
  );
  // `owl-upstream sinks` prints the same view.
  const api = ['--api', `127.0.0.1:${up.api.port}`, '--token', up.api.token ?? ''];
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', CLI, 'sinks', ...api]);
  t.like((JSON.parse(stdout) as SinkView[])[0], { name: 'vm', url, state: 'up', lagRecords: 0 });
});
