/**
 * Bench child processes: a script in bench/lib/ run under tsx in its own
 * process (`process.execPath --import tsx`), its stdout read line by line.
 * Every child speaks the same small protocol: `READY ...` once up, `STATUS
 * <json>` in answer to a `status` line on stdin, and it exits when its stdin
 * closes (the bench died). Waits are on lines or exit, always with deadlines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { LineProcess } from '../../test/helpers/watched-process.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface StartOptions {
  /** Extra node flags before `--import tsx` (e.g. `--cpu-prof`, `--expose-gc`). */
  nodeArgs?: string[];
  /** Modules to `--import` after tsx (so they may be TypeScript), before the script runs. */
  imports?: string[];
  env?: Record<string, string>;
  /** Run this file instead of bench/lib/<script> (e.g. a transpiled relay-main.js, build.ts). */
  file?: string;
  /** Load tsx (default true): a .js file needs it only for TypeScript `imports`. */
  tsx?: boolean;
}

export class Child extends LineProcess {
  protected readonly lineWaitMs = 20_000;

  private constructor(name: string, proc: ChildProcess) {
    super(name, proc);
  }

  /** Run `bench/lib/<script>` (or `options.file`) with `args`. */
  static start(script: string, args: string[], options: StartOptions = {}): Child {
    const path = options.file ?? fileURLToPath(new URL(`./${script}`, import.meta.url));
    const imports = (options.imports ?? []).flatMap((m) => ['--import', m]);
    const loader = options.tsx === false ? [] : ['--import', 'tsx'];
    const argv = [...(options.nodeArgs ?? []), ...loader, ...imports, path, ...args];
    const proc = spawn(process.execPath, argv, {
      cwd: REPO_ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return new Child(script, proc);
  }

  /** Ask the child to stop (`stop` line), wait for its exit; SIGKILL after `ms`. */
  async stop(ms = 15_000): Promise<void> {
    await this.stopBy(() => this.send('stop'), ms);
  }
}

/** Read stdin lines in a child; `stop` and stdin's end call `onStop`. */
export function serveCommands(
  handlers: Record<string, (arg: string) => void | Promise<void>>,
  onStop: () => void | Promise<void>,
): void {
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void Promise.resolve(onStop()).finally(() => process.exit(0));
  };
  createInterface({ input: process.stdin }).on('line', (line) => {
    const at = line.indexOf(' ');
    const cmd = at < 0 ? line : line.slice(0, at);
    const arg = at < 0 ? '' : line.slice(at + 1);
    if (cmd === 'stop') return stop();
    const handler = handlers[cmd];
    if (handler === undefined) {
      process.stdout.write(`ERROR unknown command ${cmd}\n`);
      return;
    }
    Promise.resolve(handler(arg)).catch((err: unknown) => {
      process.stdout.write(`ERROR ${String(err)}\n`);
    });
  });
  process.stdin.on('end', stop);
}
