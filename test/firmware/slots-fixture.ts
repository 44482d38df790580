/**
 * Test programs for the slot tests, and a small stand-in for systemd: prestart (the real
 * `supervise.ts` executable) before each start, then `current/bin/start.js`, restarted while it
 * exits before it is healthy, as `Restart=on-failure` would.
 *
 * A program is a tiny CommonJS script. Once started it writes `<status file>`:
 * `{version, slot, pid, healthy}`, then keeps running; 'bad' exits with an error at once,
 * 'silent' runs but never reports healthy.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually } from '../helpers/agent-client.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SUPERVISE = join(REPO_ROOT, 'firmware/slots/supervise.ts');
export const SLOTS_CHILD = join(REPO_ROOT, 'test/firmware/slots-child.ts');

export type Behaviour = 'good' | 'bad' | 'silent';

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** Writes a staged package tree of `version` under `dir` and returns its path. */
export function stageProgram(dir: string, version: string, behaviour: Behaviour): string {
  const tree = join(dir, `staged-${version}`);
  mkdirSync(join(tree, 'bin'), { recursive: true });
  mkdirSync(join(tree, 'lib'), { recursive: true });
  writeFileSync(join(tree, 'lib', 'data.txt'), `data of ${version}\n`);
  const script = `'use strict';
const fs = require('node:fs');
const path = require('node:path');
const slotDir = path.dirname(__dirname);
const status = process.argv[2];
if (${JSON.stringify(behaviour)} === 'bad') {
  console.error('${version}: cannot start');
  process.exit(1);
}
const healthy = ${JSON.stringify(behaviour)} === 'good';
// The data file is read from the slot, as a real program reads its modules.
const data = fs.readFileSync(path.join(slotDir, 'lib', 'data.txt'), 'utf8').trim();
const body = { version: ${JSON.stringify(version)}, slot: path.basename(slotDir), pid: process.pid, healthy, data };
fs.writeFileSync(status + '.tmp', JSON.stringify(body));
fs.renameSync(status + '.tmp', status);
setInterval(() => {}, 1 << 30);
`;
  writeFileSync(join(tree, 'bin', 'start.js'), script, { mode: 0o755 });
  return tree;
}

/** sha256 over every file's relative path and content: a tree left untouched keeps its hash. */
export function treeHash(dir: string): string {
  const hash = createHash('sha256');
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      hash.update(relative(dir, p));
      if (statSync(p).isDirectory()) walk(p);
      else hash.update(readFileSync(p));
    }
  };
  walk(dir);
  return hash.digest('hex');
}

export interface Exited {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a node process to its end. */
export function runNode(args: readonly string[], timeoutMs = 20_000): Promise<Exited> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(proc);
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`node ${args.join(' ')} did not end within ${timeoutMs} ms`));
    }, timeoutMs);
    proc.on('error', reject);
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(proc);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The supervisor's executable, as the unit runs it. */
export function supervise(command: 'prestart' | 'check' | 'pending', root: string): Promise<Exited> {
  return runNode(['--import', 'tsx', SUPERVISE, command, root]);
}

export interface ProgramStatus {
  version: string;
  slot: string;
  pid: number;
  healthy: boolean;
  data: string;
}

export interface Running {
  proc: ChildProcess;
  status: ProgramStatus;
  stop: () => Promise<void>;
}

export interface ServiceRun {
  /** The program that stayed up (healthy or not). */
  running: Running;
  /** The supervisor's lines, one entry per prestart. */
  prestarts: string[];
  /** Versions that exited at start, in order. */
  exits: string[];
}

let statusSeq = 0;

/** One start: prestart (must succeed), then the program; ends when it wrote its status or exited. */
async function startOnce(
  root: string,
  dir: string,
): Promise<{ running?: Running; exited?: string; pre: string }> {
  const pre = await supervise('prestart', root);
  if (pre.code !== 0) throw new Error(`prestart failed (${pre.code}): ${pre.stderr}`);
  const status = join(dir, `status-${process.pid}-${statusSeq++}.json`);
  const program = join(root, 'current', 'bin', 'start.js');
  const version = JSON.parse(readFileSync(join(root, 'current', '.owl-slot.json'), 'utf8')).version as string;
  const proc = spawn(process.execPath, [program, status], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(proc);
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  await eventually(() => existsSync(status) || proc.exitCode !== null, 10_000, `${version} to start or exit`);
  if (!existsSync(status)) {
    children.delete(proc);
    return { exited: version, pre: pre.stdout };
  }
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    await exited;
    children.delete(proc);
  };
  const body = JSON.parse(readFileSync(status, 'utf8')) as ProgramStatus;
  return { running: { proc, status: body, stop }, pre: pre.stdout };
}

/** Starts the service as systemd would with Restart=on-failure, at most `maxStarts` times. */
export async function runService(root: string, dir: string, maxStarts = 5): Promise<ServiceRun> {
  const prestarts: string[] = [];
  const exits: string[] = [];
  for (let i = 0; i < maxStarts; i++) {
    const r = await startOnce(root, dir);
    prestarts.push(r.pre);
    if (r.running) return { running: r.running, prestarts, exits };
    exits.push(r.exited ?? '?');
  }
  throw new Error(`the service did not stay up in ${maxStarts} starts: exits ${exits.join(', ')}`);
}
