import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 as zlibCrc32 } from 'node:zlib';
import test from 'ava';
import {
  checkAgentConfig,
  crc32,
  loadIdentity,
  parseClientConf,
  readV3Dir,
  relayAddresses,
  resolveAgentConfig,
  AGENT_VERSION,
} from '../../agent/index.js';
import { tempDir } from '../helpers/relay-harness.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

test('config errors are one line naming the file and the key', (t) => {
  const err = (value: unknown): string => t.throws(() => checkAgentConfig(value, 'agent.json'))!.message;
  t.is(err({ relayz: [] }), 'agent.json: relayz: unknown key (did you mean relays?)');
  t.is(err({ buffer: { maxBytez: 5 } }), 'agent.json: buffer.maxBytez: unknown key (did you mean maxBytes?)');
  t.is(
    err({ collectInterval: 'ten' }),
    'agent.json: collectInterval: must be an integer from 0 to 604800, not "ten"',
  );
  t.is(err({ ackTimeout: 5 }), 'agent.json: ackTimeout: must be an integer from 10 to 3600, not 5');
  t.regex(
    err({ relays: [{ address: 'a:1', protocol: 'v5' }] }),
    /^agent\.json: relays\[0\]: must be "host:port" or/,
  );
  t.is(
    err({ logLevel: 'loud' }),
    'agent.json: logLevel: must be one of "debug", "info", "warn", "error", not "loud"',
  );
  t.notThrows(() =>
    checkAgentConfig({ relays: ['10.0.0.1:7070', { address: '[::1]:7070', protocol: 'v3' }] }, 'a'),
  );
});

test('precedence: flags over the file over a v3 td-client over the defaults', async (t) => {
  const v3 = {
    pluginDir: '/opt/td/plugins',
    relays: ['10.1.0.1:10040'],
    hostUpdateInterval: 120,
    ignored: [],
    files: [],
  };
  const c = resolveAgentConfig(
    [{ hostUpdateInterval: 600, buffer: { maxBytes: 8 << 20 } }, { pluginDir: '/p' }],
    v3,
  );
  t.deepEqual(c.relays, ['10.1.0.1:10040']);
  t.is(c.hostUpdateInterval, 600);
  t.is(c.pluginDir, '/p');
  t.is(c.buffer.maxBytes, 8 << 20);
  t.is(c.buffer.memoryBytes, 1 << 20, 'a nested default is kept beside a nested override');
  t.deepEqual(resolveAgentConfig([{ collectorIntervals: { disk: 300 } }]).collectorIntervals, {
    tcp: 60,
    disk: 300,
  });
  t.is(
    t.throws(() => checkAgentConfig({ collectorIntervals: { tcp: 0 } }, 'a.json'))!.message,
    'a.json: collectorIntervals.tcp: must be an integer from 1 to 86400, not 0',
  );
  const addresses = await relayAddresses(c);
  t.like(addresses[0], { host: '10.1.0.1', port: 10040, protocol: 'auto', label: '10.1.0.1:10040' });
});

test('a v3 td-client directory: client.conf and var/host.json give relays, interval, uuid and services', async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  mkdirSync(join(tmp.path, 'conf'));
  mkdirSync(join(tmp.path, 'var'));
  writeFileSync(
    join(tmp.path, 'conf', 'client.conf'),
    '# td-client\ntcp_server = 10.2.0.1:10040, 10.2.0.2:10040\nhost_update_interval = 2\nbuffer_size = 10000\n',
  );
  const host = {
    uuid: '5d41402abc4b2a76b9719d911017c592',
    services: [{ name: 'tcp', plugin: 'tcp.sh', exec_interval: 30 }],
  };
  writeFileSync(join(tmp.path, 'var', 'host.json'), JSON.stringify(host));
  const v3 = await readV3Dir(tmp.path);
  t.deepEqual(v3.relays, ['10.2.0.1:10040', '10.2.0.2:10040']);
  t.is(v3.hostUpdateInterval, 120);
  t.is(v3.uuid, host.uuid);
  t.deepEqual(v3.host?.services, host.services);
  t.is(v3.pluginDir, join(tmp.path, 'plugins'));
  t.deepEqual(v3.ignored, ['buffer_size']);
  t.throws(() => parseClientConf('tcp_server 10.0.0.1', 'client.conf'), {
    message: 'client.conf:1: not a "key = value" line',
  });
  const empty = tempDir();
  t.teardown(empty.remove);
  await t.throwsAsync(() => readV3Dir(empty.path), { message: /not a v3 td-client directory/ });
});

test('identity: made once from the v3 uuid, DMI, a hashed machine-id or random, then never changed', async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const machineId = join(tmp.path, 'machine-id');
  writeFileSync(machineId, '0123456789abcdef0123456789abcdef\n');
  const dmi = join(tmp.path, 'product_uuid');
  writeFileSync(dmi, '03000200-0400-0500-0006-000700080009\n'); // a firmware placeholder: not an identity
  const a = join(tmp.path, 'a');
  mkdirSync(a);
  const first = await loadIdentity(a, { machineId, dmiProductUuid: dmi });
  t.is(first.source, 'machine-id');
  t.regex(first.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.false(first.uuid.replaceAll('-', '').includes('0123456789abcdef'), 'machine-id itself is not disclosed');
  writeFileSync(machineId, 'fedcba9876543210fedcba9876543210\n');
  t.deepEqual(
    await loadIdentity(a, { machineId }),
    { uuid: first.uuid, source: 'state' },
    'kept, not re-derived',
  );
  const b = join(tmp.path, 'b');
  mkdirSync(b);
  writeFileSync(dmi, '4C4C4544-0042-3510-8052-B4C04F4B4E32\n');
  t.deepEqual(await loadIdentity(b, { machineId, dmiProductUuid: dmi }), {
    uuid: '4c4c4544-0042-3510-8052-b4c04f4b4e32',
    source: 'dmi',
  });
  const c = join(tmp.path, 'c');
  mkdirSync(c);
  t.is((await loadIdentity(c, { v3Uuid: 'v3-uuid', machineId })).uuid, 'v3-uuid');
  const d = join(tmp.path, 'd');
  mkdirSync(d);
  t.is(
    (await loadIdentity(d, { machineId: join(tmp.path, 'none'), dmiProductUuid: join(tmp.path, 'none') }))
      .source,
    'random',
  );
});

test('the buffer checksum is CRC-32 as zlib computes it', (t) => {
  for (const size of [0, 1, 7, 1000, 65_537]) {
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = (i * 2654435761) >>> 24;
    t.is(crc32(data), zlibCrc32(data), `${size} bytes`);
  }
});

test('owl-agent: a bad config is one line on stderr naming the file and the key, exit code 2; the version matches package.json', (t) => {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const file = join(tmp.path, 'agent.json');
  writeFileSync(file, JSON.stringify({ stateDir: tmp.path, buffer: { maxBytes: 'lots' } }));
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(REPO, 'agent', 'cli.ts'), 'run', '-c', file],
    {
      cwd: REPO,
      encoding: 'utf8',
    },
  );
  t.is(r.status, 2);
  t.is(r.stderr, `owl-agent: ${file}: buffer.maxBytes: must be an integer >= 1048576, not "lots"\n`);
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
  t.is(AGENT_VERSION, pkg.version);
});

test('owl-agent: a state dir it cannot create is one line and exit code 2; the stack only with --debug', (t) => {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  // Under a regular file: ENOTDIR even for root, whom permissions do not stop.
  const file = join(tmp.path, 'a-file');
  writeFileSync(file, '');
  const args = ['--import', 'tsx', join(REPO, 'agent', 'cli.ts'), 'run', '--relay', '127.0.0.1:9'];
  const r = spawnSync(process.execPath, [...args, '--state-dir', join(file, 'state')], {
    cwd: REPO,
    encoding: 'utf8',
  });
  t.is(r.status, 2);
  t.regex(r.stderr, /^owl-agent: ENOTDIR: not a directory, mkdir '[^']+'\n$/);
  const debug = spawnSync(process.execPath, [...args, '--state-dir', join(file, 'state'), '--debug'], {
    cwd: REPO,
    encoding: 'utf8',
  });
  t.is(debug.status, 2);
  t.regex(debug.stderr, /\n\s+at /, 'a stack with --debug');
});
