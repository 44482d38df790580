/**
 * The built packages under test: found in the directory OWL_PACKAGE_DIR names (packaging/build.sh's
 * output), extracted with `dpkg-deb -x` into scratch roots, and their programs started from there
 * with the Node they bundle, as the unit would start them but with loopback listeners on free
 * ports and temp state dirs. Without OWL_PACKAGE_DIR the packaging tests are skipped.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LogLine } from '../helpers/owl-cli.js';
import { WatchedProcess } from '../helpers/watched-process.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const PACKAGE_DIR = process.env['OWL_PACKAGE_DIR'];
export const SKIP_REASON =
  'OWL_PACKAGE_DIR unset: no built packages to check (packaging/build.sh, docs/packaging.md)';
export const PROGRAMS = ['relay', 'upstream', 'agent'] as const;
export type Program = (typeof PROGRAMS)[number];
export type Arch = 'amd64' | 'arm64';

/** The .deb of `program` for `arch` in `dir` (OWL_PACKAGE_DIR), or undefined if that one was not built. */
export function debOf(program: Program, arch: Arch, dir = PACKAGE_DIR): string | undefined {
  if (dir === undefined) return undefined;
  const name = readdirSync(dir).find((f) => f.startsWith(`owl-${program}_`) && f.endsWith(`_${arch}.deb`));
  return name === undefined ? undefined : join(dir, name);
}

/** Every .deb in `dir` (OWL_PACKAGE_DIR). */
export function allDebs(dir = PACKAGE_DIR): string[] {
  if (dir === undefined) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.deb'))
    .sort()
    .map((f) => join(dir, f));
}

/** `dpkg-deb -x` into `root`. */
export function extract(deb: string, root: string): void {
  execFileSync('dpkg-deb', ['-x', deb, root]);
}

/** A control field of a .deb. */
export function controlField(deb: string, field: string): string {
  return execFileSync('dpkg-deb', ['-f', deb, field], { encoding: 'utf8' }).trim();
}

const running = new Set<PackagedProcess>();
process.on('exit', () => {
  for (const p of running) if (!p.exited) p.proc.kill('SIGKILL');
});

/** A program of an extracted package: its pino JSON lines parsed, killed when this process exits. */
export class PackagedProcess extends WatchedProcess {
  readonly log: LogLine[] = [];

  private constructor(name: string, proc: ChildProcess) {
    super(name, proc);
    running.add(this);
    void this.exit.then(() => running.delete(this));
  }

  /** `command args` with `env` added (cwd: the scratch root, never the repository). */
  static start(
    name: string,
    command: string,
    args: string[],
    cwd: string,
    env: NodeJS.ProcessEnv = {},
  ): PackagedProcess {
    const proc = spawn(command, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return new PackagedProcess(name, proc);
  }

  protected takeLines(lines: string[]): void {
    for (const line of lines) {
      if (line === '') continue;
      try {
        this.log.push(JSON.parse(line) as LogLine);
      } catch {
        this.log.push({ msg: line });
      }
    }
  }

  /** The first log line `match` accepts, within `ms`. */
  waitLog(match: (line: LogLine) => boolean, what: string, ms = 30_000): Promise<LogLine> {
    return this.waitFor(() => this.log.find(match), what, ms);
  }

  async stop(ms = 20_000): Promise<void> {
    await this.stopBy(() => this.proc.kill('SIGTERM'), ms);
  }
}

/** The port of a listener address in a start line. */
export function portOf(address: unknown, what: string): number {
  const port = (address as { port?: unknown } | undefined)?.port;
  if (typeof port !== 'number') throw new Error(`no port for ${what} in the start line`);
  return port;
}

/** The launcher of an extracted program (`<root>/opt/owl/<program>/bin/owl-<program>`). */
export function launcher(root: string, program: Program): string {
  const path = join(root, 'opt', 'owl', program, 'bin', `owl-${program}`);
  if (!existsSync(path)) throw new Error(`no ${path} in the extracted package`);
  return path;
}
