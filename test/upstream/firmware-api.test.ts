/**
 * The firmware API of a real upstream (in process, real listeners, state on a temp dir): publish
 * a signed bundle as the request body, list, publish again with other zones, withdraw (the file
 * goes); refusals with their codes (another program, a corrupt file, over the cap, bad zones or
 * percent, a key that is not pinned); publications survive a restart.
 */
import test, { type ExecutionContext } from 'ava';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { startUpstream } from '../helpers/upstream-harness.js';
import { callApi, type ApiTarget } from '../helpers/upstream-api.js';
import { tempDir } from '../helpers/relay-harness.js';
import { testBundle, testKey } from '../helpers/firmware-upstream-bundles.js';
import { resolveUpstreamConfig, type Upstream } from '../../upstream/index.js';

const target = (up: Upstream): ApiTarget => ({ port: up.apiAddress.port, token: up.apiToken });

interface PublicationView {
  bundle: string;
  program: string;
  arch: string;
  version: string;
  size: number;
  minVersion: string;
  zones: string[];
  percent: number;
  publishedAt: number;
  offeredTo: string[];
}

/** POST `body` in chunks without a Content-Length: the cap is met while the upload streams. */
function postChunked(api: ApiTarget, path: string, body: Buffer): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: api.port,
        method: 'POST',
        path,
        agent: false,
        headers: { authorization: `Bearer ${api.token ?? ''}`, 'transfer-encoding': 'chunked' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString()) as unknown,
          }),
        );
      },
    );
    req.on('error', reject);
    for (let at = 0; at < body.length; at += 16 * 1024) req.write(body.subarray(at, at + 16 * 1024));
    req.end();
  });
}

function setup(t: ExecutionContext): string {
  const dir = tempDir('owl-fw-api-');
  t.teardown(() => dir.remove());
  return dir.path;
}

test('publish, list, publish again with other zones, withdraw: the bundle is stored once and deleted', async (t) => {
  const dir = setup(t);
  const up = await startUpstream(join(dir, 'up'));
  t.teardown(() => up.stop());
  const api = target(up);
  await callApi(api, 'POST', '/api/v1/relays', { id: 'zone-a' });
  await callApi(api, 'POST', '/api/v1/relays', { id: 'zone-b' });
  const key = testKey(dir);
  const b = await testBundle(dir, key, { program: 'owl-relay', version: '1.2.0', minVersion: '1.0.0' });

  const first = await callApi(api, 'POST', '/api/v1/firmware?zones=zone-a&percent=100', b.bytes);
  t.is(first.status, 201, JSON.stringify(first.body));
  const p = first.body as PublicationView;
  t.like(p, {
    bundle: b.id,
    program: 'owl-relay',
    arch: 'amd64',
    version: '1.2.0',
    minVersion: '1.0.0',
    size: b.bytes.length,
    zones: ['zone-a'],
    percent: 100,
  });
  const list = (await callApi(api, 'GET', '/api/v1/firmware')).body as PublicationView[];
  t.deepEqual(
    list.map((x) => [x.bundle, x.offeredTo]),
    [[b.id, ['zone-a']]],
  );

  const again = await callApi(api, 'POST', '/api/v1/firmware?zones=*&percent=100', b.bytes);
  t.is(again.status, 200);
  t.deepEqual((again.body as PublicationView).zones, ['*']);
  t.is((again.body as PublicationView).publishedAt, p.publishedAt);
  const one = (await callApi(api, 'GET', `/api/v1/firmware/${b.id}`)).body as PublicationView;
  t.deepEqual(one.offeredTo.sort(), ['zone-a', 'zone-b']);
  const bundles = join(dir, 'up', 'firmware', 'bundles');
  t.deepEqual(readdirSync(bundles), [`${b.id}.owlfw`]);

  const gone = await callApi(api, 'DELETE', `/api/v1/firmware/${b.id}`);
  t.deepEqual(gone, { status: 200, body: { bundle: b.id, withdrawn: true } });
  t.deepEqual((await callApi(api, 'GET', '/api/v1/firmware')).body, []);
  t.false(existsSync(join(bundles, `${b.id}.owlfw`)));
  t.like(await callApi(api, 'DELETE', `/api/v1/firmware/${b.id}`), {
    status: 404,
    body: { code: 'OWL_ERR_NOT_FOUND' },
  });
  t.like(await callApi(api, 'DELETE', '/api/v1/firmware/nothex'), {
    status: 400,
    body: { code: 'OWL_ERR_BAD_FIELD' },
  });
});

test('refusals: another program, a corrupt file, over the cap, bad zones or percent', async (t) => {
  const dir = setup(t);
  const up = await startUpstream(join(dir, 'up'), { firmware: { maxBundleBytes: 64 * 1024 } });
  t.teardown(() => up.stop());
  const api = target(up);
  const key = testKey(dir);
  const upstreamBundle = await testBundle(dir, key, { program: 'owl-upstream', version: '2.0.0' });
  t.like(await callApi(api, 'POST', '/api/v1/firmware?zones=*', upstreamBundle.bytes), {
    status: 422,
    body: { code: 'OWL_ERR_FIRMWARE_WRONG_PROGRAM' },
  });
  t.like(await callApi(api, 'POST', '/api/v1/firmware?zones=*', Buffer.from('not a bundle at all, no')), {
    status: 422,
    body: { code: 'OWL_ERR_FIRMWARE_CORRUPT' },
  });
  const big = await testBundle(dir, key, { program: 'owl-agent', version: '2.0.0', padBytes: 100 * 1024 });
  t.like(await callApi(api, 'POST', '/api/v1/firmware?zones=*', big.bytes), {
    status: 413,
    body: { code: 'OWL_ERR_FIRMWARE_TOO_LARGE' },
  });
  t.like(await postChunked(api, '/api/v1/firmware?zones=*', big.bytes), {
    status: 413,
    body: { code: 'OWL_ERR_FIRMWARE_TOO_LARGE' },
  });
  // Much larger than the socket buffers: the answer still arrives while the client is sending.
  t.like(await postChunked(api, '/api/v1/firmware?zones=*', Buffer.alloc(20 * 1024 * 1024)), {
    status: 413,
    body: { code: 'OWL_ERR_FIRMWARE_TOO_LARGE' },
  });
  const ok = await testBundle(dir, key, { program: 'owl-agent', version: '2.0.0' });
  for (const query of [
    '',
    '?zones=',
    '?zones=a%20b',
    '?zones=a&percent=0',
    '?zones=a&percent=101',
    '?zones=a&percent=5.5',
  ])
    t.like(
      await callApi(api, 'POST', `/api/v1/firmware${query}`, ok.bytes),
      { status: 400, body: { code: 'OWL_ERR_BAD_FIELD' } },
      query,
    );
  t.deepEqual((await callApi(api, 'GET', '/api/v1/firmware')).body, []);
  // Nothing refused was kept, not even a temporary file.
  t.deepEqual(readdirSync(join(dir, 'up', 'firmware', 'bundles')), []);
  t.deepEqual(readdirSync(join(dir, 'up', 'firmware', 'tmp')), []);
  t.is((await callApi(api, 'POST', '/api/v1/firmware?zones=a,b&percent=5', ok.bytes)).status, 201);
});

test('pinned keys: a bundle signed with another key, or altered, is refused; one signed with a pinned key is published', async (t) => {
  const dir = setup(t);
  const pinned = testKey(dir, 'pinned');
  const other = testKey(dir, 'other');
  const up = await startUpstream(join(dir, 'up'), { firmware: { keys: [pinned.publicKeyFile] } });
  t.teardown(() => up.stop());
  const api = target(up);
  const foreign = await testBundle(dir, other, { program: 'owl-relay', version: '1.0.1' });
  t.like(await callApi(api, 'POST', '/api/v1/firmware?zones=*', foreign.bytes), {
    status: 422,
    body: { code: 'OWL_ERR_FIRMWARE_UNKNOWN_KEY' },
  });
  const good = await testBundle(dir, pinned, { program: 'owl-relay', version: '1.0.1', padBytes: 4096 });
  const altered = Buffer.from(good.bytes);
  altered[altered.length - 10] = (altered[altered.length - 10] as number) ^ 0xff;
  const refused = await callApi(api, 'POST', '/api/v1/firmware?zones=*', altered);
  t.is(refused.status, 422);
  t.is((refused.body as { code: string }).code, 'OWL_ERR_FIRMWARE_CORRUPT');
  t.is((await callApi(api, 'POST', '/api/v1/firmware?zones=*', good.bytes)).status, 201);
  t.deepEqual(readdirSync(join(dir, 'up', 'firmware', 'tmp')), []);
});

test('config: firmware defaults, and a typo under firmware is refused naming the key', (t) => {
  t.deepEqual(resolveUpstreamConfig({}).firmware, { maxBundleBytes: 256 * 1024 * 1024, keys: [] });
  t.deepEqual(resolveUpstreamConfig({ firmware: { keys: ['a.pub'] } }).firmware.keys, ['a.pub']);
  t.throws(() => resolveUpstreamConfig({ firmware: { maxBundleBytez: 1 } } as never), {
    message: /maxBundleBytez/,
  });
  t.throws(() => resolveUpstreamConfig({ firmware: { maxBundleBytes: 0 } }), { message: /maxBundleBytes/ });
});

test('a missing pinned key file fails the start naming firmware.keys', async (t) => {
  const dir = setup(t);
  const error = await t.throwsAsync(() =>
    startUpstream(join(dir, 'up'), { firmware: { keys: [join(dir, 'absent.pub')] } }),
  );
  t.regex(error?.message ?? '', /firmware\.keys\[0\]/);
});

test('publications survive a restart; a bundle file nothing refers to is removed at start', async (t) => {
  const dir = setup(t);
  const state = join(dir, 'up');
  const key = testKey(dir);
  const b = await testBundle(dir, key, { program: 'owl-agent', version: '3.0.0', arch: 'arm64' });
  let up = await startUpstream(state);
  t.is((await callApi(target(up), 'POST', '/api/v1/firmware?zones=z1&percent=40', b.bytes)).status, 201);
  await up.stop();
  // As a crash between a withdraw's two steps would leave it.
  const orphan = join(state, 'firmware', 'bundles', `${'e'.repeat(64)}.owlfw`);
  writeFileSync(orphan, 'left over');
  up = await startUpstream(state);
  t.teardown(() => up.stop());
  const list = (await callApi(target(up), 'GET', '/api/v1/firmware')).body as PublicationView[];
  t.like(list[0], { bundle: b.id, program: 'owl-agent', arch: 'arm64', zones: ['z1'], percent: 40 });
  t.is(list.length, 1);
  t.false(existsSync(orphan));
});
