/**
 * ConfigCache's own RocksDB: configs survive a reopen, and a damaged WAL tail
 * (one on which RocksDB 9.7's recovery loops forever, as in spool-rocks) is
 * cut before opening, with the configs before it kept and the bytes kept aside.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import type { Host } from '../../protocol/index.js';
import { ConfigCache } from '../../relay/index.js';

const host = (i: number): Host => ({
  id: i,
  uuid: `${i}`.padStart(32, '0'),
  ip: `10.0.0.${i}`,
  group: '',
  proxy: 'zone-a',
  services: [],
});

test('configs survive a reopen; a damaged WAL tail is cut first, the configs before it kept', async (t) => {
  const root = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'owl-config-cache-'));
  t.teardown(() => fs.promises.rm(root, { recursive: true, force: true }));
  const dir = path.join(root, 'config');
  let cache = await ConfigCache.open({ path: dir });
  for (let i = 1; i <= 20; i++) await cache.setHost(host(i));
  await cache.setClientVersion('3.4.5');
  await cache.close();

  const wal = fs.readdirSync(dir).find((n) => n.endsWith('.log'));
  t.truthy(wal, 'the configs are in a WAL');
  const tail = fs.readFileSync(new URL('../fixtures/rocksdb-wal-loop-tail.bin', import.meta.url));
  fs.appendFileSync(path.join(dir, wal!), tail);

  const warnings: string[] = [];
  cache = await ConfigCache.open({
    path: dir,
    logger: { warn: (_obj, msg) => void warnings.push(msg ?? '') },
    now: () => 42,
  });
  t.teardown(() => cache.close());
  t.is(await cache.hostCount(), 20);
  t.deepEqual(await cache.getHost(host(7).uuid), host(7));
  t.is(cache.clientVersion, '3.4.5');
  t.is(warnings.length, 1);
  t.regex(warnings[0]!, /WAL tail cut/);
  t.deepEqual(fs.readFileSync(path.join(`${dir}.damaged-42`, `${wal!}.tail`)), tail);
});
