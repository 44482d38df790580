/**
 * Bench child processes: a script in bench/lib/ run under tsx in its own
 * process (`process.execPath --import tsx`), its stdout read line by line.
 * Every child speaks the same small protocol: `READY ...` once up, `STATUS
 * <json>` in answer to a `status` line on stdin, and it exits when its stdin
 * closes (the bench died). Waits are on lines or exit, always with deadlines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { WakeSignal } from '../../test/helpers/wake-signal.js';

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

export class Child {
  readonly lines: string[] = [];
  stderrTail = '';
  exited = false;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  private partial = '';
  private readonly signal = new WakeSignal();
  private readonly exit: Promise<void>;

  private constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    proc.stdout?.setEncoding('utf8');
    proc.stdout?.on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop() ?? '';
      this.lines.push(...parts);
      this.signal.wake();
    });
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-4000);
    });
    proc.stdin?.on('error', () => undefined);
    this.exit = once(proc, 'exit').then(([code, signal]) => {
      this.exited = true;
      this.exitCode = code as number | null;
      this.exitSignal = signal as NodeJS.Signals | null;
      this.signal.wake();
    });
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

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  /** Wait for a stdout line (at index >= `from`) matching `re`. */
  async waitLine(re: RegExp, ms = 20_000, from = 0): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    let i = from;
    for (;;) {
      for (; i < this.lines.length; i++) {
        const m = re.exec(this.lines[i] as string);
        if (m !== null) return m;
      }
      if (this.exited) {
        throw new Error(`${this.name} exited (${this.describeExit()}) before ${re}:\n${this.stderrTail}`);
      }
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`${this.name}: no line matching ${re} within ${ms} ms:\n${this.stderrTail}`);
      await this.signal.sleep(left);
    }
  }

  send(line: string): void {
    this.proc.stdin?.write(`${line}\n`);
  }

  /** Send `command` and wait for the next line matching `re` after it. */
  async ask(command: string, re: RegExp, ms = 20_000): Promise<RegExpMatchArray> {
    const from = this.lines.length;
    this.send(command);
    return this.waitLine(re, ms, from);
  }

  /** `status` → parsed `STATUS <json>`. */
  async status<T>(ms = 10_000): Promise<T> {
    const m = await this.ask('status', /^STATUS (.*)$/, ms);
    return JSON.parse(m[1] as string) as T;
  }

  /** Ask the child to stop (`stop` line), wait for its exit; SIGKILL after `ms`. */
  async stop(ms = 15_000): Promise<void> {
    if (this.exited) return;
    this.send('stop');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), ms);
    await this.exit;
    clearTimeout(timer);
  }

  async kill(): Promise<void> {
    if (!this.exited) this.proc.kill('SIGKILL');
    await this.exit;
  }

  describeExit(): string {
    return this.exitSignal !== null ? `signal ${this.exitSignal}` : `code ${String(this.exitCode)}`;
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
