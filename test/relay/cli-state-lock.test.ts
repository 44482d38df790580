/**
 * One owl-relay per state dir, started from the CLI as an operator would: a
 * second `owl-relay run` on the dir of a running one is refused with one line
 * and exit code 2 before it touches anything there (its spool WAL, with bytes
 * after the last whole record, stays byte for byte: before the lock, the
 * second relay cut them off the running one's WAL). The lock is the kernel's:
 * after kill -9 of the holder the next relay starts, with the spool intact.
 * In-process starts are refused the same way, by code.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { PacketType } from '../../protocol/index.js';
import { TestAgent, eventually } from '../helpers/agent-client.js';
import { startRelayCli, type RelayCli } from '../helpers/owl-cli.js';
import { RELAY_ID, RELAY_TOKEN, startRelay, tempDir } from '../helpers/relay-harness.js';
import { appendToNewestWal, walDigests } from '../helpers/state-files.js';
import { secondRunRefused, secondStartRefused } from '../helpers/state-lock.js';
import { v3Sample } from '../helpers/v3-sample.js';

const UPSTREAM = 'ws://127.0.0.1:9/owl/v1/uplink';
const UUID = '45c48cce2e2d7fbdea1afc51c7c6ad26';
const SAMPLES = 50;

function relayCli(stateDir: string): Promise<RelayCli> {
  return startRelayCli({
    stateDir,
    relayId: RELAY_ID,
    token: RELAY_TOKEN,
    upstreamUrl: UPSTREAM,
    zoneToken: 'zone-token',
    v3Allow: ['127.0.0.1/32'],
  });
}

test('a second owl-relay on a live state dir exits 2 with one line and leaves its WAL alone; after kill -9 of the holder the next one starts', async (t) => {
  const dir = tempDir('owl-relay-lock-');
  t.teardown(() => dir.remove());
  const first = await relayCli(dir.path);
  t.teardown(() => first.proc.kill());

  // Samples in the spool (v3 agent: no ACK; the relay's status says when they are spooled).
  const agent = await TestAgent.connect(first.agentPort);
  for (let i = 0; i < SAMPLES; i++) agent.send(PacketType.SERIESDATA, v3Sample({ uuid: UUID, value: i }));
  await eventually(async () => (await first.status()).spool.samples === SAMPLES, 20_000, 'samples spooled');
  agent.end();
  // Bytes after the spool's last whole record, as a write in progress leaves them.
  const segment = join(dir.path, 'spool', 'seg-0000000000000001');
  appendToNewestWal(segment, randomBytes(300));
  const before = walDigests(dir.path);

  const args = ['--listen', '127.0.0.1:0', '--upstream', UPSTREAM, '--log-level', 'silent'];
  await secondRunRefused(t, 'relay', dir.path, args, first.proc.pid, before);
  const status = await first.status();
  t.is(status.spool.samples, SAMPLES, 'the first relay still serves, its spool intact');

  await first.proc.kill();
  const next = await relayCli(dir.path);
  t.teardown(() => next.proc.kill());
  t.is((await next.status()).spool.samples, SAMPLES, 'the spool survived the kill');
  await next.proc.stop();
  t.is(next.proc.exitCode, 0);
});

test('in one process: a second Relay.start on a held state dir is refused with OWL_ERR_STATE_LOCKED; after stop it starts', async (t) => {
  const dir = tempDir('owl-relay-lock-');
  t.teardown(() => dir.remove());
  await secondStartRefused(t, 'relay', dir.path, async () => (await startRelay(UPSTREAM, dir.path)).relay);
  t.pass();
});

test('a start that fails after taking the lock lets go of it', async (t) => {
  const dir = tempDir('owl-relay-lock-');
  t.teardown(() => dir.remove());
  const { relay, port } = await startRelay(UPSTREAM, `${dir.path}/a`);
  t.teardown(() => relay.stop());
  // The agent port is taken: this start fails after locking, opening the spool and the cache.
  const failed = await t.throwsAsync(
    startRelay(UPSTREAM, `${dir.path}/b`, { listen: [{ host: '127.0.0.1', port }] }),
  );
  t.is((failed as NodeJS.ErrnoException | undefined)?.code, 'EADDRINUSE');
  const { relay: b } = await startRelay(UPSTREAM, `${dir.path}/b`);
  await b.stop();
  t.pass();
});
