/**
 * Child processes for crash tests: a test helper script run under tsx, its
 * stdout read line by line (the script's protocol: `READY <port>`, status
 * lines), killed with SIGKILL. Waits are on lines or exit, with deadlines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { WakeSignal } from './wake-signal.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Absolute path of a script in test/helpers/. */
export function helperScript(name: string): string {
  return fileURLToPath(new URL(`./${name}`, import.meta.url));
}

export class Child {
  /** Every stdout line so far. */
  readonly lines: string[] = [];
  /** Last bytes of stderr, for failure messages. */
  stderrTail = '';
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  exited = false;
  private readonly exit: Promise<void>;
  private partial = '';
  private readonly signal = new WakeSignal();
  private readonly listeners: ((line: string) => void)[] = [];

  private constructor(readonly proc: ChildProcess) {
    proc.stdout?.setEncoding('utf8');
    proc.stdout?.on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop() ?? '';
      for (const line of parts) {
        this.lines.push(line);
        for (const l of this.listeners) l(line);
      }
      this.signal.wake();
    });
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-4000);
    });
    this.exit = once(proc, 'exit').then(([code, signal]) => {
      this.exited = true;
      this.exitCode = code as number | null;
      this.exitSignal = signal as NodeJS.Signals | null;
      this.signal.wake();
    });
  }

  /** Run `test/helpers/<script>` with tsx; `args` are passed through. */
  static start(script: string, args: string[], env: Record<string, string> = {}): Child {
    const proc = spawn(process.execPath, ['--import', 'tsx', helperScript(script), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return new Child(proc);
  }

  /**
   * Start a helper whose protocol is `READY <port>` (relay-main.ts,
   * uplink-receiver-main.ts) with a JSON argument; resolves once it listens.
   * The child is pushed to `track` at once (for teardown).
   */
  static async run(
    script: string,
    config: unknown,
    track?: Child[],
  ): Promise<{ child: Child; port: number }> {
    const child = Child.start(script, [JSON.stringify(config)]);
    track?.push(child);
    return { child, port: await child.ready() };
  }

  /**
   * Start such a helper with `--wait`: its code loads, nothing is opened until
   * `open()`. The child is pushed to `track` at once (for teardown).
   */
  static async load(script: string, config: unknown, track?: Child[]): Promise<Child> {
    const child = Child.start(script, [JSON.stringify(config), '--wait']);
    track?.push(child);
    await child.waitLine(/^LOADED$/, 30_000);
    return child;
  }

  /** Let a `load()`ed helper open its state and listen; resolves with its port. */
  async open(): Promise<number> {
    this.send('start');
    return this.ready();
  }

  private async ready(): Promise<number> {
    const m = await this.waitLine(/^READY (\d+)$/, 30_000);
    return Number(m[1]);
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  /** Called for every stdout line from now on. */
  onLine(listener: (line: string) => void): void {
    this.listeners.push(listener);
  }

  /** Wait for a stdout line (from the start of output) matching `re`; returns the match. */
  async waitLine(re: RegExp, ms = 15_000, from = 0): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    let i = from;
    for (;;) {
      for (; i < this.lines.length; i++) {
        const m = re.exec(this.lines[i] as string);
        if (m !== null) return m;
      }
      if (this.exited)
        throw new Error(`child exited (${this.describeExit()}) before ${re}: ${this.stderrTail}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no line matching ${re} within ${ms} ms: ${this.stderrTail}`);
      await this.signal.sleep(left);
    }
  }

  /** Send one line to the child's stdin. */
  send(line: string): void {
    this.proc.stdin?.write(`${line}\n`);
  }

  /** Ask for a fresh `STATUS <json>` line and return the parsed JSON. */
  async status<T>(ms = 10_000): Promise<T> {
    const from = this.lines.length;
    this.send('status');
    const m = await this.waitLine(/^STATUS (.*)$/, ms, from);
    return JSON.parse(m[1] as string) as T;
  }

  /** SIGKILL and wait for the exit. */
  async kill(): Promise<void> {
    if (!this.exited) this.proc.kill('SIGKILL');
    await this.exit;
  }

  /** Wait for the process to exit by itself (after a `stop` command, say). */
  async waitExit(ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.exited) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`child did not exit within ${ms} ms: ${this.stderrTail}`);
      await this.signal.sleep(left);
    }
  }

  describeExit(): string {
    return this.exitSignal !== null ? `signal ${this.exitSignal}` : `code ${String(this.exitCode)}`;
  }
}
