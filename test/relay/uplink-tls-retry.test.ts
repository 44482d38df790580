/**
 * A relay refused in the TLS handshake (no client certificate for an mTLS
 * upstream, or an upstream certificate it does not trust) retries on the fast
 * backoff only for the first few attempts, then every slowRetryMs, logging
 * once per change instead of per attempt; a success resets it. Real relay,
 * real upstream, real TLS (throwaway PKI); attempts are counted where they
 * land (the upstream's "relay TLS handshake refused" lines, with their times)
 * and at the relay (UplinkClient.connectAttempts).
 */
import test, { type ExecutionContext } from 'ava';
import { mkdirSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { pino } from 'pino';
import {
  Relay,
  resolveRelayConfig,
  TEST_BACKOFF,
  TLS_FAILURES_BEFORE_SLOW,
  type RelayConfigInput,
} from '../../relay/index.js';
import type { Upstream } from '../../upstream/index.js';
import { eventually } from '../helpers/agent-client.js';
import { tempDir } from '../helpers/relay-harness.js';
import { makeTestPki, type TestPki } from '../helpers/tls.js';
import { captureLog } from '../helpers/upstream-fixture.js';
import { startUpstream } from '../helpers/upstream-harness.js';

/** Slow retry interval for these tests (production: 30 s); TEST_BACKOFF stays under 200 ms. */
const SLOW_MS = 1500;
const REFUSED = 'relay TLS handshake refused';
const SLOWLY = /retrying slowly/;

type Lines = Record<string, unknown>[];

function msgs(lines: Lines, match: string | RegExp): Lines {
  return lines.filter((l) => {
    const m = String(l['msg']);
    return typeof match === 'string' ? m === match : match.test(m);
  });
}

/** Gaps in ms between consecutive log lines' times. */
function gaps(lines: Lines): number[] {
  const times = lines.map((l) => Number(l['time']));
  return times.slice(1).map((t, i) => t - (times[i] as number));
}

interface Rig {
  dir: string;
  pki: TestPki;
  token: string;
  /** Lines of every upstream this test started, in order. */
  upLines: Lines;
  up: Upstream;
  port: number;
  /** Restart the upstream on the same port, with or without mTLS. */
  restart: (mtls: boolean) => Promise<void>;
}

async function rig(t: ExecutionContext): Promise<Rig> {
  const dir = tempDir('owl-tls-retry-');
  t.teardown(() => dir.remove());
  mkdirSync(`${dir.path}/pki`);
  const pki = makeTestPki(`${dir.path}/pki`);
  const upLines: Lines = [];
  // One log across the upstream's restarts.
  const logger = pino({ level: 'info' }, { write: (line: string) => void upLines.push(JSON.parse(line)) });
  const start = (mtls: boolean, port: number): Promise<Upstream> =>
    startUpstream(
      `${dir.path}/up`,
      {
        uplink: { host: '127.0.0.1', port },
        tls: mtls
          ? { cert: pki.certFile, key: pki.keyFile, ca: pki.caFile, requestCert: true }
          : { cert: pki.certFile, key: pki.keyFile },
      },
      { logger },
    );
  const first = await start(true, 0);
  const r: Rig = {
    dir: dir.path,
    pki,
    token: '',
    upLines,
    up: first,
    port: first.uplinkAddress.port,
    restart: async (mtls) => {
      await r.up.stop();
      r.up = await start(mtls, r.port);
    },
  };
  t.teardown(() => r.up.stop());
  r.token = await first.relays.add('zone-a', Date.now());
  return r;
}

async function relayFor(
  t: ExecutionContext,
  url: string,
  stateDir: string,
  overrides: RelayConfigInput,
): Promise<{ relay: Relay; lines: Lines }> {
  const log = captureLog();
  const relay = await Relay.start(
    resolveRelayConfig({
      metrics: { port: 0 },
      relayId: 'zone-a',
      upstreams: [url],
      stateDir,
      listen: [{ host: '127.0.0.1', port: 0 }],
      logLevel: 'info',
      ...overrides,
    }),
    { logger: log.logger, backoff: TEST_BACKOFF, slowRetryMs: SLOW_MS },
  );
  t.teardown(() => relay.stop());
  return { relay, lines: log.lines };
}

test('no client certificate for an mTLS upstream: fast retries for the first few, then one per slowRetryMs, logged once; a success resets it', async (t) => {
  const r = await rig(t);
  const { relay, lines } = await relayFor(t, r.up.uplinkUrl, `${r.dir}/relay`, {
    token: r.token,
    uplinkTls: { ca: r.pki.caFile },
  });
  const refused = (): Lines => msgs(r.upLines, REFUSED);

  // The first few refusals come at the fast pace, then two more one slow interval apart each.
  const n = TLS_FAILURES_BEFORE_SLOW + 2;
  await eventually(() => refused().length >= n, 15_000, `${n} refused handshakes`);
  const g = gaps(refused().slice(0, n));
  t.log(`gaps between refused handshakes (ms): ${g.join(', ')}`);
  // A slow retry starts SLOW_MS after the refusal, so its gap is never shorter; a fast one is
  // ≤ 200 ms of backoff plus a handshake (a few hundred ms on a loaded machine).
  for (const fast of g.slice(0, TLS_FAILURES_BEFORE_SLOW - 1)) t.true(fast < SLOW_MS * 0.67, `fast: ${fast}`);
  for (const slow of g.slice(TLS_FAILURES_BEFORE_SLOW - 1)) t.true(slow >= SLOW_MS * 0.95, `slow: ${slow}`);
  t.is(refused()[0]?.['why'], 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE');
  // From the 3rd refusal on: 2 attempts in ~3 s (at the fast pace, TEST_BACKOFF would make ≥ 15).
  const times = refused().map((l) => Number(l['time']));
  const span = (times[n - 1] as number) - (times[TLS_FAILURES_BEFORE_SLOW - 1] as number);
  const attempts = relay.uplink.connectAttempts;
  t.log(`${n} attempts in all; the last ${n - TLS_FAILURES_BEFORE_SLOW} took ${span} ms`);
  t.true(attempts <= n + 1, `${attempts} attempts`);
  await eventually(() => relay.uplink.tlsHandshakeFailures >= n, 5000, 'the relay counted them');
  t.not(relay.uplink.state, 'connected');

  // The relay logged the first few attempts, then the change once, not every attempt.
  const slowly = msgs(lines, SLOWLY);
  t.is(slowly.length, 1);
  t.like(slowly[0], { why: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', retryMs: SLOW_MS });
  t.is(msgs(lines, 'uplink error').length, TLS_FAILURES_BEFORE_SLOW);
  t.is(msgs(lines, 'uplink closed').length, TLS_FAILURES_BEFORE_SLOW);

  // The upstream stops asking for certificates: the relay is back within one slow interval.
  await r.restart(false);
  const restarted = Date.now();
  await eventually(() => relay.uplink.state === 'connected', 10_000, 'connected');
  const back = Date.now() - restarted;
  t.log(`connected ${back} ms after the upstream came back without mTLS`);
  t.true(back < SLOW_MS * 2, `${back} ms`);
  t.is(relay.uplink.tlsHandshakeFailures, 0);
  // The end of the refusals is logged once: at the WELCOME, or earlier if an attempt during the
  // restart failed some other way (connection refused).
  t.is(
    msgs(lines, /uplink TLS handshake accepted again|uplink no longer refused in the TLS handshake/).length,
    1,
  );

  // mTLS again: the count starts over, so the first refusals are retried fast again.
  const before = refused().length;
  await r.restart(true);
  await eventually(() => refused().length >= before + TLS_FAILURES_BEFORE_SLOW, 10_000, 'refused again');
  const again = gaps(refused().slice(before, before + TLS_FAILURES_BEFORE_SLOW));
  t.log(`gaps after the reset (ms): ${again.join(', ')}`);
  for (const fast of again) t.true(fast < SLOW_MS * 0.67, `fast again: ${fast}`);
  await eventually(() => msgs(lines, SLOWLY).length === 2, 10_000, 'slow again, logged once more');
});

test('an upstream certificate the relay does not trust: slow retries after the first few, the reason logged once', async (t) => {
  const r = await rig(t);
  await r.restart(false);
  // No CA given: the test CA is not among Node's, so verification fails in the handshake.
  const { relay, lines } = await relayFor(t, r.up.uplinkUrl, `${r.dir}/relay`, { token: r.token });
  await eventually(() => msgs(lines, SLOWLY).length === 1, 10_000, 'slow retries');
  t.like(msgs(lines, SLOWLY)[0], {
    why: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    failures: TLS_FAILURES_BEFORE_SLOW,
  });
  const from = { attempts: relay.uplink.connectAttempts, at: Date.now() };
  await eventually(() => relay.uplink.connectAttempts >= from.attempts + 2, 15_000, 'two more attempts');
  const elapsed = Date.now() - from.at;
  t.true(elapsed >= SLOW_MS * 1.5, `two attempts took ${elapsed} ms`);
  t.is(msgs(lines, SLOWLY).length, 1, 'the same reason is not logged again');
  t.is(msgs(lines, 'uplink error').length, TLS_FAILURES_BEFORE_SLOW);
  t.false(r.up.endpoint.isConnected('zone-a'));
});

test('a refused TCP connect (nothing listening) is not a TLS refusal: the fast backoff goes on', async (t) => {
  const dir = tempDir('owl-tls-retry-');
  t.teardown(() => dir.remove());
  // A port that was just free: nothing listens there any more.
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const { relay, lines } = await relayFor(t, `wss://127.0.0.1:${port}/owl/v1/uplink`, dir.path, {
    token: 'some-token',
  });
  const started = Date.now();
  await eventually(() => relay.uplink.connectAttempts >= 8, 10_000, '8 attempts');
  const elapsed = Date.now() - started;
  // Slow after the 3rd, 8 attempts would take 5 slow intervals.
  t.true(elapsed < SLOW_MS * 4, `8 attempts in ${elapsed} ms`);
  t.is(relay.uplink.tlsHandshakeFailures, 0);
  t.is(msgs(lines, SLOWLY).length, 0);
});
