/**
 * Child processes for crash tests: a test helper script run under tsx, its
 * stdout read line by line (the script's protocol: `READY <port>`, status
 * lines), killed with SIGKILL. Waits are on lines or exit, with deadlines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LineProcess } from './watched-process.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Absolute path of a script in test/helpers/. */
export function helperScript(name: string): string {
  return fileURLToPath(new URL(`./${name}`, import.meta.url));
}

export class Child extends LineProcess {
  protected readonly lineWaitMs = 15_000;

  private constructor(proc: ChildProcess) {
    super('child', proc);
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

  /** Wait for the process to exit by itself (after a `stop` command, say). */
  async waitExit(ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.exited) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`child did not exit within ${ms} ms: ${this.stderrTail}`);
      await this.signal.sleep(left);
    }
  }
}
