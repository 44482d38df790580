/**
 * A child process watched from a test or a bench: its stdout taken line by
 * line, the tail of its stderr kept for failure messages, its exit recorded,
 * and waits on its output or exit with deadlines (woken by the output, never
 * polled). Shared by the test helpers' Child (child-process.ts), the owl CLIs
 * (owl-cli.ts) and the benches' Child (bench/lib/child.ts), which differ only
 * in how they start a process and what its lines mean.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { WakeSignal } from './wake-signal.js';

export abstract class WatchedProcess {
  /** Last bytes of stderr, for failure messages. */
  stderrTail = '';
  exited = false;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  /** Settles when the process has exited. */
  protected readonly exit: Promise<void>;
  protected readonly signal = new WakeSignal();
  private partial = '';

  protected constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    proc.stdout?.setEncoding('utf8');
    proc.stdout?.on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop() ?? '';
      this.takeLines(parts);
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

  /** Complete stdout lines, in order. */
  protected abstract takeLines(lines: string[]): void;

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  /** Send one line to the process's stdin. */
  send(line: string): void {
    this.proc.stdin?.write(`${line}\n`);
  }

  /** SIGKILL (kill -9) and wait for the exit. */
  async kill(): Promise<void> {
    if (!this.exited) this.proc.kill('SIGKILL');
    await this.exit;
  }

  describeExit(): string {
    return this.exitSignal !== null ? `signal ${this.exitSignal}` : `code ${String(this.exitCode)}`;
  }

  /** Ask the process to stop (`ask`), wait for its exit; SIGKILL after `ms`. */
  protected async stopBy(ask: () => void, ms: number): Promise<void> {
    if (this.exited) return;
    ask();
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), ms);
    await this.exit;
    clearTimeout(timer);
  }

  /**
   * Wait until `find` returns something (re-checked on every stdout chunk and at exit); throws
   * when the process exits first or `ms` pass.
   */
  protected async waitFor<T>(find: () => T | undefined, what: string, ms: number): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = find();
      if (found !== undefined) return found;
      if (this.exited)
        throw new Error(`${this.name} exited (${this.describeExit()}) before ${what}: ${this.stderrTail}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no ${what} within ${ms} ms: ${this.stderrTail}`);
      await this.signal.sleep(left);
    }
  }
}

/** A process whose stdout is plain lines (a helper's or a bench child's protocol: `READY`, `STATUS <json>`). */
export abstract class LineProcess extends WatchedProcess {
  /** Every stdout line so far. */
  readonly lines: string[] = [];
  private readonly listeners: ((line: string) => void)[] = [];
  /** How long `waitLine` waits by default. */
  protected abstract readonly lineWaitMs: number;

  protected takeLines(lines: string[]): void {
    for (const line of lines) {
      this.lines.push(line);
      for (const l of this.listeners) l(line);
    }
  }

  /** Called for every stdout line from now on. */
  onLine(listener: (line: string) => void): void {
    this.listeners.push(listener);
  }

  /** Wait for a stdout line (at index >= `from`) matching `re`; returns the match. */
  async waitLine(re: RegExp, ms = this.lineWaitMs, from = 0): Promise<RegExpMatchArray> {
    let i = from;
    return this.waitFor(
      () => {
        for (; i < this.lines.length; i++) {
          const m = re.exec(this.lines[i] as string);
          if (m !== null) return m;
        }
        return undefined;
      },
      `a line matching ${re}`,
      ms,
    );
  }

  /** Send `command` and wait for the next line matching `re` after it. */
  async ask(command: string, re: RegExp, ms = 20_000): Promise<RegExpMatchArray> {
    const from = this.lines.length;
    this.send(command);
    return this.waitLine(re, ms, from);
  }

  /** Ask for a fresh `STATUS <json>` line and return the parsed JSON. */
  async status<T>(ms = 10_000): Promise<T> {
    const m = await this.ask('status', /^STATUS (.*)$/, ms);
    return JSON.parse(m[1] as string) as T;
  }
}
