/**
 * One owl-upstream per state dir, started from the CLI as an operator would:
 * a second `owl-upstream run` on the dir of a running one is refused with one
 * line and exit code 2 before it touches anything there (the store's WAL,
 * with bytes after the last whole record, stays byte for byte; before the
 * lock the second one cut them off, then said `Database is not open`). After
 * kill -9 of the holder the next upstream starts on the same dir with its
 * data. In-process starts are refused the same way, by code.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startUpstreamCli, type UpstreamCli } from '../helpers/owl-cli.js';
import { tempDir } from '../helpers/relay-harness.js';
import { appendToNewestWal, walDigests } from '../helpers/state-files.js';
import { secondRunRefused, secondStartRefused } from '../helpers/state-lock.js';
import { callApi } from '../helpers/upstream-api.js';
import { startUpstream } from '../helpers/upstream-harness.js';

async function relayIds(up: UpstreamCli): Promise<string[]> {
  const answer = await callApi(up.api, 'GET', '/api/v1/relays');
  if (answer.status !== 200) throw new Error(`GET /relays answered ${answer.status}`);
  return (answer.body as Array<{ id: string }>).map((r) => r.id);
}

test('a second owl-upstream on a live state dir exits 2 with one line and leaves its store alone; after kill -9 of the holder the next one starts', async (t) => {
  const dir = tempDir('owl-upstream-lock-');
  t.teardown(() => dir.remove());
  const first = await startUpstreamCli(dir.path);
  t.teardown(() => first.proc.kill());
  // A durable store write, then bytes after its last whole record, as a write in progress leaves them.
  t.is((await callApi(first.api, 'POST', '/api/v1/relays', { id: 'zone-a' })).status, 201);
  appendToNewestWal(join(dir.path, 'store'), randomBytes(300));
  const before = walDigests(dir.path);

  const args = ['--uplink', '127.0.0.1:0', '--agents', '127.0.0.1:0', '--api', '127.0.0.1:0'];
  await secondRunRefused(t, 'upstream', dir.path, args, first.proc.pid, before);
  t.deepEqual(await relayIds(first), ['zone-a'], 'the first upstream still serves, its store intact');

  await first.proc.kill();
  const next = await startUpstreamCli(dir.path);
  t.teardown(() => next.proc.kill());
  t.deepEqual(await relayIds(next), ['zone-a'], 'the store survived the kill');
  await next.proc.stop();
  t.is(next.proc.exitCode, 0);
});

test('in one process: a second Upstream.start on a held state dir is refused with OWL_ERR_STATE_LOCKED; after stop it starts', async (t) => {
  const dir = tempDir('owl-upstream-lock-');
  t.teardown(() => dir.remove());
  await secondStartRefused(t, 'upstream', dir.path, () => startUpstream(dir.path));
  t.pass();
});

test('an upstream start that fails after taking the lock lets go of it', async (t) => {
  const dir = tempDir('owl-upstream-lock-');
  t.teardown(() => dir.remove());
  const a = await startUpstream(`${dir.path}/a`);
  t.teardown(() => a.stop());
  // The API port is taken: this start fails after locking and opening the store.
  const failed = await t.throwsAsync(
    startUpstream(`${dir.path}/b`, { api: { host: '127.0.0.1', port: a.apiAddress.port } }),
  );
  t.is((failed as NodeJS.ErrnoException | undefined)?.code, 'EADDRINUSE');
  const b = await startUpstream(`${dir.path}/b`);
  await b.stop();
  t.pass();
});
