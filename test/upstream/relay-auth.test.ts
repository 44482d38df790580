/**
 * Relay identity at the real upstream: unknown, wrong, malformed and revoked
 * credentials are refused at the upgrade with a log line; a relay sees and
 * writes only its own zone.
 */
import test from 'ava';
import { BatchAckStatus, PacketType, UplinkCloseCode } from '../../protocol/index.js';
import { api } from '../helpers/upstream-harness.js';
import { addRelay, captureLog, hostView, query, withUpstream } from '../helpers/upstream-fixture.js';
import {
  agentRecord,
  sampleRecord,
  UpgradeRefused,
  UplinkTestClient,
} from '../helpers/upstream-uplink-client.js';

const UUID_A = '92eb5ffee6ae2fec3ad71c777531578f';
const UUID_B = '4a8a08f09d37b73795649038408b5f33';
const T0 = 1_718_000_000;

async function refusedWith(promise: Promise<UplinkTestClient>): Promise<number> {
  try {
    const client = await promise;
    client.terminate();
    return 101;
  } catch (err) {
    if (err instanceof UpgradeRefused) return err.status;
    throw err;
  }
}

test('unknown, wrong, malformed and revoked relay credentials are refused at the upgrade (401 / 403) with a log line', async (t) => {
  const log = captureLog();
  const { up, base } = await withUpstream(t, {}, { logger: log.logger });
  const token = await addRelay(up, 'zone-a');
  const refusals = (): Record<string, unknown>[] => log.lines.filter((l) => l['msg'] === 'relay refused');

  t.is(await refusedWith(UplinkTestClient.connect(base, 'nobody', token)), 401);
  t.is(refusals().at(-1)?.['relay'], 'nobody');
  t.is(refusals().at(-1)?.['why'], 'unknown');
  t.is(await refusedWith(UplinkTestClient.connect(base, 'zone-a', 'not-the-token')), 401);
  t.is(refusals().at(-1)?.['why'], 'bad-token');
  t.is(await refusedWith(UplinkTestClient.connect(base, 'zone-a', token, { authorization: null })), 401);
  t.is(
    await refusedWith(UplinkTestClient.connect(base, 'zone-a', token, { authorization: `Basic ${token}` })),
    401,
  );
  t.is(refusals().length, 4);
  t.false(JSON.stringify(log.lines).includes(token), 'the token never reaches the log');

  const ok = await UplinkTestClient.open(base, 'zone-a', token, 's1');
  t.is(ok.welcome.version, 1);

  const revoked = await api(up, 'DELETE', '/api/v1/relays/zone-a');
  t.is(revoked.status, 200);
  // Revoking cuts the live uplink too (FORBIDDEN: the relay retries slowly).
  t.is(await ok.client.waitClosed(), UplinkCloseCode.FORBIDDEN);
  t.is(await refusedWith(UplinkTestClient.connect(base, 'zone-a', token)), 403);
  t.is(refusals().at(-1)?.['why'], 'revoked relay');
  t.is(refusals().at(-1)?.['relay'], 'zone-a');
});

test('a HELLO naming another relay than the credentials is refused with 4403', async (t) => {
  const { up, base } = await withUpstream(t);
  const token = await addRelay(up, 'zone-a');
  await addRelay(up, 'zone-b');
  const client = await UplinkTestClient.connect(base, 'zone-a', token);
  client.send({
    type: 'HELLO',
    body: { version: 1, relay: 'zone-b', spool: 's1', features: [], firstUnacked: 0, nextSeq: 0 },
  });
  t.is(await client.waitClosed(), UplinkCloseCode.FORBIDDEN);
  const error = client.received.find((m) => m.type === 'ERROR');
  t.truthy(error, 'an ERROR precedes the close');
  t.false(client.received.some((m) => m.type === 'WELCOME'));
});

test('a second HELLO on one connection is refused with 4400 (it would reset the window and the spool id)', async (t) => {
  const { up, base } = await withUpstream(t);
  const token = await addRelay(up, 'zone-a');
  const { client } = await UplinkTestClient.open(base, 'zone-a', token, 's1');
  client.send({
    type: 'HELLO',
    body: { version: 1, relay: 'zone-a', spool: 's2', features: [], firstUnacked: 0, nextSeq: 0 },
  });
  t.is(await client.waitClosed(), UplinkCloseCode.PROTOCOL_ERROR);
  t.true(client.received.some((m) => m.type === 'ERROR'));
  t.false(
    client.received.some((m) => m.type === 'WELCOME'),
    'no second WELCOME',
  );
});

test('a relay cannot read or take over a host of another zone, and its data is always tagged with its own zone', async (t) => {
  const { up, base } = await withUpstream(t);
  const a = await UplinkTestClient.open(base, 'zone-a', await addRelay(up, 'zone-a'), 'sa');
  const b = await UplinkTestClient.open(base, 'zone-b', await addRelay(up, 'zone-b'), 'sb');

  const resp = await a.client.hostConfig({ uuid: UUID_A, ip: '10.1.0.5', hostname: 'a-5' });
  t.is(resp.type, 'HOSTCONFIG_RESP');
  t.is((await hostView(up, UUID_A))?.zone, 'zone-a');

  // zone-b asks for zone-a's host: refused.
  const stolen = await b.client.hostConfig({ uuid: UUID_A, ip: '10.2.0.9' });
  t.is(stolen.type, 'CONFIG_ERROR');
  t.is(stolen.type === 'CONFIG_ERROR' ? stolen.body.code : '', 'OWL_ERR_FORBIDDEN_ZONE');
  // ... also when it vouches for another uuid than the request names.
  const smuggled = await b.client.hostConfig({ uuid: UUID_A, ip: '10.2.0.9' }, UUID_B);
  t.is(smuggled.type, 'CONFIG_ERROR');
  const host = await hostView(up, UUID_A);
  t.is(host?.zone, 'zone-a', 'the host stays in its zone');
  t.is(host?.host.ip, '10.1.0.5');
  t.is(host?.host.proxy, 'zone-a');

  // zone-b's records about UUID_A, one claiming zone-a in its tags, are tagged zone-b.
  const status = await b.client.sendBatch([
    { seq: 0, record: sampleRecord({ uuid: UUID_A, timestamp: T0, value: 1 }) },
    {
      seq: 1,
      record: agentRecord(
        PacketType.SERIESBATCH,
        {
          session: 's',
          seq: 1,
          uuid: UUID_A,
          ip: '10.0.0.5',
          samples: [
            { metric: 'user', service_name: 'cpu', value: 2, timestamp: T0 + 1, tags: { zone: 'zone-a' } },
          ],
        },
        { uuid: UUID_A },
      ),
    },
    { seq: 2, record: agentRecord(PacketType.UPDATEDEVICES, [{ id: 1, ip: '10.2.0.1' }]) },
  ]);
  t.is(status, BatchAckStatus.STORED);
  const series = await query(up, 'cpu.user', { uuid: UUID_A });
  t.deepEqual(
    series.map((s) => s.tags['zone']),
    ['zone-b'],
  );
  t.deepEqual(series[0]?.values, [1, 2]);
  t.deepEqual((await api(up, 'GET', '/api/v1/zones/zone-a/devices')).body, []);
  t.deepEqual((await api(up, 'GET', '/api/v1/zones/zone-b/devices')).body, [{ id: 1, ip: '10.2.0.1' }]);
  await a.client.close();
  await b.client.close();
});

test('a relay cannot change another zone host through its data (heartbeat, discovery, ports, asset)', async (t) => {
  const { up, base } = await withUpstream(t);
  const a = await UplinkTestClient.open(base, 'zone-a', await addRelay(up, 'zone-a'), 'sa');
  const b = await UplinkTestClient.open(base, 'zone-b', await addRelay(up, 'zone-b'), 'sb');
  await a.client.hostConfig({ uuid: UUID_A, ip: '10.1.0.5' });
  const cpu = { name: 'cpu', plugin: 'cpu', exec_interval: 60, items: {} };
  t.is((await api(up, 'PUT', `/api/v1/hosts/${UUID_A}/services`, [cpu])).status, 200);
  await a.client.next('CONFIG_PUSH');
  const before = await hostView(up, UUID_A);

  const status = await b.client.sendBatch([
    {
      seq: 0,
      record: agentRecord(PacketType.HOSTHB, { uuid: UUID_A }, { receivedAtMs: Date.now() + 60_000 }),
    },
    {
      seq: 1,
      record: sampleRecord({
        uuid: UUID_A,
        timestamp: T0,
        value: 1,
        service: 'cpu',
        metric: 'planted',
        flag: 1,
      }),
    },
    { seq: 2, record: agentRecord(PacketType.PORTDISCOVERYR, { uuid: UUID_A, ports: [{ port: 31337 }] }) },
    { seq: 3, record: agentRecord(PacketType.ASSESTDISCOVERY, { uuid: UUID_A, sn: 'forged' }) },
  ]);
  t.is(status, BatchAckStatus.STORED);
  const after = await hostView(up, UUID_A);
  t.is(after?.lastSeenMs, before?.lastSeenMs, 'last-seen untouched');
  t.deepEqual(after?.host.services, [cpu], 'no item planted');
  t.deepEqual((await api(up, 'GET', `/api/v1/hosts/${UUID_A}/ports`)).body, []);
  t.is((await api(up, 'GET', `/api/v1/hosts/${UUID_A}/asset`)).body, null);
  await a.client.hostConfig({ uuid: UUID_A }); // a round trip: a push would have arrived before it
  t.false(
    a.client.received.some((m) => m.type === 'CONFIG_PUSH'),
    'nothing pushed to zone-a',
  );
  t.is(
    (await query(up, 'cpu.planted'))[0]?.tags['zone'],
    'zone-b',
    'the sample itself is kept, as zone-b data',
  );
  await a.client.close();
  await b.client.close();
});

test('the relay id "direct" is refused: it is the zone of directly connected agents', async (t) => {
  const { up } = await withUpstream(t);
  const added = await api(up, 'POST', '/api/v1/relays', { id: 'direct' });
  t.is(added.status, 400);
  t.is((added.body as { code: string }).code, 'OWL_ERR_BAD_FIELD');
});
