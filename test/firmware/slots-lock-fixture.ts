/**
 * Real processes for the slot-lock tests: lock holders and racing installers
 * (slots-lock-child.ts), and a plain live process whose identity a test writes into a lock.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { currentBootId, LOCK_FILE, processStart, type LockHolder } from '../../firmware/slots/index.js';
import { eventually } from '../helpers/agent-client.js';
import { tempDir } from '../helpers/relay-harness.js';
import { stageProgram } from './slots-fixture.js';
import { installCommitted } from '../helpers/firmware-kit.js';

const LOCK_CHILD = fileURLToPath(new URL('slots-lock-child.ts', import.meta.url));

export interface Child {
  proc: ChildProcess;
  pid: number;
  /** Everything it printed so far. */
  out: () => string;
  /** Resolves with the exit code or signal once it ended. */
  ended: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits until a line starting with `prefix` was printed; returns the rest of it. */
  line: (prefix: string, ms?: number) => Promise<string>;
  kill: () => Promise<void>;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

export function spawnChild(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): Child {
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) });
  children.add(proc);
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('close', (code, signal) => {
      children.delete(proc);
      resolve({ code, signal });
    }),
  );
  const line = async (prefix: string, ms = 20_000): Promise<string> => {
    const find = (): string | undefined =>
      out
        .split('\n')
        .find((l) => l.startsWith(prefix))
        ?.slice(prefix.length);
    await eventually(() => find() !== undefined || proc.exitCode !== null, ms, `a line '${prefix}'`);
    const found = find();
    if (found === undefined) throw new Error(`ended without '${prefix}': ${out}`);
    return found;
  };
  const kill = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await ended;
  };
  return { proc, pid: proc.pid ?? -1, out: () => out, ended, line, kill };
}

/** A lock-child process (see slots-lock-child.ts). */
export function lockChild(job: object): Child {
  return spawnChild(process.execPath, ['--import', 'tsx', LOCK_CHILD, JSON.stringify(job)]);
}

/** A child that holds the lock on `root` for `op`; resolves once it has it. */
export async function holder(root: string, op = 'hold'): Promise<Child> {
  const c = lockChild({ mode: 'hold', root, op });
  await c.line('held ');
  return c;
}

/** A live process that is not a lock holder: its identity goes into hand-written locks. */
export function bystander(): Child {
  return spawnChild('sleep', ['600']);
}

/** Writes `<root>/.lock` naming `h` (what a holder in another boot, or a reused pid, left). */
export function writeLock(root: string, h: Partial<LockHolder> & { pid: number }): void {
  const lock: LockHolder = {
    bootId: currentBootId(),
    start: processStart(h.pid),
    op: 'install',
    at: Date.now(),
    ...h,
  };
  writeFileSync(join(root, LOCK_FILE), `${JSON.stringify(lock)}\n`);
}

/** A root with 1.0.0 committed in slot a, and 2.0.0 staged next to it. */
export function committedRoot(t: { teardown: (fn: () => void) => void }): {
  root: string;
  dir: string;
  staged: string;
} {
  const tmp = tempDir('owl-slots-lock-');
  t.teardown(tmp.remove);
  const root = join(tmp.path, 'relay');
  mkdirSync(root);
  installCommitted(root, stageProgram(tmp.path, '1.0.0', 'good'), '1.0.0');
  return { root, dir: tmp.path, staged: stageProgram(tmp.path, '2.0.0', 'good') };
}
