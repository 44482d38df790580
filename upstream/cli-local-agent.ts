/**
 * The owl-agent of `owl-upstream local`: the real program (agent/cli), as a child process as on
 * any host, found next to this file so it runs from dist/ (`cli.js`) and under tsx (`cli.ts`).
 * Its log (JSON lines on its stdout, errors on its stderr) goes whole lines at a time to `log`:
 * this process's stderr, above the live line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

export interface LocalAgentOptions {
  relay: string;
  stateDir: string;
  collectInterval: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Where its output goes, whole lines at a time. */
  log: (lines: string) => void;
}

/** How long the agent may take to stop (it flushes its buffer) before it is killed. */
const STOP_MS = 10_000;

export class LocalAgent {
  private exited = false;
  private stopping = false;
  private readonly exit: Promise<void>;

  private constructor(private readonly proc: ChildProcess) {
    this.exit = once(proc, 'exit').then(([code, signal]) => {
      this.exited = true;
      // Code 0 is a stop it was asked for: Ctrl-C at a terminal reaches the whole process group.
      if (!this.stopping && code !== 0) {
        const how = signal === null ? `code ${String(code)}` : `signal ${String(signal)}`;
        process.stderr.write(`\nowl-agent exited (${how}); the upstream and the relay keep running\n`);
      }
    });
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  /**
   * `owl-agent run` with its state (and an empty plugin dir) under `stateDir`, and a config file
   * there: never /etc/owl/agent.json, which belongs to a real agent on this host.
   */
  static start(o: LocalAgentOptions): LocalAgent {
    const pluginDir = join(o.stateDir, 'plugins');
    mkdirSync(pluginDir, { recursive: true });
    const config = join(o.stateDir, 'agent.json');
    if (!existsSync(config)) writeFileSync(config, '{}\n');
    const here = fileURLToPath(import.meta.url);
    const ext = extname(here);
    const cli = join(here, '..', '..', 'agent', `cli${ext}`);
    // Under tsx the agent's .ts needs tsx too; resolved here, not from the caller's directory.
    const node = ext === '.ts' ? ['--import', import.meta.resolve('tsx')] : [];
    const args = [
      ...[cli, 'run', '--config', config, '--relay', o.relay, '--state-dir', o.stateDir],
      ...['--plugin-dir', pluginDir, '--collect-interval', String(o.collectInterval)],
      ...['--log-level', o.logLevel],
      // A SIGKILLed `local` cannot stop its child: the agent then stops by itself.
      ...['--parent-pid', String(process.pid)],
    ];
    const proc = spawn(process.execPath, [...node, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    forwardLines(proc.stdout, o.log);
    forwardLines(proc.stderr, o.log);
    return new LocalAgent(proc);
  }

  /** SIGTERM, wait for the exit; SIGKILL after STOP_MS. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.exited) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), STOP_MS);
    await this.exit;
    clearTimeout(timer);
  }
}

/** Pass `stream`'s complete lines to `log`, a read's worth at a time. */
function forwardLines(stream: Readable | null, log: (lines: string) => void): void {
  let partial = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    const text = partial + chunk;
    const end = text.lastIndexOf('\n') + 1;
    partial = text.slice(end);
    if (end > 0) log(text.slice(0, end));
  });
  stream?.on('end', () => {
    if (partial !== '') log(`${partial}\n`);
  });
}
