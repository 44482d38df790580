/**
 * The checks the relay's and the upstream's state-dir lock tests share
 * (test/relay/cli-state-lock.test.ts and its upstream twin): a second process
 * on a held dir exits 2 with one line and leaves the WAL files alone, and an
 * in-process second start is refused with OWL_ERR_STATE_LOCKED.
 * A refused start, like every failed start, exits 2.
 */
import type { ExecutionContext } from 'ava';
import { RocksErrorCode } from '../../rocks/index.js';
import { OwlProcess } from './owl-cli.js';
import { RELAY_ID, RELAY_TOKEN } from './relay-harness.js';
import { damagedEntries, walDigests } from './state-files.js';

/**
 * `owl-<program> run --state-dir <dir> <args>` while `holderPid` holds `dir`: it exits 2 with the
 * one line, and the WAL files are still `before` (digests taken with walDigests), nothing moved aside.
 * A relay is given an id and a token (without them it refuses before it looks at the dir) and
 * any free metrics port, unless `args` has them.
 */
export async function secondRunRefused(
  t: ExecutionContext,
  program: 'relay' | 'upstream',
  dir: string,
  args: string[],
  holderPid: number,
  before: ReturnType<typeof walDigests>,
): Promise<void> {
  const second = OwlProcess.start(program, ['run', '--state-dir', dir, ...runnable(program, args)]);
  await second.waitExit(60_000);
  t.is(second.exitCode, 2);
  t.is(second.stderrTail, `owl-${program}: another owl-${program} is running on ${dir} (pid ${holderPid})\n`);
  t.deepEqual(walDigests(dir), before, `the running ${program}'s WAL files are byte-identical`);
  t.deepEqual(damagedEntries(dir), [], 'nothing moved aside');
}

function runnable(program: 'relay' | 'upstream', args: string[]): string[] {
  const missing = (flag: string, value: string): string[] => (args.includes(flag) ? [] : [flag, value]);
  const relay =
    program === 'relay' ? [...missing('--relay-id', RELAY_ID), ...missing('--token', RELAY_TOKEN)] : [];
  return [...relay, ...missing('--metrics', '127.0.0.1:0'), ...args];
}

/** In this process: a second `start()` on a held dir is refused by code; after `stop` of the first it starts. */
export async function secondStartRefused(
  t: ExecutionContext,
  program: 'relay' | 'upstream',
  dir: string,
  start: () => Promise<{ stop(): Promise<void> }>,
): Promise<void> {
  const first = await start();
  const err = await t.throwsAsync(start(), { code: RocksErrorCode.STATE_LOCKED });
  t.is(err?.message, `another owl-${program} is running on ${dir} (pid ${process.pid})`);
  await first.stop();
  const again = await start();
  await again.stop();
}
