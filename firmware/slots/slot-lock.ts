/**
 * The lock on one slot root: at most one actor changes the slots, `current` or update.json at a
 * time. The actors: the program's updater, the supervisor (prestart, check), an operator's
 * `owl-firmware slots`, and the package's maintainer scripts (packaging/debian/slot-lock.sh, the
 * same protocol in shell). Held around one operation, never for a process's lifetime.
 *
 * `<root>/.lock` holds its holder as JSON: {bootId, pid, start, op, at} (process-identity.ts).
 * It is made complete under a temp name and linked into place (link(2) fails if the name
 * exists: O_EXCL with the content already there, so no reader ever sees a half-written lock).
 * A lock is stale when its boot id differs from this boot's (both known: a reboot or power
 * loss), its pid is gone, or that pid's start time differs (the pid was reused). A stale lock is
 * renamed aside and removed only if the renamed file is the very one judged stale (same inode);
 * a lock made in between is put back. So two actors taking over one stale lock never both win.
 * A lock whose holder cannot be judged (a pid of another user that /proc hides) counts as live:
 * at worst a wait, never two holders.
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  linkSync,
  lstatSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { io, SlotError, SlotErrorCode } from './errors.js';
import { currentBootId, pidExists, processStart } from './process-identity.js';

export const LOCK_FILE = '.lock';
/** How often a waiting actor looks again. */
const POLL_MS = 50;
/** Rounds of link / judge / remove-stale before giving up as busy (each loses only to a racer). */
const ROUNDS = 5;

export interface LockHolder {
  /** The kernel's boot id (32 hex digits), or null where the holder could not read it. */
  bootId: string | null;
  pid: number;
  /** Start time of `pid`, clock ticks since boot (field 22 of /proc/<pid>/stat). */
  start: number | null;
  /** What the holder does: install, switch, prestart, dpkg preinst upgrade, … */
  op: string;
  /** ms since the epoch, when it took the lock (for people; never used to judge). */
  at: number;
}

export interface LockState {
  holder: LockHolder | null;
  /** Null: live. Otherwise why the lock is stale (the next actor takes it over). */
  stale: string | null;
}

export interface LockOptions {
  /** How long to wait for a live holder before failing with BUSY (default 0: fail at once). */
  waitMs?: number;
  /** Called once when a wait begins, with the holder waited for (a log line). */
  onWait?: (holder: LockHolder | null) => void;
}

/** Locks held by this process: path → depth (a nested operation shares its caller's lock). */
const held = new Map<string, { depth: number; ino: number }>();

/**
 * Takes the lock on `root` for `op` and returns its release (idempotent). A live holder gives
 * SlotError BUSY naming it, after waiting up to `waitMs`. A root that does not exist has
 * nothing to protect: no lock.
 */
export function acquireSlotLock(root: string, op: string, options: LockOptions = {}): () => void {
  const path = resolve(root, LOCK_FILE);
  const mine = held.get(path);
  if (mine !== undefined) {
    mine.depth++;
    return once(() => release(path));
  }
  if (!existsSync(root)) return () => {};
  const deadline = Date.now() + (options.waitMs ?? 0);
  let waited = false;
  for (;;) {
    const got = tryAcquire(root, path, op);
    if (typeof got === 'number') {
      held.set(path, { depth: 1, ino: got });
      removeLeftovers(root);
      return once(() => release(path));
    }
    if (Date.now() >= deadline) throw busyError(root, got);
    if (!waited) options.onWait?.(got);
    waited = true;
    sleepSync(Math.min(POLL_MS, deadline - Date.now()));
  }
}

/** The lock's holder and whether it is stale, or null if there is none (read only). */
export function readSlotLock(root: string): LockState | null {
  const path = resolve(root, LOCK_FILE);
  const found = readLock(path);
  if (found === null) return null;
  return { holder: found.holder, stale: held.has(path) ? null : staleness(found.holder) };
}

export function describeHolder(h: LockHolder | null): string {
  if (h === null) return 'an unreadable lock';
  return `${h.op} by pid ${h.pid} since ${new Date(h.at).toISOString()}`;
}

export function busyError(root: string, h: LockHolder | null): SlotError {
  return new SlotError(
    SlotErrorCode.BUSY,
    `${root} is busy: ${describeHolder(h)} (${LOCK_FILE}); try again when it is done`,
    { retriable: true },
  );
}

/** One round: the inode of our new lock, or the live holder that has it. */
function tryAcquire(root: string, path: string, op: string): number | LockHolder | null {
  const me: LockHolder = {
    bootId: currentBootId(),
    pid: process.pid,
    start: processStart(process.pid),
    op,
    at: Date.now(),
  };
  const temp = join(root, `${LOCK_FILE}.${process.pid}.new`);
  io(`write ${temp}`, () => writeFileSync(temp, `${JSON.stringify(me)}\n`, { mode: 0o644 }));
  try {
    let last: LockHolder | null = null;
    for (let round = 0; round < ROUNDS; round++) {
      try {
        linkSync(temp, path);
        return lstatSync(temp).ino;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') fail(`link ${path}`, err);
      }
      const found = readLock(path);
      if (found === null) continue; // released meanwhile
      last = found.holder;
      if (staleness(found.holder) === null) return last;
      removeIfSame(root, path, found.ino);
    }
    return last;
  } finally {
    rmSync(temp, { force: true });
  }
}

/** Removes the lock at `path` only if it is still the file `ino` (judged stale). */
function removeIfSame(root: string, path: string, ino: number): void {
  const aside = join(root, `${LOCK_FILE}.${process.pid}.stale`);
  try {
    renameSync(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    fail(`rename ${path}`, err);
  }
  if (lstatSync(aside).ino !== ino) {
    // A lock taken after we judged: give it back (fails only if a third actor has one now).
    try {
      linkSync(aside, path);
    } catch {
      // That third actor holds it; the one we moved lost its name, and its release is a no-op.
    }
  }
  rmSync(aside, { force: true });
}

/** Why the holder's lock is stale, or null if it is live (or cannot be judged). */
function staleness(h: LockHolder | null): string | null {
  if (h === null) return 'unreadable';
  const boot = currentBootId();
  if (h.bootId !== null && boot !== null && h.bootId !== boot) return 'taken in an earlier boot';
  if (h.pid === process.pid && h.start === processStart(process.pid)) return 'left by this process';
  if (!pidExists(h.pid)) return `pid ${h.pid} is gone`;
  const start = processStart(h.pid);
  if (h.start !== null && start !== null && start !== h.start) return `pid ${h.pid} is another process now`;
  return null;
}

function readLock(path: string): { holder: LockHolder | null; ino: number } | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    fail(`open ${path}`, err);
  }
  try {
    const ino = fstatSync(fd).ino;
    return { holder: parseHolder(readFileSync(fd, 'utf8')), ino };
  } finally {
    closeSync(fd);
  }
}

function parseHolder(text: string): LockHolder | null {
  try {
    const v = JSON.parse(text) as Partial<LockHolder>;
    const ok =
      Number.isSafeInteger(v.pid) &&
      (v.pid as number) > 0 &&
      (v.bootId === null || typeof v.bootId === 'string') &&
      (v.start === null || Number.isSafeInteger(v.start)) &&
      typeof v.op === 'string' &&
      typeof v.at === 'number';
    return ok ? (v as LockHolder) : null;
  } catch {
    return null;
  }
}

function release(path: string): void {
  const mine = held.get(path);
  if (mine === undefined) return;
  if (--mine.depth > 0) return;
  held.delete(path);
  try {
    // Only our own file: after a takeover (we were judged stale) the name is someone else's.
    if (lstatSync(path).ino === mine.ino) unlinkSync(path);
  } catch {
    // Gone or unreadable: a lock left naming us is stale once we exit.
  }
}

/** Temp names (`.lock.<pid>.new|stale`) of processes that died in the middle. */
function removeLeftovers(root: string): void {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^\.lock\.(\d+)\.(new|stale)$/.exec(name);
    if (m !== null && Number(m[1]) !== process.pid && !pidExists(Number(m[1]))) {
      rmSync(join(root, name), { force: true });
    }
  }
}

/** A system error as SlotError IO naming `what`. */
function fail(what: string, err: unknown): never {
  return io(what, () => {
    throw err;
  });
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}

/** The supervisor is a short-lived process of its own: blocking it while it waits is fine. */
function sleepSync(ms: number): void {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
