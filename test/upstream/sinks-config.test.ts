/**
 * Sinks in the upstream's config (the schema and the checks after it), and wired into a real
 * in-process upstream: `store: "none"` keeps no samples, `GET /api/v1/sinks` shows a sink that
 * cannot be reached as down without its credentials, and a forwarding log at its byte cap
 * (reject-new) refuses a relay's batch as `forward log full`, not as a store failure.
 */
import test from 'ava';
import { pino } from 'pino';
import { BatchAckStatus } from '../../protocol/index.js';
import {
  assertUpstreamFiles,
  resolveUpstreamConfig,
  type SinkView,
  type UpstreamConfigInput,
} from '../../upstream/index.js';
import { eventually } from '../helpers/agent-client.js';
import { api } from '../helpers/upstream-harness.js';
import { closedPort } from '../helpers/upstream-check.js';
import { addRelay, withUpstream } from '../helpers/upstream-fixture.js';
import { range, seqSamples, UplinkTestClient } from '../helpers/upstream-uplink-client.js';

const refused = (input: unknown): string => {
  try {
    resolveUpstreamConfig(input as UpstreamConfigInput);
  } catch (err) {
    if ((err as { code?: string }).code !== 'OWL_ERR_CONFIG_INVALID') throw err;
    return (err as Error).message;
  }
  throw new Error(`accepted: ${JSON.stringify(input)}`);
};

const rw = { name: 'vm', type: 'remote_write', url: 'http://127.0.0.1:8428/api/v1/write' } as const;

test('sinks, forward and store: defaults, and what is refused', (t) => {
  const d = resolveUpstreamConfig({});
  t.deepEqual(d.sinks, []);
  t.deepEqual(d.forward, { maxBytes: 1024 ** 3, policy: 'drop-oldest' });
  t.is(d.store, 'embedded');
  t.deepEqual(resolveUpstreamConfig({ forward: { policy: 'reject-new' } }).forward, {
    maxBytes: 1024 ** 3,
    policy: 'reject-new',
  });
  const ok = resolveUpstreamConfig({
    store: 'none',
    sinks: [
      { ...rw, extraLabels: { site: 'paris' }, prefix: '', basicAuth: { username: 'u', password: 'p' } },
    ],
  });
  t.is(ok.sinks[0]?.prefix, '');
  t.regex(refused({ sinks: [{ ...rw, nam: 'x' }] }), /sinks\[0\]\.nam: unknown key \(did you mean name\?\)/);
  t.regex(refused({ sinks: [{ ...rw, name: 'a b' }] }), /sinks\[0\]\.name: must be/);
  t.regex(refused({ sinks: [{ ...rw, type: 'influx' }] }), /sinks\[0\]\.type: must be one of/);
  t.is(refused({ sinks: [rw, rw] }), 'upstream config: sinks[1].name: "vm" is used by another sink');
  t.regex(refused({ sinks: [{ ...rw, url: 'ftp://x/' }] }), /sinks\[0\]\.url: must be an http/);
  t.regex(refused({ sinks: [{ ...rw, extraLabels: { 'a-b': 'x' } }] }), /extraLabels: "a-b" is not a label/);
  t.regex(refused({ sinks: [{ ...rw, extraLabels: { __x: 'x' } }] }), /extraLabels: "__x"/);
  t.regex(
    refused({ sinks: [{ ...rw, bearerToken: 't', basicAuth: { username: 'u', password: 'p' } }] }),
    /basicAuth and bearerToken: give one of them/,
  );
  t.regex(refused({ sinks: [{ ...rw, type: 'opentsdb', prefix: 'x_' }] }), /only remote_write sinks/);
  t.regex(refused({ sinks: [{ ...rw, prefix: '1x' }] }), /prefix: must start a Prometheus metric name/);
  t.regex(
    refused({ sinks: [{ ...rw, shards: 0 }] }),
    /sinks\[0\]\.shards: must be an integer from 1 to 64, not 0/,
  );
  t.regex(refused({ sinks: [{ ...rw, shards: 65 }] }), /shards: must be an integer from 1 to 64, not 65/);
  t.is(resolveUpstreamConfig({ sinks: [{ ...rw, shards: 8 }] }).sinks[0]?.shards, 8);
  t.regex(refused({ store: 'none' }), /store: "none" needs at least one sink/);
  t.regex(refused({ forward: { policy: 'drop-newest' } }), /forward\.policy: must be one of/);
  t.regex(refused({ forward: { maxBytes: 0 } }), /forward\.maxBytes: must be/);
  const caMissing = resolveUpstreamConfig({ sinks: [{ ...rw, ca: '/nonexistent/ca.pem' }] });
  t.throws(() => assertUpstreamFiles(caMissing), { message: /^sinks\[0\]\.ca: cannot read/ });
});

test('store none, a sink down, the forward log full: the API shows it, credentials never appear', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  const port = await closedPort();
  const { up, base } = await withUpstream(
    t,
    {
      store: 'none',
      forward: { maxBytes: 1, policy: 'reject-new' },
      sinks: [
        {
          name: 'vm',
          type: 'remote_write',
          url: `http://owl:s3cret-url@127.0.0.1:${port}/api/v1/write`,
          basicAuth: { username: 'owl', password: 's3cret-auth' },
        },
      ],
    },
    { logger },
  );
  const { client } = await UplinkTestClient.open(base, 'zone-a', await addRelay(up, 'zone-a'), 's');
  const t0 = 1_718_000_000;
  t.is(await client.sendBatch(seqSamples(range(0, 4), { uuid: 'c'.repeat(32), t0 })), BatchAckStatus.STORED);
  const sinks = async (): Promise<SinkView[]> => (await api(up, 'GET', '/api/v1/sinks')).body as SinkView[];
  await eventually(async () => (await sinks())[0]?.state === 'down', 10_000, 'sink down');
  const [view] = await sinks();
  t.like(view, { name: 'vm', type: 'remote_write', sent: 0, lagRecords: 1, cursor: -1 });
  t.is(view?.url, `http://127.0.0.1:${port}/api/v1/write`, 'no credentials in the URL');
  t.is(view?.lastError?.status, 'network');
  const q = await api(up, 'GET', `/api/v1/query?metric=cpu.user&from=0`);
  t.deepEqual(q.body, [], 'store none: no samples kept');
  t.like((await api(up, 'GET', '/api/v1/stats')).body, { points: 0 });

  // Past the cap (1 byte) with reject-new: the next batch is refused, logged as such.
  client.send({
    type: 'BATCH',
    body: UplinkTestClient.batch(seqSamples(range(5, 9), { uuid: 'c'.repeat(32), t0 })),
  });
  await client.waitClosed();
  const full = lines.find((l) => l['msg'] === 'forward log full');
  t.is(full?.['level'], 40, 'at warn');
  t.is(full?.['code'], 'OWL_ERR_STORE_FORWARD_FULL');
  t.false(
    lines.some((l) => l['msg'] === 'store write failed'),
    'not a store failure',
  );
  const relays = (await api(up, 'GET', '/api/v1/relays')).body as {
    store: { storeFailures: number } | null;
  }[];
  t.is(relays[0]?.store?.storeFailures ?? 0, 0);
  t.false(JSON.stringify(lines).includes('s3cret'), 'credentials never logged');
});
