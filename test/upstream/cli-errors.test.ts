/**
 * Every way `owl-upstream run` can fail to start, through the real CLI in a child process: a
 * config file that is not JSON (line and column), an unknown key (`retentionDayz`, once silently
 * taken), a wrong type (`"retentionDays": "seven"`, once breaking retention), a missing TLS file,
 * a port in use, an unwritable state dir, an unknown flag. Each is one line on stderr naming the
 * key or the file, exit code 2; a stack trace only with --debug.
 */
import test, { type ExecutionContext } from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/relay-harness.js';
import {
  assertDebugStack,
  assertStartFailed,
  occupyPort,
  runToExit,
  type Exited,
} from '../helpers/start-failure.js';

function setup(t: ExecutionContext): { dir: string; file: (name: string, text: string) => string } {
  const tmp = tempDir('owl-upstream-errors-');
  t.teardown(() => tmp.remove());
  return {
    dir: tmp.path,
    file: (name, text) => {
      const path = join(tmp.path, name);
      writeFileSync(path, text);
      return path;
    },
  };
}

/** `owl-upstream run`, every listener on 127.0.0.1 (any free port unless `listeners` says), plus `args`. */
function upstreamRun(
  stateDir: string,
  args: string[],
  listeners: Record<string, number> = {},
): Promise<Exited> {
  const at = (flag: string): string[] => [`--${flag}`, `127.0.0.1:${listeners[flag] ?? 0}`];
  return runToExit('upstream', [
    'run',
    '--state-dir',
    stateDir,
    ...at('uplink'),
    ...at('agents'),
    ...at('api'),
    ...at('metrics'),
    '--log-level',
    'silent',
    ...args,
  ]);
}

test('a config file that is not JSON, an unknown key, a wrong type: one line naming the file, the line and column, the key', async (t) => {
  const { dir, file } = setup(t);
  const broken = file('broken.json', '{\n  "retentionDays": 7\n  "storeWorker": true\n}\n');
  const typo = file('typo.json', JSON.stringify({ retentionDayz: 7 }));
  const seven = file('seven.json', JSON.stringify({ retentionDays: 'seven' }));
  const state = join(dir, 'state');
  const [a, b, c, d] = await Promise.all([
    upstreamRun(state, ['-c', broken]),
    upstreamRun(state, ['-c', typo]),
    upstreamRun(state, ['-c', seven]),
    upstreamRun(state, ['--log-level', 'loud']),
  ]);
  assertStartFailed(t, 'upstream', a!, /^.*broken\.json: not JSON: .*\(line 3 column 3\)$/, 'bad JSON');
  assertStartFailed(
    t,
    'upstream',
    b!,
    /^.*typo\.json: retentionDayz: unknown key \(did you mean retentionDays\?\)$/,
    'unknown key',
  );
  assertStartFailed(
    t,
    'upstream',
    c!,
    /^.*seven\.json: retentionDays: must be a number >= 0\.001, not "seven"$/,
    'wrong type',
  );
  assertStartFailed(t, 'upstream', d!, /^command line: logLevel: must be one of .*, not "loud"$/, 'bad flag');
});

test('a missing TLS file is named by its config key; an unknown flag is a usage error, exit 2', async (t) => {
  const { dir, file } = setup(t);
  const tls = file('tls.json', JSON.stringify({ tls: { cert: '/x/y.pem', key: '/x/k.pem' } }));
  const [missing, flag] = await Promise.all([
    upstreamRun(join(dir, 'state'), ['-c', tls]),
    upstreamRun(join(dir, 'state'), ['--bogus']),
  ]);
  assertStartFailed(t, 'upstream', missing!, /^tls\.cert: cannot read \/x\/y\.pem: ENOENT$/, 'tls.cert');
  t.is(flag!.code, 2, flag!.stderr);
  t.regex(flag!.stderr, /^error: unknown option '--bogus'\n$/);
});

test('a port in use is named by its listener; an unwritable state dir by stateDir', async (t) => {
  const { dir, file } = setup(t);
  const port = await occupyPort(t);
  // Root may write anywhere: a dir below a regular file fails for root too (ENOTDIR).
  const afile = file('afile', '');
  const [uplink, api, metrics, agents, state] = await Promise.all([
    upstreamRun(join(dir, 'u1'), [], { uplink: port }),
    upstreamRun(join(dir, 'u2'), [], { api: port }),
    upstreamRun(join(dir, 'u3'), [], { metrics: port }),
    upstreamRun(join(dir, 'u4'), [], { agents: port }),
    upstreamRun(join(afile, 'state'), []),
  ]);
  const inUse = `cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE: address already in use\\)`;
  assertStartFailed(t, 'upstream', uplink!, new RegExp(`^uplink: ${inUse}$`), 'uplink port in use');
  assertStartFailed(t, 'upstream', api!, new RegExp(`^api: ${inUse}$`), 'api port in use');
  assertStartFailed(t, 'upstream', metrics!, new RegExp(`^metrics: ${inUse}$`), 'metrics port in use');
  assertStartFailed(t, 'upstream', agents!, new RegExp(`^agents\\[0\\]: ${inUse}$`), 'agent port in use');
  assertStartFailed(t, 'upstream', state!, /^stateDir: .*ENOTDIR.*afile\/state/, 'unwritable state dir');
});

test('with --debug a failed start prints the stack trace after its line', async (t) => {
  const { dir, file } = setup(t);
  const typo = file('typo.json', JSON.stringify({ retentionDayz: 7 }));
  const run = await upstreamRun(join(dir, 'state'), ['-c', typo, '--debug']);
  assertDebugStack(t, run, /^owl-upstream: .*typo\.json: retentionDayz: unknown key/);
});
