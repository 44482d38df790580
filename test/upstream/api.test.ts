/**
 * The operator API (docs/api.md) against a real upstream: the token is
 * required, every route of upstream/api.ts is called (checked against the
 * route list read from the source), errors carry their documented status
 * and code, and docs/api.md documents every route.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PacketType } from '../../protocol/index.js';
import { callApi, type ApiAnswer } from '../helpers/upstream-api.js';
import { manualClock, withUpstream, type UpstreamFixture } from '../helpers/upstream-fixture.js';
import {
  agentRecord,
  range,
  sampleRecord,
  seqSamples,
  UplinkTestClient,
} from '../helpers/upstream-uplink-client.js';

const ROOT = new URL('../../', import.meta.url);
const UUID = 'a87ff679a2f3e71d9181a67b7542122c';
const T = 1_700_000_000_000;
const TS = T / 1000;

/** Routes of upstream/api.ts, as `METHOD resource[/:id][/sub]` (its own switch labels). */
function sourceRoutes(): string[] {
  const source = readFileSync(fileURLToPath(new URL('upstream/api.ts', ROOT)), 'utf8');
  return [...source.matchAll(/case '((?:GET|PUT|POST|DELETE) [a-z/:]+)'/g)].map((m) => m[1] as string).sort();
}

/** `PUT /api/v1/hosts/abc/services?x=1` → `PUT hosts/:id/services`. */
function routeOf(method: string, path: string): string {
  const [, , , resource, id, sub] = (path.split('?')[0] as string).split('/');
  return `${method} ${resource ?? ''}${id === undefined ? '' : '/:id'}${sub === undefined ? '' : `/${sub}`}`;
}

const exercised = new Set<string>();

/** The relay object docs/api.md shows under `GET /api/v1/relays`. */
function documentedRelay(): { live: Record<string, unknown> } {
  const doc = readFileSync(fileURLToPath(new URL('docs/api.md', ROOT)), 'utf8');
  const section = doc.split(/^### /m).find((s) => s.startsWith('`GET /api/v1/relays`')) ?? '';
  const example = /```json\n([\s\S]*?)\n```/.exec(section)?.[1];
  if (example === undefined) throw new Error('docs/api.md: no JSON example under GET /api/v1/relays');
  return JSON.parse(example) as { live: Record<string, unknown> };
}

/** Call the API as the operator (with the token); records the route answered with 2xx. */
async function call(f: UpstreamFixture, method: string, path: string, body?: unknown): Promise<ApiAnswer> {
  const answer = await callApi({ port: f.up.apiAddress.port, token: f.up.apiToken }, method, path, body);
  if (answer.status >= 200 && answer.status < 300) exercised.add(routeOf(method, path));
  return answer;
}

function code(answer: ApiAnswer): unknown {
  return (answer.body as { code?: unknown } | null)?.code;
}

test.after('every route of upstream/api.ts was exercised successfully', (t) => {
  t.deepEqual([...exercised].sort(), sourceRoutes());
});

test('every request needs the API token: 401 OWL_ERR_UNAUTHENTICATED without it or with a wrong one', async (t) => {
  const f = await withUpstream(t, { apiToken: 'operator-secret' });
  const port = f.up.apiAddress.port;
  for (const [method, path] of [
    ['GET', '/api/v1/hosts'],
    ['GET', '/api/v1/stats'],
    ['POST', '/api/v1/relays'],
    ['DELETE', '/api/v1/relays/x'],
    ['POST', '/api/v1/hosts'],
    ['PUT', '/api/v1/hosts/x/zone'],
    ['DELETE', '/api/v1/hosts/x'],
    ['GET', '/nowhere'],
  ] as const) {
    for (const token of [null, 'wrong', 'operator-secret2', '']) {
      const body = method === 'POST' ? { id: 'r', uuid: 'x' } : method === 'PUT' ? { zone: 'z' } : undefined;
      const a = await callApi({ port, token }, method, path, body);
      t.is(a.status, 401, `${method} ${path} with ${JSON.stringify(token)}`);
      t.is(code(a), 'OWL_ERR_UNAUTHENTICATED');
    }
  }
  t.deepEqual((await callApi({ port, token: null }, 'GET', '/api/v1/relays')).body, {
    code: 'OWL_ERR_UNAUTHENTICATED',
    message: 'bad or missing API token',
  });
  t.is((await callApi({ port, token: 'operator-secret' }, 'GET', '/api/v1/relays')).status, 200);
  t.is((await call(f, 'GET', '/api/v1/relays')).status, 200, 'up.apiToken is the configured one');
});

test('relays: POST adds (token once), GET lists with live state, DELETE revokes', async (t) => {
  const f = await withUpstream(t);
  const added = await call(f, 'POST', '/api/v1/relays', { id: 'plant-1' });
  t.is(added.status, 201);
  const token = (added.body as { id: string; token: string }).token;
  t.is((added.body as { id: string }).id, 'plant-1');
  t.regex(token, /^[A-Za-z0-9_-]{20,}$/);
  const { client, welcome } = await UplinkTestClient.open(f.base, 'plant-1', token, 'spool-9');
  client.send({
    type: 'RELAY_STATUS',
    body: {
      version: '0.1.0',
      agents: 3,
      spool: { records: 0, bytes: 0, oldestAgeMs: null, firstUnacked: 0, nextSeq: 0 },
      dropped: {},
    },
  });
  let listed: {
    id: string;
    revoked: boolean;
    connected: boolean;
    live: { status?: { agents: number }; window: number } | null;
  }[] = [];
  for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
    listed = (await call(f, 'GET', '/api/v1/relays')).body as typeof listed;
    if (listed[0]?.live?.status !== undefined) break;
    await client.hostConfig({ uuid: UUID }); // a round trip: the status was handled before its answer
  }
  t.like(listed[0], { id: 'plant-1', revoked: false, connected: true, live: { status: { agents: 3 } } });
  // Alone, the relay has the whole relayWindow: the window its WELCOME granted.
  t.is(listed[0]?.live?.window, welcome.window);
  t.is(welcome.window, f.up.config.relayWindow);
  t.deepEqual(
    Object.keys(listed[0]?.live ?? {}).sort(),
    Object.keys(documentedRelay().live).sort(),
    'docs/api.md shows every field of a live relay, and no other',
  );
  t.false(JSON.stringify(listed).includes(token), 'the token is never listed');

  const revoked = await call(f, 'DELETE', '/api/v1/relays/plant-1');
  t.deepEqual(revoked, { status: 200, body: { id: 'plant-1', revoked: true } });
  await client.waitClosed();
  t.like(((await call(f, 'GET', '/api/v1/relays')).body as typeof listed)[0], {
    id: 'plant-1',
    revoked: true,
    connected: false,
    live: null,
  });

  t.is((await call(f, 'DELETE', '/api/v1/relays/nobody')).status, 404);
  for (const body of [{}, { id: 7 }, { id: 'bad id!' }, { id: '' }, null, [1], '"text"']) {
    const bad = await call(f, 'POST', '/api/v1/relays', body);
    t.is(bad.status, 400, JSON.stringify(body));
    t.is(code(bad), 'OWL_ERR_BAD_FIELD');
  }
  const notJson = await call(f, 'POST', '/api/v1/relays', '{"id":');
  t.is(notJson.status, 400);
  t.is(code(notJson), 'OWL_ERR_BAD_JSON');
});

test('hosts: list, one host, services (PUT), ports and asset', async (t) => {
  const clock = manualClock(T);
  const f = await withUpstream(t, {}, { now: clock.now });
  const token = ((await call(f, 'POST', '/api/v1/relays', { id: 'zone-a' })).body as { token: string }).token;
  const { client } = await UplinkTestClient.open(f.base, 'zone-a', token, 's');
  await client.hostConfig({ uuid: UUID, ip: '10.1.0.5', hostname: 'web-5', os: 'linux', kernel: '6.1' });

  const list = await call(f, 'GET', '/api/v1/hosts');
  t.is(list.status, 200);
  const one = await call(f, 'GET', `/api/v1/hosts/${UUID}`);
  t.deepEqual(list.body, [one.body]);
  t.like(one.body, {
    host: { uuid: UUID, ip: '10.1.0.5', proxy: 'zone-a', services: [] },
    hostname: 'web-5',
    os: 'linux',
    kernel: '6.1',
    zone: 'zone-a',
    registeredAtMs: T,
    lastSeenMs: T,
    status: 'up',
  });
  t.is((await call(f, 'GET', '/api/v1/hosts/unknown')).status, 404);

  const services = [
    { name: 'cpu', plugin: 'cpu', exec_interval: 60, items: { user: { key: 'user', data_type: 'GAUGE' } } },
  ];
  const put = await call(f, 'PUT', `/api/v1/hosts/${UUID}/services`, services);
  t.is(put.status, 200);
  t.deepEqual((put.body as { host: { services: unknown } }).host.services, services);
  t.deepEqual((await client.next('CONFIG_PUSH')).body.host?.services, services);
  const badServices = await call(f, 'PUT', `/api/v1/hosts/${UUID}/services`, [{ name: 'cpu' }]);
  t.is(badServices.status, 400);
  t.is(code(badServices), 'OWL_ERR_BAD_FIELD');
  t.is((await call(f, 'PUT', '/api/v1/hosts/unknown/services', services)).status, 404);
  t.is(code(await call(f, 'PUT', `/api/v1/hosts/${UUID}/services`, 'nope')), 'OWL_ERR_BAD_JSON');

  t.deepEqual((await call(f, 'GET', `/api/v1/hosts/${UUID}/ports`)).body, []);
  t.deepEqual((await call(f, 'GET', `/api/v1/hosts/${UUID}/asset`)).body, null);
  await client.sendBatch([
    {
      seq: 0,
      record: agentRecord(PacketType.PORTDISCOVERYR, {
        uuid: UUID,
        ports: [{ port: 22, proc_name: 'sshd' }],
      }),
    },
    { seq: 1, record: agentRecord(PacketType.ASSESTDISCOVERY, { uuid: UUID, sn: 'SN-1' }) },
  ]);
  t.deepEqual((await call(f, 'GET', `/api/v1/hosts/${UUID}/ports`)).body, [{ port: 22, proc_name: 'sshd' }]);
  t.deepEqual((await call(f, 'GET', `/api/v1/hosts/${UUID}/asset`)).body, { uuid: UUID, sn: 'SN-1' });

  clock.set(T + 200_000);
  t.is(((await call(f, 'GET', `/api/v1/hosts/${UUID}`)).body as { status: string }).status, 'down');
  await client.close();
});

test('hosts: POST adds (409 when it exists), PUT zone moves, DELETE removes (404 the second time)', async (t) => {
  const clock = manualClock(T);
  const f = await withUpstream(t, {}, { now: clock.now });
  const cpu = [{ name: 'cpu', plugin: 'cpu', exec_interval: 60 }];
  const added = await call(f, 'POST', '/api/v1/hosts', { uuid: UUID, zone: 'zone-a', services: cpu });
  t.is(added.status, 201);
  t.like(added.body, {
    host: { uuid: UUID, proxy: 'zone-a', services: cpu },
    zone: 'zone-a',
    registeredAtMs: T,
    lastSeenMs: 0,
    status: 'unknown',
  });
  t.deepEqual((await call(f, 'GET', '/api/v1/hosts')).body, [added.body]);
  const again = await call(f, 'POST', '/api/v1/hosts', { uuid: UUID });
  t.is(again.status, 409);
  t.is(code(again), 'OWL_ERR_CONFLICT');
  const bad = await call(f, 'POST', '/api/v1/hosts', { uuid: 'other', zone: 'no zone' });
  t.is(bad.status, 400);
  t.is(code(bad), 'OWL_ERR_BAD_FIELD');
  t.regex((bad.body as { message: string }).message, /^zone: /);

  const moved = await call(f, 'PUT', `/api/v1/hosts/${UUID}/zone`, { zone: 'zone-b' });
  t.is(moved.status, 200);
  t.like(moved.body, { host: { proxy: 'zone-b', services: cpu }, zone: 'zone-b' });
  t.is((await call(f, 'PUT', '/api/v1/hosts/unknown/zone', { zone: 'zone-b' })).status, 404);
  t.is(code(await call(f, 'PUT', `/api/v1/hosts/${UUID}/zone`, {})), 'OWL_ERR_BAD_FIELD');

  t.deepEqual(await call(f, 'DELETE', `/api/v1/hosts/${UUID}`), {
    status: 200,
    body: { uuid: UUID, deleted: true },
  });
  t.is((await call(f, 'GET', `/api/v1/hosts/${UUID}`)).status, 404);
  const second = await call(f, 'DELETE', `/api/v1/hosts/${UUID}`);
  t.is(second.status, 404);
  t.is(code(second), 'OWL_ERR_NOT_FOUND');
  t.deepEqual((await call(f, 'GET', '/api/v1/hosts')).body, []);
});

test('series, query and stats', async (t) => {
  const clock = manualClock(T + 60_000);
  const f = await withUpstream(t, {}, { now: clock.now });
  const token = ((await call(f, 'POST', '/api/v1/relays', { id: 'zone-a' })).body as { token: string }).token;
  const { client } = await UplinkTestClient.open(f.base, 'zone-a', token, 's');
  const other = 'eccbc87e4b5ce2fe28308fd9f2a7baf3';
  await client.sendBatch([
    { seq: 0, record: sampleRecord({ uuid: UUID, timestamp: TS, value: 1 }) },
    { seq: 1, record: sampleRecord({ uuid: UUID, timestamp: TS + 30, value: 2 }) },
    { seq: 2, record: sampleRecord({ uuid: other, timestamp: TS + 30, value: 5 }) },
    { seq: 3, record: sampleRecord({ uuid: UUID, timestamp: TS, value: 9, metric: 'system' }) },
    { seq: 4, record: sampleRecord({ uuid: UUID, timestamp: TS, value: 4, service: 'mem', metric: 'used' }) },
  ]);

  const series = await call(f, 'GET', '/api/v1/series?metric=cpu.user');
  t.is(series.status, 200);
  t.deepEqual(
    (series.body as { tags: { uuid: string } }[]).map((s) => s.tags.uuid).sort(),
    [UUID, other].sort(),
  );
  t.deepEqual(
    ((await call(f, 'GET', '/api/v1/series?prefix=cpu.')).body as { metric: string }[])
      .map((s) => s.metric)
      .sort(),
    ['cpu.system', 'cpu.user', 'cpu.user'],
  );
  t.is(((await call(f, 'GET', '/api/v1/series?prefix=cpu.&limit=1')).body as unknown[]).length, 1);
  t.is(((await call(f, 'GET', '/api/v1/series')).body as unknown[]).length, 4);

  const q = await call(f, 'GET', `/api/v1/query?metric=cpu.user&tag.uuid=${UUID}&since=1h`);
  t.deepEqual(q.body, [
    {
      metric: 'cpu.user',
      tags: { uuid: UUID, ip: '10.0.0.5', zone: 'zone-a' },
      timestampsMs: [T, T + 30_000],
      values: [1, 2],
    },
  ]);
  // since is relative to the upstream clock: 45 s back from T + 60 s leaves only T + 30 s.
  t.deepEqual(
    (
      (await call(f, 'GET', `/api/v1/query?metric=cpu.user&tag.uuid=${UUID}&since=45s`)).body as {
        values: number[];
      }[]
    )[0]?.values,
    [2],
  );
  const window = await call(f, 'GET', `/api/v1/query?metric=cpu.user&from=${T}&to=${T + 30_000}`);
  t.deepEqual(
    (window.body as { values: number[] }[]).map((s) => s.values),
    [[1]],
    'from inclusive, to exclusive',
  );
  t.is(((await call(f, 'GET', '/api/v1/query?metric=cpu.user&tag.zone=zone-a')).body as unknown[]).length, 2);
  t.deepEqual((await call(f, 'GET', '/api/v1/query?metric=cpu.user&tag.zone=elsewhere')).body, []);

  for (const bad of [
    '/api/v1/query',
    '/api/v1/query?metric=cpu.user&since=soon',
    '/api/v1/query?metric=x&from=10&to=5',
  ]) {
    const a = await call(f, 'GET', bad);
    t.is(a.status, 400, bad);
  }
  t.is(code(await call(f, 'GET', '/api/v1/query?metric=x&from=abc')), 'OWL_ERR_STORE_BAD_QUERY');
  t.is((await call(f, 'GET', '/api/v1/series?limit=-1')).status, 400);

  t.deepEqual((await call(f, 'GET', '/api/v1/sinks')).body, [], 'no sinks configured');
  const stats = await call(f, 'GET', '/api/v1/stats');
  t.like(stats.body, {
    series: 4,
    points: 5,
    hosts: 0,
    relaysConnected: 1,
    batches: 1,
    duplicates: 0,
    rejected: 0,
    samples: 5,
  });
  await client.close();
});

for (const storeWorker of [true, false]) {
  test(`stats under continuous ingest: points and samples read at one moment, equal in every answer (store ${storeWorker ? 'in a worker' : 'on this thread'})`, async (t) => {
    const f = await withUpstream(t, { storeWorker });
    // Three relays, each sending batches of 50 new points of its own series back to back: no
    // (series, timestamp) comes twice and nothing else writes, so points === samples must hold
    // in every answer, whatever the store has folded by then.
    const relays = await Promise.all(
      ['zone-a', 'zone-b', 'zone-c'].map(async (id, r) => {
        const token = ((await call(f, 'POST', '/api/v1/relays', { id })).body as { token: string }).token;
        const { client } = await UplinkTestClient.open(f.base, id, token, 's');
        t.teardown(() => client.terminate());
        return { client, uuid: `${r}`.repeat(32) };
      }),
    );
    let sending = true;
    let sent = 0;
    const senders = relays.map(async ({ client, uuid }) => {
      for (let seq = 0; sending; seq += 50) {
        await client.sendBatch(seqSamples(range(seq, seq + 49), { uuid, t0: TS }));
        sent += 50;
      }
    });
    const answers: { points: number; samples: number }[] = [];
    try {
      while (answers.length < 150) {
        const a = await call(f, 'GET', '/api/v1/stats');
        t.is(a.status, 200);
        answers.push(a.body as { points: number; samples: number });
      }
    } finally {
      sending = false;
      await Promise.all(senders);
    }
    t.deepEqual(
      answers.filter((a) => a.points !== a.samples),
      [],
      'every answer: points === samples',
    );
    t.true(new Set(answers.map((a) => a.samples)).size > 20, 'the answers were taken while ingest went on');
    t.like((await call(f, 'GET', '/api/v1/stats')).body, { points: sent, samples: sent, duplicates: 0 });
  });
}

test('zones: devices and ports, PUT then GET; bad lists refused', async (t) => {
  const f = await withUpstream(t);
  const devices = [{ id: 1, ip: '10.1.0.1', snmp_version: '2c', snmp_community: 'public', snmp_port: 161 }];
  const ports = [{ id: 1, ip: '10.1.0.5', port: 22 }];
  t.deepEqual((await call(f, 'GET', '/api/v1/zones/zone-a/devices')).body, []);
  t.deepEqual((await call(f, 'GET', '/api/v1/zones/zone-a/ports')).body, []);
  t.deepEqual(await call(f, 'PUT', '/api/v1/zones/zone-a/devices', devices), { status: 200, body: devices });
  t.deepEqual(await call(f, 'PUT', '/api/v1/zones/zone-a/ports', ports), { status: 200, body: ports });
  t.deepEqual((await call(f, 'GET', '/api/v1/zones/zone-a/devices')).body, devices);
  t.deepEqual((await call(f, 'GET', '/api/v1/zones/zone-a/ports')).body, ports);
  t.deepEqual((await call(f, 'GET', '/api/v1/zones/zone-b/devices')).body, []);
  for (const [path, body] of [
    ['devices', { ip: '10.1.0.1' }],
    ['devices', [{ id: 1 }]],
    ['ports', [{ ip: '10.1.0.5' }]],
    ['ports', [{ port: 'ssh' }]],
  ] as const) {
    const a = await call(f, 'PUT', `/api/v1/zones/zone-a/${path}`, body);
    t.is(a.status, 400, JSON.stringify(body));
    t.is(code(a), 'OWL_ERR_BAD_FIELD');
  }
  t.deepEqual(
    (await call(f, 'GET', '/api/v1/zones/zone-a/devices')).body,
    devices,
    'unchanged by refused PUTs',
  );
});

test('version: PUT default and per platform; bad bodies refused', async (t) => {
  const f = await withUpstream(t);
  t.deepEqual(await call(f, 'PUT', '/api/v1/version', { version: '3.2.0' }), {
    status: 200,
    body: { version: '3.2.0' },
  });
  t.is((await call(f, 'PUT', '/api/v1/version', { version: '3.3.0', platform: 'windows' })).status, 200);
  t.is(f.up.registry.version(), '3.2.0');
  t.is(f.up.registry.version('windows'), '3.3.0');
  for (const body of [{}, { version: 3 }, { version: '1', platform: 5 }, null, '"3.2.0"']) {
    const a = await call(f, 'PUT', '/api/v1/version', body);
    t.is(a.status, 400, JSON.stringify(body));
    t.is(code(a), 'OWL_ERR_BAD_FIELD');
  }
  t.is(f.up.registry.version(), '3.2.0', 'unchanged by refused PUTs');
});

test('unknown routes, wrong methods, malformed paths and oversized bodies get coded errors', async (t) => {
  const f = await withUpstream(t);
  for (const [method, path, status, errorCode] of [
    ['GET', '/nowhere', 404, 'OWL_ERR_NOT_FOUND'],
    ['GET', '/api/v2/hosts', 404, 'OWL_ERR_NOT_FOUND'],
    ['GET', '/api/v1/nothing', 404, 'OWL_ERR_NOT_FOUND'],
    ['POST', '/api/v1/hosts/x', 404, 'OWL_ERR_NOT_FOUND'],
    ['PATCH', '/api/v1/hosts/x', 404, 'OWL_ERR_NOT_FOUND'],
    ['GET', '/api/v1/hosts/x/zone', 404, 'OWL_ERR_NOT_FOUND'],
    ['DELETE', '/api/v1/hosts/x', 404, 'OWL_ERR_NOT_FOUND'],
    ['GET', '/api/v1/stats/extra', 404, 'OWL_ERR_NOT_FOUND'],
    ['GET', '/api/v1/hosts/x/ports/extra', 404, 'OWL_ERR_NOT_FOUND'],
    ['GET', '/api/v1/zones/z/other', 404, 'OWL_ERR_NOT_FOUND'],
    ['GET', '/api/v1/hosts/%zz', 400, 'OWL_ERR_BAD_FIELD'],
  ] as const) {
    const a = await call(f, method, path);
    t.is(a.status, status, `${method} ${path}`);
    t.is(code(a), errorCode, `${method} ${path}`);
  }
  const big = await call(f, 'PUT', '/api/v1/version', `{"version":"${'x'.repeat(1024 * 1024)}"}`);
  t.is(big.status, 413);
  t.is(code(big), 'OWL_ERR_TOO_LARGE');
  t.is((await call(f, 'GET', '/api/v1/stats')).status, 200, 'still serving');
});

test('docs/api.md documents every route (method, path, body, answer, errors, curl example)', (t) => {
  const doc = readFileSync(fileURLToPath(new URL('docs/api.md', ROOT)), 'utf8');
  const sections = doc.split(/^### /m).slice(1);
  const documented = new Map<string, string>();
  for (const s of sections) {
    const m = /^`(GET|PUT|POST|DELETE) \/api\/v1\/([^`?]+)`/.exec(s);
    if (m === null) continue;
    const route = `${m[1]} ${(m[2] as string).replace(/:[a-z]+/g, ':id')}`;
    documented.set(route, s);
  }
  t.deepEqual([...documented.keys()].sort(), sourceRoutes());
  for (const [route, s] of documented) {
    t.regex(s, /curl /, `${route}: curl example`);
    t.regex(s, /\*\*Answer\*\*/, `${route}: answer`);
    t.regex(s, /\*\*Errors\*\*/, `${route}: errors`);
    t.regex(s, /\*\*Body\*\*/, `${route}: body`);
  }
});
