/**
 * Who a process is, in a form that survives pid reuse: the boot (kernel boot id) and, within a
 * boot, the pid with its start time (field 22 of /proc/<pid>/stat, clock ticks since boot). A
 * pid alone names another process after a reboot or a wrap of the pid counter; the triple does
 * not. The slot lock (slot-lock.ts) records it and judges holders by it.
 */
import { readFileSync } from 'node:fs';

const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

/** 32 lower-case hex digits, as systemd's `%b` prints it and /proc without its dashes. */
function normalizeBootId(raw: string): string | null {
  const id = raw.trim().toLowerCase().replaceAll('-', '');
  return /^[0-9a-f]{32}$/.test(id) ? id : null;
}

/**
 * This boot's id, or null if it cannot be read. A unit with `ProcSubset=pid` hides /proc/sys;
 * it can pass the id as `Environment=OWL_BOOT_ID=%b` instead.
 */
export function currentBootId(): string | null {
  try {
    return normalizeBootId(readFileSync(BOOT_ID_FILE, 'utf8'));
  } catch {
    const env = process.env.OWL_BOOT_ID;
    return env === undefined ? null : normalizeBootId(env);
  }
}

/** The start time of `pid` in clock ticks since boot, or null if /proc does not show it. */
export function processStart(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // Field 2, the command name, is in parentheses and may hold spaces or ')': cut at the last one.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = Number(fields[22 - 3]);
  return Number.isSafeInteger(start) ? start : null;
}

/**
 * Whether a process with this pid exists. kill(pid, 0) answers even where /proc hides other
 * users' processes (`ProtectProc=invisible`): EPERM means it exists but is not ours.
 */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
