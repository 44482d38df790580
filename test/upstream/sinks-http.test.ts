/**
 * The sink clients' HTTP side against a real local HTTP(S) server on port 0: the remote_write
 * headers and auth, TLS with a CA file, and the classification of answers: 2xx ok; 429, 5xx,
 * a closed port and a timeout retryable; other 4xx refused, with the status and first line.
 */
import test from 'ava';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import {
  decodeRemoteWrite,
  OpenTsdbClient,
  RemoteWriteClient,
  SinkError,
  SinkErrorCode,
} from '../../upstream/sinks/index.js';
import { freeTcpPort } from '../helpers/tsdb.js';
import { tempDir } from '../helpers/relay-harness.js';
import { makeTestPki } from '../helpers/tls.js';

const POINT = { metric: 'cpu.user', tags: { uuid: 'u1' }, timestampMs: 1_800_000_000_000, value: 1 };

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A server answering every request with `status` and `body` (or never, for `hang`). */
async function serve(
  answer: { status: number; body?: string; hang?: boolean },
  tls?: { cert: Buffer; key: Buffer },
): Promise<{ url: string; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const handler: http.RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks) });
      if (answer.hang === true) return;
      res.writeHead(answer.status).end(answer.body ?? '');
    });
  };
  const server = tls === undefined ? http.createServer(handler) : https.createServer(tls, handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}/api/v1/write`,
    seen,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

test('remote_write sends the 1.0 headers, basic auth, and a snappy protobuf body', async (t) => {
  const s = await serve({ status: 204 });
  const client = new RemoteWriteClient({ url: s.url, basicAuth: { username: 'u', password: 'p:w' } });
  t.teardown(async () => {
    client.close();
    await s.close();
  });
  t.deepEqual(await client.send([POINT]), { ok: true, samples: 1, dropped: {} });
  const req = s.seen[0]!;
  t.is(req.method, 'POST');
  t.is(req.url, '/api/v1/write');
  t.is(req.headers['content-encoding'], 'snappy');
  t.is(req.headers['content-type'], 'application/x-protobuf');
  t.is(req.headers['x-prometheus-remote-write-version'], '0.1.0');
  t.is(req.headers.authorization, `Basic ${Buffer.from('u:p:w').toString('base64')}`);
  t.deepEqual(decodeRemoteWrite(req.body)[0]!.samples, [{ value: 1, timestamp: POINT.timestampMs }]);
});

test('a bearer token, TLS with a CA file', async (t) => {
  const dir = tempDir();
  t.teardown(dir.remove);
  const pki = makeTestPki(dir.path);
  const s = await serve({ status: 200 }, pki);
  const client = new RemoteWriteClient({ url: s.url, bearerToken: 'tok', caFile: pki.caFile });
  t.teardown(async () => {
    client.close();
    await s.close();
  });
  t.like(await client.send([POINT]), { ok: true });
  t.is(s.seen[0]!.headers.authorization, 'Bearer tok');
  // Without the CA the certificate is not trusted: a network-level failure, retryable.
  const untrusting = new RemoteWriteClient({ url: s.url });
  t.teardown(() => untrusting.close());
  t.like(await untrusting.send([POINT]), { ok: false, retryable: true });
});

for (const [status, retryable] of [
  [429, true],
  [500, true],
  [503, true],
  [400, false],
  [401, false],
  [404, false],
  [413, false],
] as const) {
  test(`status ${status} is ${retryable ? 'retryable' : 'refused'}`, async (t) => {
    const s = await serve({ status, body: `first line ${status}\nsecond line` });
    const client = new RemoteWriteClient({ url: s.url });
    t.teardown(async () => {
      client.close();
      await s.close();
    });
    const r = await client.send([POINT]);
    if (r.ok) return t.fail('sent');
    t.is(r.retryable, retryable);
    t.is(r.status, status);
    t.is(r.bodyLine, `first line ${status}`);
    t.true(r.error instanceof SinkError);
    t.is(r.error.code, retryable ? SinkErrorCode.UNAVAILABLE : SinkErrorCode.REFUSED);
  });
}

test('a closed port and a timeout are retryable', async (t) => {
  const closed = new RemoteWriteClient({ url: `http://127.0.0.1:${await freeTcpPort()}/api/v1/write` });
  const s = await serve({ status: 200, hang: true });
  const slow = new RemoteWriteClient({ url: s.url, timeoutMs: 200 });
  t.teardown(async () => {
    closed.close();
    slow.close();
    await s.close();
  });
  t.like(await closed.send([POINT]), {
    ok: false,
    retryable: true,
    error: { code: SinkErrorCode.UNREACHABLE },
  });
  t.like(await slow.send([POINT]), { ok: false, retryable: true, error: { code: SinkErrorCode.TIMEOUT } });
});

test('OpenTSDB posts JSON to /api/put?summary', async (t) => {
  const s = await serve({ status: 204 });
  const base = s.url.replace('/api/v1/write', '');
  const client = new OpenTsdbClient({ url: base, extraTags: { site: 'lab' } });
  t.teardown(async () => {
    client.close();
    await s.close();
  });
  t.like(await client.send([POINT]), { ok: true, samples: 1 });
  t.is(s.seen[0]!.url, '/api/put?summary');
  t.is(s.seen[0]!.headers['content-type'], 'application/json');
  t.deepEqual(JSON.parse(s.seen[0]!.body.toString()), [
    { metric: 'cpu.user', timestamp: POINT.timestampMs, value: 1, tags: { uuid: 'u1', site: 'lab' } },
  ]);
});

test('bad settings are coded config errors; nothing to send resolves ok without a request', async (t) => {
  t.throws(() => new RemoteWriteClient({ url: 'not a url' }), {
    instanceOf: SinkError,
    message: /invalid sink URL/,
  });
  t.throws(() => new OpenTsdbClient({ url: 'ftp://x' }), { message: /http\(s\)/ });
  t.throws(() => new RemoteWriteClient({ url: 'https://127.0.0.1:1/', caFile: '/nonexistent/ca.pem' }), {
    instanceOf: SinkError,
    message: /CA file/,
  });
  const client = new RemoteWriteClient({ url: 'http://127.0.0.1:1/api/v1/write' });
  t.teardown(() => client.close());
  t.deepEqual(await client.send([{ ...POINT, tags: { _x: '1' } }]), {
    ok: true,
    samples: 0,
    dropped: { bad_label_name: 1 },
  });
});
