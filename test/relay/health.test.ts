/**
 * The relay's /healthz and /readyz on its metrics listener. With no upstream reachable the relay
 * is alive and ready while it spools within its caps; it is not ready once its spool stops
 * answering (closed), or once a reject-new spool at its cap refuses agents while the uplink is
 * down, and ready again when the uplink connects. The CLI's start line names the listener.
 */
import test from 'ava';
import { get } from 'node:http';
import { ErrorCode } from '../../protocol/index.js';
import type { Relay } from '../../relay/index.js';
import { eventually } from '../helpers/agent-client.js';
import { ZONE_TOKEN } from '../helpers/agent-rig.js';
import { LoadAgent } from '../helpers/load-agent.js';
import { startRelayCli } from '../helpers/owl-cli.js';
import { RELAY_ID, RELAY_TOKEN, startRelay, tempDir } from '../helpers/relay-harness.js';
import { UplinkReceiver } from '../helpers/uplink-receiver.js';
import { closedPort } from '../helpers/upstream-check.js';

/** The smallest spool cap the relay accepts. */
const CAP = 1024 * 1024;

interface Readiness {
  ready: boolean;
  notReady: string[];
  checks: Record<string, { ok: boolean; detail: string }>;
}

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

async function readyz(relay: Relay): Promise<{ status: number; body: Readiness }> {
  const r = await httpGet(relay.metricsAddress?.port ?? 0, '/readyz');
  return { status: r.status, body: JSON.parse(r.body) as Readiness };
}

async function unreachable(): Promise<string> {
  return `ws://127.0.0.1:${await closedPort()}/owl/v1/uplink`;
}

test('no upstream: /healthz 200 and /readyz 200 while spooling; /readyz 503 naming the spool once it is closed', async (t) => {
  const dir = tempDir('owl-health-');
  t.teardown(() => dir.remove());
  const { relay } = await startRelay(await unreachable(), dir.path);
  t.teardown(() => relay.stop());
  const port = relay.metricsAddress?.port ?? 0;
  t.not(port, 0);

  const health = await httpGet(port, '/healthz');
  t.is(health.status, 200);
  t.deepEqual(JSON.parse(health.body), { alive: true });
  const ready = await readyz(relay);
  t.is(ready.status, 200, JSON.stringify(ready.body));
  t.deepEqual(ready.body.notReady, []);
  t.is(ready.body.checks['spool']?.ok, true);
  t.regex(ready.body.checks['uplink']?.detail ?? '', /^not connected; spooling/);
  t.is((await httpGet(port, '/nothing')).status, 404);

  await relay.spool.close();
  const closed = await readyz(relay);
  t.is(closed.status, 503);
  t.false(closed.body.ready);
  t.deepEqual(closed.body.notReady, ['spool']);
  t.regex(closed.body.checks['spool']?.detail ?? '', /closed/);
  t.is((await httpGet(port, '/healthz')).status, 200, 'still alive');
});

test('reject-new spool at its cap with the uplink down: /readyz 503 naming the uplink; 200 again once it connects', async (t) => {
  const dir = tempDir('owl-health-cap-');
  t.teardown(() => dir.remove());
  const upstreamPort = await closedPort();
  const { relay, port } = await startRelay(`ws://127.0.0.1:${upstreamPort}/owl/v1/uplink`, dir.path, {
    zoneToken: ZONE_TOKEN,
    spool: { maxBytes: CAP, policy: 'reject-new' },
  });
  const agent = new LoadAgent({
    uuid: 'a'.repeat(32),
    session: 'health',
    samples: 100,
    window: 8,
    token: ZONE_TOKEN,
    noise: true,
    reconnectMs: 20,
    ackTimeoutMs: 10_000,
  });
  const upstream: { receiver?: UplinkReceiver } = {};
  t.teardown(async () => {
    agent.close();
    await relay.stop();
    await upstream.receiver?.close();
  });
  t.is((await readyz(relay)).status, 200, 'ready while the spool is empty');

  await agent.connect(port);
  // About 3 times what the spool holds: the spool fills and refuses.
  agent.sendUpTo(1200);
  await eventually(() => agent.errors.includes(ErrorCode.OVERLOADED), 30_000, 'the agent refused');
  const full = await readyz(relay);
  t.is(full.status, 503, JSON.stringify(full.body));
  t.deepEqual(full.body.notReady, ['uplink']);
  t.regex(
    full.body.checks['uplink']?.detail ?? '',
    /^not connected, the spool at its caps .*: agents are refused$/,
  );
  t.is(full.body.checks['spool']?.ok, true);

  upstream.receiver = await UplinkReceiver.start({ port: upstreamPort, relays: { [RELAY_ID]: RELAY_TOKEN } });
  await eventually(() => relay.uplink.state === 'connected', 20_000, 'uplink connected');
  const back = await readyz(relay);
  t.is(back.status, 200, JSON.stringify(back.body));
  t.is(back.body.checks['uplink']?.detail, 'connected');
});

test("owl-relay run: metrics on loopback, the 'relay started' line names the listener, which answers /healthz", async (t) => {
  const dir = tempDir('owl-health-cli-');
  t.teardown(() => dir.remove());
  const relay = await startRelayCli({
    stateDir: dir.path,
    relayId: RELAY_ID,
    token: RELAY_TOKEN,
    upstreamUrl: await unreachable(),
    zoneToken: ZONE_TOKEN,
  });
  t.teardown(() => relay.proc.stop());
  const started = relay.proc.log.find((l) => l.msg === 'relay started');
  const metrics = started?.['metrics'] as { address: string; port: number } | undefined;
  t.is(metrics?.address, '127.0.0.1');
  t.true((metrics?.port ?? 0) > 0);
  t.is((await httpGet(metrics?.port ?? 0, '/healthz')).status, 200);
  const ready = await httpGet(metrics?.port ?? 0, '/readyz');
  t.is(ready.status, 200, ready.body);
  const text = (await httpGet(metrics?.port ?? 0, '/metrics')).body;
  t.regex(text, /^owl_relay_build_info\{version="[^"]+",node="[^"]+"\} 1$/m);
  t.regex(text, /^process_cpu_seconds_total /m, 'process default metrics');
  t.regex(text, /^nodejs_eventloop_lag_seconds /m, 'Node default metrics');
});
