/**
 * A real systemd to run the packages' units under, in a throwaway copy of this machine
 * (packaging/in-overlay-root.sh --systemd): systemd is PID 1 of a new PID namespace, in a network
 * namespace with only loopback, on an overlay root whose writes land in a tmpfs. Commands run
 * inside with nsenter; files go in and out through /proc/<pid>/root. Killing PID 1 ends every
 * process in it, and the tmpfs with it. Needs root and unshare; `available()` says why not.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { eventually } from '../helpers/agent-client.js';
import { REPO_ROOT } from './packages.js';

export interface BoxResult {
  code: number | null;
  out: string;
}

export class SystemdBox {
  private stopped = false;

  private constructor(
    private readonly unshare: ChildProcess,
    /** systemd's pid, as this machine sees it. */
    readonly pid: number,
    private readonly mountPoint: string,
  ) {}

  /** Undefined when a box can be booted here, else why not. */
  static unavailable(): string | undefined {
    if (process.getuid?.() !== 0) return 'needs root';
    if (spawnSync('unshare', ['-m', '-p', '-f', '-n', 'true']).status !== 0)
      return 'needs unshare -m -p -f -n (mount, PID and network namespaces)';
    if (spawnSync('test', ['-x', '/lib/systemd/systemd']).status !== 0) return 'needs systemd installed';
    return undefined;
  }

  /** Boot, and wait until systemd says it is running. */
  static async boot(): Promise<SystemdBox> {
    const mountPoint = mkdtempSync(join(tmpdir(), 'owl-box-'));
    const unshare = spawn(
      'unshare',
      [
        '-m',
        '-p',
        '-f',
        '-n',
        '--kill-child',
        'bash',
        join(REPO_ROOT, 'packaging', 'in-overlay-root.sh'),
        '--systemd',
        mountPoint,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let early = '';
    unshare.stderr.on('data', (d: Buffer) => (early += d.toString()));
    unshare.stdout.on('data', () => undefined);
    let pid = 0;
    await eventually(
      () => {
        if (unshare.exitCode !== null) throw new Error(`the box did not boot: ${early}`);
        const child = spawnSync('pgrep', ['-P', String(unshare.pid)], { encoding: 'utf8' });
        pid = Number(child.stdout.trim().split('\n')[0] ?? 0);
        return pid > 0 && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'systemd';
      },
      20_000,
      'systemd started in the box',
    );
    const box = new SystemdBox(unshare, pid, mountPoint);
    await eventually(
      async () => /^(running|degraded)$/m.test((await box.run('systemctl is-system-running')).out),
      60_000,
      'systemd running in the box',
      200,
    );
    return box;
  }

  /** `bash -c script` inside the box, as root; its exit code and output (stdout and stderr). */
  run(script: string, timeoutMs = 120_000): Promise<BoxResult> {
    const proc = spawn(
      'nsenter',
      ['-t', String(this.pid), '-m', '-p', '-n', '-r', '-w', 'bash', '-c', script],
      { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' },
    );
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    return new Promise((resolve) => proc.on('close', (code) => resolve({ code, out })));
  }

  /** As run, but a non-zero exit throws with the output. */
  async must(script: string, timeoutMs?: number): Promise<string> {
    const r = await this.run(script, timeoutMs);
    if (r.code !== 0) throw new Error(`in the box: ${script}: exit ${r.code}\n${r.out}`);
    return r.out;
  }

  /** This machine's path of `path` in the box. */
  path(path: string): string {
    return `/proc/${this.pid}/root${path}`;
  }

  copyIn(from: string, to: string): void {
    mkdirSync(dirname(this.path(to)), { recursive: true });
    copyFileSync(from, this.path(to));
  }

  write(path: string, text: string): void {
    mkdirSync(dirname(this.path(path)), { recursive: true });
    writeFileSync(this.path(path), text);
  }

  /** Kill PID 1 (and so every process in the box); the overlay's tmpfs goes with its namespace. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.unshare.exitCode === null) {
      const exited = new Promise((resolve) => this.unshare.once('exit', resolve));
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        // gone already
      }
      await exited;
    }
    rmdirSync(this.mountPoint);
  }
}
