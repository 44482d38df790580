/**
 * The checks the relay's and the upstream's state-dir lock tests share
 * (test/relay/cli-state-lock.test.ts and its upstream twin): a second process
 * on a held dir exits 1 with one line and leaves the WAL files alone, and an
 * in-process second start is refused with OWL_ERR_STATE_LOCKED.
 */
import type { ExecutionContext } from 'ava';
import { RocksErrorCode } from '../../rocks/index.js';
import { OwlProcess } from './owl-cli.js';
import { damagedEntries, walDigests } from './state-files.js';

/**
 * `owl-<program> run --state-dir <dir> <args>` while `holderPid` holds `dir`: it exits 1 with the
 * one line, and the WAL files are still `before` (digests taken with walDigests), nothing moved aside.
 */
export async function secondRunRefused(
  t: ExecutionContext,
  program: 'relay' | 'upstream',
  dir: string,
  args: string[],
  holderPid: number,
  before: ReturnType<typeof walDigests>,
): Promise<void> {
  const second = OwlProcess.start(program, ['run', '--state-dir', dir, ...args]);
  await second.waitExit();
  t.is(second.exitCode, 1);
  t.is(second.stderrTail, `another owl-${program} is running on ${dir} (pid ${holderPid})\n`);
  t.deepEqual(walDigests(dir), before, `the running ${program}'s WAL files are byte-identical`);
  t.deepEqual(damagedEntries(dir), [], 'nothing moved aside');
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
