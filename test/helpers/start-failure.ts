/**
 * A failed start of a real `owl-relay` / `owl-upstream` / `owl-agent` child process, and what
 * test/relay/cli-errors.test.ts and test/upstream/cli-errors.test.ts hold every failed start to:
 * exit code 2, exactly one line on stderr (`owl-<program>: …`) that names the key or file, no
 * stack trace (with --debug: the stack trace after it).
 */
import type { ExecutionContext } from 'ava';
import { createServer, type Server } from 'node:net';
import { once } from 'node:events';
import { OwlProcess } from './owl-cli.js';

export interface Exited {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `owl-<program> <args>` to its exit (within 90 s: a dozen tsx starts at once on a busy machine are slow). */
export async function runToExit(program: 'relay' | 'upstream' | 'agent', args: string[]): Promise<Exited> {
  const proc = OwlProcess.start(program, args);
  await proc.waitExit(90_000);
  return {
    code: proc.exitCode,
    stdout: proc.log.map((l) => String(l.msg)).join('\n'),
    stderr: proc.stderrTail,
  };
}

/** Exit code 2 and one stderr line `owl-<program>: <matching line>`, no stack trace. */
export function assertStartFailed(
  t: ExecutionContext,
  program: 'relay' | 'upstream',
  run: Exited,
  line: RegExp,
  what: string,
): void {
  t.is(run.code, 2, `${what}: exit code (stderr: ${run.stderr})`);
  t.is(run.stderr.split('\n').length, 2, `${what}: exactly one line: ${JSON.stringify(run.stderr)}`);
  t.true(run.stderr.startsWith(`owl-${program}: `), `${what}: ${run.stderr}`);
  t.regex(run.stderr.slice(`owl-${program}: `.length).trimEnd(), line, what);
  t.notRegex(run.stderr, /\n\s+at /, `${what}: no stack trace`);
}

/** With --debug: the same first line, then the stack trace. */
export function assertDebugStack(t: ExecutionContext, run: Exited, line: RegExp): void {
  t.is(run.code, 2, run.stderr);
  const [first, ...rest] = run.stderr.split('\n');
  t.regex(first ?? '', line);
  t.regex(rest.join('\n'), /\n\s+at /, 'a stack trace follows');
}

/** A real listener on 127.0.0.1 holding a port, for "port in use". */
export async function occupyPort(t: ExecutionContext): Promise<number> {
  const server: Server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => void server.close());
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}
