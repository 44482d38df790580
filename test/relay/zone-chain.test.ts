/**
 * Zone duties end to end, on the real CLIs: an operator adds a Debian snmpd
 * and a host port to zone-a with `owl-upstream device add` / `port add`; the
 * upstream pushes the list to the relay, whose samples reach the store
 * through the spool and the uplink. Then the relay is killed with SIGKILL and
 * restarted (it polls again from its cached inventory), and the upstream is
 * killed and comes back 8 s later: the polls made during the outage are
 * stored, each point once.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { UPLINK_PATH } from '../../protocol/index.js';
import { eventually } from '../helpers/agent-client.js';
import {
  addRelay,
  bothEndsConnected,
  relayMetric,
  startRelayCli,
  startUpstreamCli,
  upstreamStats,
  type RelayCli,
} from '../helpers/owl-cli.js';
import { tempDir } from '../helpers/relay-harness.js';
import { Snmpd, SNMP_COMMUNITY, TEST_COUNTER_OID } from '../helpers/snmpd.js';
import { callApi, type ApiTarget } from '../helpers/upstream-api.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../../upstream/cli.ts', import.meta.url));

async function owlUpstream(api: ApiTarget, args: string[]): Promise<unknown> {
  const { stdout } = await run(process.execPath, [
    '--import',
    'tsx',
    CLI,
    ...args,
    '--api',
    `127.0.0.1:${api.port}`,
    '--token',
    api.token ?? '',
  ]);
  return JSON.parse(stdout) as unknown;
}

async function points(api: ApiTarget, metric: string, device: string): Promise<number[]> {
  const r = await callApi(
    api,
    'GET',
    `/api/v1/query?metric=${metric}&tag.device=${encodeURIComponent(device)}&from=0`,
  );
  const series = r.body as { timestampsMs: number[] }[];
  return series.flatMap((s) => s.timestampsMs);
}

test('SNMP and port samples reach the store once through a relay kill -9 and an upstream outage', async (t) => {
  const dir = tempDir('owl-zone-chain-');
  const snmpd = await Snmpd.start(`${dir.path}/snmpd`);
  const web = createServer((c) => c.destroy()).listen(0, '127.0.0.1');
  await once(web, 'listening');
  let up = await startUpstreamCli(`${dir.path}/up`);
  const token = await addRelay(up.api, 'zone-a');
  const relayOptions = {
    stateDir: `${dir.path}/relay`,
    relayId: 'zone-a',
    token,
    upstreamUrl: `ws://127.0.0.1:${up.uplinkPort}${UPLINK_PATH}`,
    zoneToken: 'zone-a-agents-token',
    config: { zone: { portIntervalMs: 1000 } },
  };
  let relay: RelayCli = await startRelayCli(relayOptions);
  t.teardown(async () => {
    await relay.proc.kill();
    await up.proc.kill();
    await snmpd.stop();
    web.close();
    dir.remove();
  });
  await bothEndsConnected(up.api, relay, 'zone-a');

  const added = (await owlUpstream(up.api, [
    'device',
    'add',
    'zone-a',
    '--ip',
    '127.0.0.1',
    '--port',
    String(snmpd.port),
    '--community',
    SNMP_COMMUNITY,
    '--interval',
    '1',
    '--retries',
    '0',
    '--timeout-ms',
    '500',
    '--oid',
    `testCounter=${TEST_COUNTER_OID}`,
  ])) as Record<string, unknown>;
  t.is(added['snmp_community'], '***', 'the CLI never prints the community');
  const device = `127.0.0.1:${snmpd.port}`;
  const webPort = (web.address() as AddressInfo).port;
  await owlUpstream(up.api, ['port', 'add', 'zone-a', '--ip', '127.0.0.1', '--port', String(webPort)]);

  await eventually(
    async () => (await points(up.api, 'if.inOctets', device)).length > 0,
    30_000,
    'interface rates stored',
  );
  await eventually(
    async () => (await relay.status()).zone.devicesUp === 1,
    10_000,
    'owl-relay status: 1 device up',
  );
  t.like((await relay.status()).zone, { devices: 1, devicesUp: 1 });
  t.is(await relayMetric(relay.metricsPort, 'owl_relay_zone_devices_up'), 1);
  await eventually(
    async () => {
      const r = await callApi(up.api, 'GET', '/api/v1/zones/zone-a/devices');
      const d = (r.body as { interfaces?: Record<string, { name?: string }> }[])[0];
      return Object.values(d?.interfaces ?? {}).some((i) => i.name === 'lo');
    },
    20_000,
    'the interface table merged into the zone inventory',
  );
  await eventually(
    async () =>
      (
        (await callApi(up.api, 'GET', `/api/v1/query?metric=port.up&tag.port=${webPort}&from=0`)).body as {
          values: number[];
        }[]
      )
        .flatMap((s) => s.values)
        .includes(1),
    20_000,
    'port up stored',
  );

  // kill -9 of the relay: it comes back polling from its cached inventory.
  await relay.proc.kill();
  const beforeRestart = (await points(up.api, 'snmp.up', device)).length;
  relay = await startRelayCli(relayOptions);
  await eventually(
    async () => (await points(up.api, 'snmp.up', device)).length >= beforeRestart + 3,
    30_000,
    'polls after the relay restart',
  );

  // The upstream away for 8 s: polls go on into the spool.
  const uplinkPort = up.uplinkPort;
  await up.proc.kill();
  const downAt = Date.now();
  await eventually(
    async () => (await relay.status()).spool.samples > 0 && Date.now() - downAt >= 8000,
    30_000,
    '8 s of spooled polls',
    200,
  );
  const spooled = (await relay.status()).spool.records;
  up = await startUpstreamCli(`${dir.path}/up`, uplinkPort);
  const before = await upstreamStats(up.api);
  const backAt = Date.now();
  await eventually(async () => (await relay.status()).spool.records === 0, 30_000, 'the backlog drained');
  await eventually(
    async () => (await points(up.api, 'snmp.up', device)).some((ts) => ts > backAt),
    20_000,
    'live polls again',
  );

  const ts = await points(up.api, 'snmp.up', device);
  const during = ts.filter((x) => x > downAt + 500 && x < backAt - 500);
  t.true(
    during.length >= 5,
    `${during.length} polls stored from the 8 s outage (${spooled} records were spooled)`,
  );
  t.is(new Set(ts).size, ts.length, 'no snmp.up point twice');
  const stats = await upstreamStats(up.api);
  t.is(stats.samples, stats.points - before.points, 'the restarted upstream wrote each point once');
  t.is(stats.rejected, 0);
});
