/**
 * An exclusive lock on a program's state dir, taken before anything in it is
 * touched: a second owl-relay or owl-upstream started on a live state dir must
 * not scan (and perhaps cut, rocks/wal-tail.ts) the WAL the running one writes,
 * replace its control socket or read its store. Only one process holds it; the
 * kernel releases it when that process dies, however it dies.
 *
 * How: `<stateDir>/lock/` is a RocksDB that never holds a key. Opening it takes
 * RocksDB's LOCK: an fcntl lock on `lock/LOCK` (released by the kernel on
 * process death, so a SIGKILLed holder leaves nothing that blocks the next
 * start) plus the binding's in-process set of locked files (a second start in
 * the same process is refused as well; a bare fcntl lock would be granted to
 * it). Node has no flock/fcntl of its own; a pid file with a liveness check
 * fails on pid reuse and races between two starts, and a lock package would
 * be another native addon. The holder's pid and program go to `lock/owner`
 * (written once the lock is held, removed on release), only to name the
 * holder in the refusal: the lock itself is the fcntl lock.
 */
import fs from 'node:fs';
import path from 'node:path';
import { RocksLevel } from '@nxtedition/rocksdb';
import { rocksCause } from './binding.js';
import { RocksError, RocksErrorCode } from './errors.js';

/** Held until release(). */
export interface StateLock {
  /** Let go (idempotent): `lock/owner` removed, then the RocksDB closed. */
  release(): Promise<void>;
}

interface Owner {
  pid: number;
  program: string;
}

/** How long a refused start waits for a just-started holder to name itself. */
const OWNER_WAIT_MS = 1000;

/**
 * Lock `stateDir` (created when missing) for `program` (`owl-relay`,
 * `owl-upstream`). Throws OWL_ERR_STATE_LOCKED, message `another <program> is
 * running on <dir> (pid N)`, when a live process holds it.
 */
export async function lockStateDir(stateDir: string, program: string): Promise<StateLock> {
  const lockDir = path.join(stateDir, 'lock');
  const ownerFile = path.join(lockDir, 'owner');
  let db: RocksLevel<string, string>;
  try {
    fs.mkdirSync(stateDir, { recursive: true });
    db = new RocksLevel<string, string>(lockDir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    await db.open({ createIfMissing: true });
  } catch (err) {
    const { code, message } = rocksCause(err);
    if (code === 'LEVEL_LOCKED') {
      const owner = await readOwner(ownerFile);
      throw new RocksError(
        RocksErrorCode.STATE_LOCKED,
        `another ${owner?.program ?? program} is running on ${stateDir} (pid ${owner?.pid ?? 'unknown'})`,
        { cause: err },
      );
    }
    throw new RocksError(RocksErrorCode.STATE_UNUSABLE, `cannot lock state dir ${stateDir}: ${message}`, {
      cause: err,
    });
  }
  try {
    const tmp = `${ownerFile}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ pid: process.pid, program } satisfies Owner) + '\n');
    fs.renameSync(tmp, ownerFile);
  } catch {
    // Only names the holder in a refusal; the lock holds without it.
  }
  let released: Promise<void> | undefined;
  return {
    release: () =>
      (released ??= (async () => {
        fs.rmSync(ownerFile, { force: true });
        await db.close();
      })()),
  };
}

/**
 * The holder named in `lock/owner`. A holder that has just taken the lock may
 * not have written it yet (or a SIGKILLed one's is still there): a pid that is
 * not alive is waited on, briefly, for the live holder's.
 */
async function readOwner(file: string): Promise<Owner | undefined> {
  const deadline = Date.now() + OWNER_WAIT_MS;
  let owner: Owner | undefined;
  for (;;) {
    owner = parseOwner(file);
    if ((owner !== undefined && alive(owner.pid)) || Date.now() >= deadline) return owner;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function parseOwner(file: string): Owner | undefined {
  try {
    const o = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<Owner>;
    if (typeof o.pid === 'number' && typeof o.program === 'string') return { pid: o.pid, program: o.program };
  } catch {
    // Missing or half-written.
  }
  return undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
