/**
 * mTLS on the uplink (tls.ca + tls.requestCert): the handshake refuses relays
 * without a certificate from the configured CA, the upgrade refuses a
 * certificate naming another relay (403, logged), the token is still
 * required, and the operator API asks for no client certificate.
 */
import test, { type ExecutionContext } from 'ava';
import { mkdirSync } from 'node:fs';
import { request } from 'node:https';
import { PacketType } from '../../protocol/index.js';
import type { Relay, RelayConfigInput } from '../../relay/index.js';
import { resolveUpstreamConfig, type Upstream } from '../../upstream/index.js';
import { eventually, TestAgent } from '../helpers/agent-client.js';
import { startRelay, tempDir } from '../helpers/relay-harness.js';
import { makeClientCert, makeTestPki, type TestCert, type TestPki } from '../helpers/tls.js';
import { captureLog, withUpstream } from '../helpers/upstream-fixture.js';
import { UpgradeRefused, UplinkTestClient } from '../helpers/upstream-uplink-client.js';
import { v3Sample } from '../helpers/v3-sample.js';

const UUID = '5d41402abc4b2a76b9719d911017c592';
const T0 = 1_718_000_000;

interface Rig {
  up: Upstream;
  /** Scratch directory (removed after the test). */
  dir: string;
  /** wss:// URL of the uplink. */
  url: string;
  pki: TestPki;
  /** A second CA the upstream does not trust. */
  other: TestPki;
  lines: Record<string, unknown>[];
}

/** An upstream with mTLS on its uplink; a trusted and an untrusted CA. */
async function mtlsUpstream(t: ExecutionContext): Promise<Rig> {
  const dir = tempDir('owl-mtls-');
  t.teardown(() => dir.remove());
  mkdirSync(`${dir.path}/pki`);
  mkdirSync(`${dir.path}/other`);
  const pki = makeTestPki(`${dir.path}/pki`);
  const other = makeTestPki(`${dir.path}/other`, 'owl-other-ca');
  const log = captureLog();
  const { up } = await withUpstream(
    t,
    { tls: { cert: pki.certFile, key: pki.keyFile, ca: pki.caFile, requestCert: true } },
    { logger: log.logger },
  );
  t.true(up.uplinkUrl.startsWith('wss://'));
  return { up, dir: dir.path, url: up.uplinkUrl, pki, other, lines: log.lines };
}

/** How an upgrade attempt ended: 101 (open, then closed here), an HTTP status, or 'tls' (handshake refused). */
async function attempt(
  rig: Rig,
  relayId: string,
  token: string,
  cert: TestCert | undefined,
): Promise<number | 'tls'> {
  const tls = { ca: rig.pki.ca, ...(cert === undefined ? {} : { cert: cert.cert, key: cert.key }) };
  try {
    const client = await UplinkTestClient.connect(rig.url, relayId, token, { tls });
    client.terminate();
    return 101;
  } catch (err) {
    if (err instanceof UpgradeRefused) return err.status;
    return 'tls';
  }
}

function logged(rig: Rig, msg: string): Record<string, unknown>[] {
  return rig.lines.filter((l) => l['msg'] === msg);
}

test('the uplink takes a relay whose CA-signed certificate names it (CN or SAN DNS), and refuses others at the handshake or the upgrade', async (t) => {
  const rig = await mtlsUpstream(t);
  const tokenA = await rig.up.relays.add('zone-a', Date.now());
  await rig.up.relays.add('zone-b', Date.now());
  const certA = makeClientCert(rig.pki, 'relay-a', { cn: 'zone-a' });
  const sanA = makeClientCert(rig.pki, 'relay-a-san', { cn: 'relay host 7', dns: ['zone-x', 'zone-a'] });
  const certB = makeClientCert(rig.pki, 'relay-b', { cn: 'zone-b' });
  const caseA = makeClientCert(rig.pki, 'relay-a-case', { cn: 'Zone-A' });
  const foreignA = makeClientCert(rig.other, 'relay-a-foreign', { cn: 'zone-a' });

  // Accepted: the CN, or one of the SAN DNS names, is the relay id; HELLO gets a WELCOME.
  const ok = await UplinkTestClient.open(rig.url, 'zone-a', tokenA, 's1', 0, {
    tls: { ca: rig.pki.ca, cert: certA.cert, key: certA.key },
  });
  t.is(ok.welcome.version, 1);
  await ok.client.close();
  t.is(await attempt(rig, 'zone-a', tokenA, sanA), 101);

  // Relay B's certificate cannot carry relay A's token: 403 at the upgrade, logged.
  t.is(await attempt(rig, 'zone-a', tokenA, certB), 403);
  const refused = logged(rig, 'relay refused').at(-1);
  t.is(refused?.['relay'], 'zone-a');
  t.is(refused?.['why'], 'client certificate is not for this relay');
  // Names compare exactly: relay ids are case-sensitive.
  t.is(await attempt(rig, 'zone-a', tokenA, caseA), 403);
  // The token is still required with the right certificate.
  t.is(await attempt(rig, 'zone-a', 'not-the-token', certA), 401);
  t.is(logged(rig, 'relay refused').at(-1)?.['why'], 'bad-token');
  t.is(logged(rig, 'relay refused').length, 3);

  // No certificate, or one from another CA: the TLS handshake fails; no upgrade is seen.
  const handshakes = logged(rig, 'relay TLS handshake refused').length;
  t.is(await attempt(rig, 'zone-a', tokenA, undefined), 'tls');
  t.is(await attempt(rig, 'zone-a', tokenA, foreignA), 'tls');
  await eventually(() => logged(rig, 'relay TLS handshake refused').length >= handshakes + 2);
  t.deepEqual(
    logged(rig, 'relay TLS handshake refused').map((l) => l['why']),
    ['ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    'the log says why',
  );
  t.is(logged(rig, 'relay refused').length, 3, 'the endpoint never saw those two');
  t.false(JSON.stringify(rig.lines).includes(tokenA), 'the token never reaches the log');
});

test('tls.requestCert without tls.ca is refused at config time', (t) => {
  const err = t.throws(() =>
    resolveUpstreamConfig({ tls: { cert: 'c.pem', key: 'k.pem', requestCert: true } }),
  );
  t.is((err as Error & { code?: string }).code, 'OWL_ERR_CONFIG_INVALID');
});

test('the operator API over the same certificate asks for no client certificate', async (t) => {
  const rig = await mtlsUpstream(t);
  const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: rig.up.apiAddress.port,
        path: '/api/v1/stats',
        ca: rig.pki.ca,
        headers: { authorization: `Bearer ${rig.up.apiToken}` },
      },
      (r) => {
        let body = '';
        r.on('data', (c: Buffer) => (body += c.toString()));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
  t.is(res.status, 200);
  t.like(JSON.parse(res.body) as object, { relaysConnected: 0 });
});

test('real relays: a certificate for itself connects and delivers; none, another relay’s, or another CA’s never connects', async (t) => {
  const rig = await mtlsUpstream(t);
  const relays = new Map<string, Relay>();
  const start = async (id: string, uplinkTls: RelayConfigInput['uplinkTls']): Promise<number> => {
    const token = await rig.up.relays.add(id, Date.now());
    mkdirSync(`${rig.dir}/${id}`);
    const { relay, port } = await startRelay(rig.url, `${rig.dir}/${id}`, {
      relayId: id,
      token,
      ...(uplinkTls === undefined ? {} : { uplinkTls }),
    });
    t.teardown(() => relay.stop());
    relays.set(id, relay);
    return port;
  };
  const own = makeClientCert(rig.pki, 'zone-a', { cn: 'zone-a' });
  const foreign = makeClientCert(rig.other, 'zone-d', { cn: 'zone-d' });
  const ca = rig.pki.caFile;
  const portA = await start('zone-a', { ca, cert: own.certFile, key: own.keyFile });
  await start('zone-b', { ca });
  await start('zone-c', { ca, cert: own.certFile, key: own.keyFile }); // zone-a's certificate
  await start('zone-d', { ca, cert: foreign.certFile, key: foreign.keyFile });

  const a = relays.get('zone-a') as Relay;
  await eventually(() => a.uplink.state === 'connected', 10_000, 'zone-a connected');
  const agent = await TestAgent.connect(portA);
  t.teardown(() => agent.destroy());
  for (let i = 0; i < 20; i++) {
    agent.send(
      PacketType.SERIESDATA,
      v3Sample({ uuid: UUID, ip: '10.1.0.5', timestamp: T0 + i, metric: 'user', value: i }),
    );
  }
  await eventually(() => rig.up.endpoint.totals.samples === 20, 10_000, '20 samples stored');
  await eventually(() => a.spool.firstSeq() === a.spool.nextSeq(), 10_000, 'zone-a spool drained');

  // The three others keep trying and are refused every time: at the handshake (zone-b, zone-d) or,
  // for zone-c, at the upgrade (slow retry, 200 ms in tests).
  const b = relays.get('zone-b') as Relay;
  const d = relays.get('zone-d') as Relay;
  await eventually(() => b.uplink.failedAttempts >= 3 && d.uplink.failedAttempts >= 3, 10_000, 'retries');
  await eventually(
    () => logged(rig, 'relay refused').filter((l) => l['relay'] === 'zone-c').length >= 2,
    10_000,
    'zone-c refused twice',
  );
  t.true(logged(rig, 'relay refused').every((l) => l['why'] === 'client certificate is not for this relay'));
  t.true(logged(rig, 'relay TLS handshake refused').length >= 6);
  for (const id of ['zone-b', 'zone-c', 'zone-d']) {
    t.not(relays.get(id)?.uplink.state, 'connected', id);
    t.false(rig.up.endpoint.isConnected(id), id);
  }
  t.deepEqual(
    rig.up.endpoint.connected().map((r) => r.id),
    ['zone-a'],
  );
  t.is(rig.up.endpoint.totals.samples, 20);
});
