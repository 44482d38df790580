/**
 * One run of one plugin: no shell, its own process group, bounded output,
 * and a deadline that kills the whole group.
 *
 * v3 lessons: stderr was mixed into stdout (so a warning broke parsing):
 * here it is a separate, capped snippet for the log. Its timeout killed the
 * plugin but not what the plugin started, and it waited for stdout to close,
 * so a grandchild holding stdout hung the run and lived on: here the run is
 * `detached` (setsid: the group id is the plugin's pid), the deadline
 * SIGKILLs the group (`process.kill(-pid)`), and the run ends on the
 * plugin's exit plus either its pipes closing or the deadline, whichever
 * comes first. A run owns its group: whatever is still in it when the run
 * ends is killed too, so nothing a plugin starts outlives its run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { SYSTEM_TIMERS, type TimerHandle, type Timers } from '../../protocol/wire/index.js';
import { resolvePluginPath } from './plugin-path.js';

export const DEFAULT_MAX_STDOUT_BYTES = 1024 * 1024;
export const DEFAULT_MAX_STDERR_BYTES = 4096;
/** After the group is killed, how long its pipes may stay open (a process that left the group) before we stop reading. */
const CLOSE_GRACE_MS = 1000;

export interface RunPluginOptions {
  pluginDir: string;
  /** The service's `plugin`: a path relative to `pluginDir`. */
  plugin: string;
  args?: readonly string[];
  timeoutMs: number;
  maxStdoutBytes?: number;
  maxStderrBytes?: number;
  /** Aborting kills the group and ends the run with error 'stopped'. */
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
  timers?: Timers;
}

export interface PluginRunResult {
  /** Exited 0 within the deadline, output within its cap. */
  ok: boolean;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  durationMs: number;
  stdout: string;
  /** The last `maxStderrBytes` of stderr, trimmed: for one log line; never parsed. */
  stderrSnippet: string;
  /** Why the run failed other than by exit code: bad path, spawn error, 'output too large', 'stopped'. */
  error?: string;
}

export async function runPlugin(options: RunPluginOptions): Promise<PluginRunResult> {
  const started = performance.now();
  let path: string;
  try {
    path = await resolvePluginPath(options.pluginDir, options.plugin);
  } catch (e) {
    return { ...notRun(started), error: (e as Error).message };
  }
  if (options.signal?.aborted) return { ...notRun(started), error: 'stopped' };
  try {
    return await new PluginRun(path, options, started).done;
  } catch (e) {
    // spawn throws only for bad arguments (e.g. a NUL byte in one); system errors come as 'error' events.
    return { ...notRun(started), error: `spawn failed: ${(e as Error).message}` };
  }
}

function notRun(started: number): PluginRunResult {
  const durationMs = Math.round(performance.now() - started);
  return {
    ok: false,
    exitCode: null,
    signal: null,
    timedOut: false,
    durationMs,
    stdout: '',
    stderrSnippet: '',
  };
}

/** The state of one spawned plugin until its result is known. */
class PluginRun {
  readonly done: Promise<PluginRunResult>;
  private resolveDone!: (r: PluginRunResult) => void;
  private readonly child: ChildProcess;
  private readonly timers: Timers;
  private readonly maxStdout: number;
  private readonly maxStderr: number;
  private readonly stdoutChunks: Buffer[] = [];
  private stdoutBytes = 0;
  private stderrTail: Buffer = Buffer.alloc(0);
  private openPipes = 2;
  private exited = false;
  private exitCode: number | null = null;
  private exitSignal: NodeJS.Signals | null = null;
  private timedOut = false;
  private error: string | undefined;
  private finished = false;
  private deadline: TimerHandle | undefined;
  private grace: TimerHandle | undefined;

  constructor(
    path: string,
    private readonly options: RunPluginOptions,
    private readonly started: number,
  ) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.timers = options.timers ?? SYSTEM_TIMERS;
    this.maxStdout = options.maxStdoutBytes ?? DEFAULT_MAX_STDOUT_BYTES;
    this.maxStderr = options.maxStderrBytes ?? DEFAULT_MAX_STDERR_BYTES;
    this.child = spawn(path, options.args ?? [], {
      cwd: options.pluginDir,
      env: options.env ?? process.env,
      detached: true,
      shell: false,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.listen();
    this.deadline = this.timers.setTimeout(
      () => this.stopGroup(() => (this.timedOut = true)),
      options.timeoutMs,
    );
    options.signal?.addEventListener('abort', this.onAbort);
  }

  private listen(): void {
    const { child } = this;
    child.on('error', (e) => this.onSpawnError(e));
    child.on('exit', (code, signal) => {
      this.exited = true;
      this.exitCode = code;
      this.exitSignal = signal;
      this.maybeFinish();
    });
    child.stdout!.on('data', (chunk: Buffer) => this.onStdout(chunk));
    child.stderr!.on('data', (chunk: Buffer) => this.onStderr(chunk));
    child.stdout!.on('close', this.onPipeClose);
    child.stderr!.on('close', this.onPipeClose);
  }

  private readonly onAbort = (): void => this.stopGroup(() => (this.error ??= 'stopped'));

  private readonly onPipeClose = (): void => {
    this.openPipes--;
    this.maybeFinish();
  };

  private onSpawnError(e: Error): void {
    this.error ??= `spawn failed: ${(e as NodeJS.ErrnoException).code ?? e.message}`;
    // Without a pid there is no process to wait for: 'exit' never comes.
    if (this.child.pid === undefined) {
      this.exited = true;
      this.openPipes = 0;
      this.maybeFinish();
    }
  }

  private onStdout(chunk: Buffer): void {
    if (this.stdoutBytes + chunk.length > this.maxStdout) {
      this.stopGroup(() => (this.error ??= 'output too large'));
      this.child.stdout!.destroy();
      return;
    }
    this.stdoutChunks.push(chunk);
    this.stdoutBytes += chunk.length;
  }

  private onStderr(chunk: Buffer): void {
    // Keep the tail: the last lines carry the error (a Python traceback ends with it).
    const joined = Buffer.concat([this.stderrTail, chunk]);
    this.stderrTail =
      joined.length > this.maxStderr ? joined.subarray(joined.length - this.maxStderr) : joined;
  }

  /** Note why, kill the group, and give its pipes a moment to close before giving up on them. */
  private stopGroup(why: () => void): void {
    if (this.finished) return;
    why();
    this.killGroup();
    this.grace ??= this.timers.setTimeout(() => {
      this.child.stdout!.destroy();
      this.child.stderr!.destroy();
      this.openPipes = 0;
      this.exited = true;
      this.maybeFinish();
    }, CLOSE_GRACE_MS);
  }

  private killGroup(): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // ESRCH: the group is gone already.
    }
  }

  private maybeFinish(): void {
    if (this.finished || !this.exited || this.openPipes > 0) return;
    this.finished = true;
    this.timers.clearTimeout(this.deadline);
    this.timers.clearTimeout(this.grace);
    this.options.signal?.removeEventListener('abort', this.onAbort);
    this.killGroup(); // leftovers that closed their stdout but still run
    this.resolveDone(this.result());
  }

  private result(): PluginRunResult {
    const ok = !this.timedOut && this.error === undefined && this.exitCode === 0;
    const r: PluginRunResult = {
      ok,
      exitCode: this.exitCode,
      signal: this.exitSignal,
      timedOut: this.timedOut,
      durationMs: Math.round(performance.now() - this.started),
      stdout: Buffer.concat(this.stdoutChunks, this.stdoutBytes).toString('utf8'),
      stderrSnippet: this.stderrTail.toString('utf8').trim(),
    };
    if (this.error !== undefined) r.error = this.error;
    return r;
  }
}
