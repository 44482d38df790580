/**
 * A stand-in for the systemd unit of a program installed in firmware slots (packaging/systemd,
 * docs/firmware-slots.md): before every start it runs the supervisor's `prestart` on the slot
 * root (ExecStartPre=), then starts `<root>/current/bin/<program> <args>` (ExecStart=). When the
 * program exits it is started again the way the unit does: after any exit but 0 and 2
 * (Restart=on-failure, RestartPreventExitStatus=2, RestartForceExitStatus=75), and after exit 2
 * only while `pending` says an update is on trial (the OnFailure= unit). A watchdog runs `check`
 * every `watchdogMs` and restarts the program when it rolled back (exit 3), as the timer does.
 *
 * The supervisor runs from the repository (firmware/slots/supervise.ts), as the package's copy
 * outside the slots would: nothing in a slot can change it; or it is a package's own copy.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OwlProcess, type LogLine } from './owl-cli.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SUPERVISE = join(REPO_ROOT, 'firmware', 'slots', 'supervise.ts');
const EXIT_ROLLED_BACK = 3;

export interface UnitRunnerOptions {
  /** The program's name in logs and its launcher under `current/bin/`, e.g. `owl-relay`. */
  program: string;
  /** The slot root (`/opt/owl/<program>` in production). */
  root: string;
  /** Arguments after the launcher (`run --config …`). */
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** Pause between an exit and the next start (RestartSec=; default 100 ms). */
  restartMs?: number;
  /** How often the watchdog runs `check` (default 1 s; 0: never). */
  watchdogMs?: number;
  /** Most starts before the runner gives up (a test bound, default 20). */
  maxStarts?: number;
  /**
   * The supervisor, as an executable taking `<command> <root>` (a package's `supervisor/run`);
   * default the repository's firmware/slots/supervise.ts.
   */
  supervisor?: string;
}

/** One start: what prestart said and how the process ended. */
export interface UnitStart {
  /** prestart's last line, e.g. `owl-slots: starting 2.0.0 from slot b (trial start 1 of 2)`. */
  prestart: string;
  /** The version prestart started. */
  version: string;
  proc: OwlProcess;
  at: number;
  exit?: string;
}

export class UnitRunner {
  readonly starts: UnitStart[] = [];
  /** Called as each process is spawned (a test may SIGKILL it right there, before it can do anything). */
  onSpawn: ((start: UnitStart) => void) | undefined;
  /** Every line prestart and the watchdog printed. */
  readonly supervisorLines: string[] = [];
  private stopped = false;
  private watchdog: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private checking = false;
  private restartRequested = false;

  constructor(readonly options: UnitRunnerOptions) {}

  /** Starts the unit; resolves once the first process was spawned (or prestart failed). */
  async start(): Promise<void> {
    this.stopped = false;
    await this.launch();
    const every = this.options.watchdogMs ?? 1000;
    if (every > 0) this.watchdog = setInterval(() => this.watch(), every);
  }

  /** The process running now (the last one started). */
  get current(): UnitStart {
    const last = this.starts.at(-1);
    if (last === undefined) throw new Error(`${this.options.program} never started`);
    return last;
  }

  /** Wait for a start at index >= `from` whose version is `version`; returns it. */
  async waitStart(version: string, ms: number, from = 0): Promise<UnitStart> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.starts.slice(from).find((s) => s.version === version);
      if (found !== undefined) return found;
      if (Date.now() > deadline) {
        throw new Error(
          `${this.options.program} ${version} not started within ${ms} ms; starts: ` +
            this.starts.map((s) => `${s.version} (${s.exit ?? 'running'})`).join(', ') +
            `; supervisor: ${this.supervisorLines.slice(-5).join(' | ')}; stderr: ${this.current.proc.stderrTail.slice(-800)}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Wait for a log line of any start from `fromStart` on. */
  async waitLog(match: (l: LogLine) => boolean, what: string, ms: number, fromStart = 0): Promise<LogLine> {
    const deadline = Date.now() + ms;
    for (;;) {
      for (const s of this.starts.slice(fromStart)) {
        const line = s.proc.log.find(match);
        if (line !== undefined) return line;
      }
      if (Date.now() > deadline) throw new Error(`${what} not logged within ${ms} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** What a failed test logs: the supervisor's lines, then each start with its last `lines` log lines. */
  history(lines = 30): string {
    const starts = this.starts.map(
      (s) =>
        `--- start ${s.version} (${s.exit ?? 'running'}): ${s.prestart}\n` +
        s.proc.log
          .slice(-lines)
          .map((l) => JSON.stringify(l))
          .join('\n') +
        `\n${s.proc.stderrTail.slice(-1500)}`,
    );
    return [`supervisor: ${this.supervisorLines.join('\n')}`, ...starts].join('\n');
  }

  /** Stop the unit: no more restarts; the running process gets SIGKILL (kill9) or SIGTERM. */
  async stop(kill9 = false): Promise<void> {
    this.stopped = true;
    clearInterval(this.watchdog);
    clearTimeout(this.restartTimer);
    const last = this.starts.at(-1);
    if (last === undefined) return;
    if (kill9) await last.proc.kill();
    else await last.proc.stop();
  }

  /** `node supervise.ts <command> <root>` (not blocking this process): its exit code; its lines are kept. */
  supervise(command: 'prestart' | 'check' | 'pending'): Promise<{ code: number; lines: string[] }> {
    const [file, args] =
      this.options.supervisor === undefined
        ? [process.execPath, ['--import', 'tsx', SUPERVISE, command, this.options.root]]
        : [this.options.supervisor, [command, this.options.root]];
    return new Promise((resolve) => {
      execFile(file, args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
        const lines = `${stdout}${stderr}`.split('\n').filter((l) => l !== '');
        this.supervisorLines.push(...lines);
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, lines });
      });
    });
  }

  private async launch(): Promise<void> {
    if (this.stopped) return;
    if (this.starts.length >= (this.options.maxStarts ?? 20)) {
      this.supervisorLines.push(`unit-runner: gave up after ${this.starts.length} starts`);
      return;
    }
    const pre = await this.supervise('prestart');
    if (this.stopped) return;
    if (pre.code !== 0) {
      this.supervisorLines.push(`unit-runner: prestart failed (exit ${pre.code}); the unit fails`);
      return;
    }
    const line = pre.lines.at(-1) ?? '';
    const version = /starting (\S+) from slot/.exec(line)?.[1] ?? '?';
    const launcher = join(this.options.root, 'current', 'bin', this.options.program);
    const proc = OwlProcess.spawn(
      this.options.program,
      launcher,
      this.options.args,
      REPO_ROOT,
      this.options.env,
    );
    const start: UnitStart = { prestart: line, version, proc, at: Date.now() };
    this.starts.push(start);
    this.onSpawn?.(start);
    proc.proc.once('exit', (code, signal) => {
      start.exit = signal !== null ? `signal ${signal}` : `code ${String(code)}`;
      this.afterExit(code);
    });
  }

  private afterExit(code: number | null): void {
    if (this.stopped) return;
    // The watchdog's `systemctl try-restart`: a restart whatever the exit.
    const forced = this.restartRequested;
    this.restartRequested = false;
    if (!forced && code === 0) return;
    if (forced) {
      this.restartTimer = setTimeout(() => void this.launch(), this.options.restartMs ?? 100);
      return;
    }
    void (async () => {
      if (code === 2 && (await this.supervise('pending')).code !== 0) return;
      this.restartTimer = setTimeout(() => void this.launch(), this.options.restartMs ?? 100);
    })();
  }

  private watch(): void {
    const last = this.starts.at(-1);
    if (this.stopped || this.checking || last === undefined || last.exit !== undefined) return;
    this.checking = true;
    void this.supervise('check').then((r) => {
      this.checking = false;
      if (r.code !== EXIT_ROLLED_BACK || last.exit !== undefined) return;
      this.restartRequested = true;
      void last.proc.stop();
    });
  }
}
