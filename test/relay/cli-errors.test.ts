/**
 * Every way `owl-relay run` can fail to start, through the real CLI in a child process: a config
 * file that is not JSON (line and column), an unknown key, a wrong type, a bad flag value, no
 * relay id, no token or a token outside the uplink alphabet, a missing TLS file, a port in use,
 * an unwritable state dir. Each is one line on stderr naming the key or the file, exit code 2; a
 * stack trace only with --debug. And `--version` on all three programs prints package.json's.
 */
import test, { type ExecutionContext } from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OWL_VERSION } from '../../protocol/index.js';
import { AGENT_VERSION } from '../../agent/index.js';
import { RELAY_ID, RELAY_TOKEN, tempDir } from '../helpers/relay-harness.js';
import { assertDebugStack, assertStartFailed, occupyPort, runToExit } from '../helpers/start-failure.js';

const UPSTREAM = 'ws://127.0.0.1:9/owl/v1/uplink';

function setup(t: ExecutionContext): { dir: string; file: (name: string, text: string) => string } {
  const tmp = tempDir('owl-relay-errors-');
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

/** `owl-relay run` on a state dir under `dir`, loopback listeners, plus `args`. */
function relayRun(dir: string, args: string[]): Promise<Awaited<ReturnType<typeof runToExit>>> {
  return runToExit('relay', [
    'run',
    '--state-dir',
    join(dir, 'state'),
    '--listen',
    '127.0.0.1:0',
    '--metrics',
    '127.0.0.1:0',
    '--upstream',
    UPSTREAM,
    '--log-level',
    'silent',
    ...args,
  ]);
}

const ID = ['--relay-id', RELAY_ID, '--token', RELAY_TOKEN];

test('a config file that is not JSON, an unknown key, a wrong type: one line naming the file, the line and column, the key', async (t) => {
  const { dir, file } = setup(t);
  const broken = file('broken.json', '{\n  "relayId": "zone-a"\n  "token": "x"\n}\n');
  const unknown = file('unknown.json', JSON.stringify({ spool: { maxByte: 5 } }));
  const wrong = file('wrong.json', JSON.stringify({ maxConnections: 'many', relayId: 'zone.a' }));
  const [a, b, c, d] = await Promise.all([
    relayRun(dir, ['-c', broken, ...ID]),
    relayRun(dir, ['-c', unknown, ...ID]),
    relayRun(dir, ['-c', wrong, ...ID]),
    relayRun(dir, ['-c', join(dir, 'missing.json'), ...ID]),
  ]);
  assertStartFailed(t, 'relay', a!, /^.*broken\.json: not JSON: .*\(line 3 column 3\)$/, 'bad JSON');
  assertStartFailed(
    t,
    'relay',
    b!,
    /^.*unknown\.json: spool\.maxByte: unknown key \(did you mean maxBytes\?\)$/,
    'unknown key',
  );
  assertStartFailed(
    t,
    'relay',
    c!,
    /^.*wrong\.json: relayId: must be a string matching .*, not "zone\.a"; maxConnections: must be an integer >= 1, not "many"$/,
    'wrong types',
  );
  assertStartFailed(t, 'relay', d!, /^.*missing\.json: cannot read: ENOENT$/, 'missing config file');
});

test('no relay id, no token, a token outside the uplink alphabet, a bad flag: refused, saying how to get a token', async (t) => {
  const { dir } = setup(t);
  const [noId, noToken, badToken, badFlag] = await Promise.all([
    relayRun(dir, ['--token', RELAY_TOKEN]),
    relayRun(dir, ['--relay-id', RELAY_ID]),
    relayRun(dir, ['--relay-id', RELAY_ID, '--token', 'has spaces']),
    relayRun(dir, [...ID, '--upstream', 'http://x']),
  ]);
  assertStartFailed(t, 'relay', noId!, /^relayId: not set;.*owl-upstream relay add <id>/, 'no relay id');
  assertStartFailed(
    t,
    'relay',
    noToken!,
    new RegExp(`^token: not set;.*\`owl-upstream relay add ${RELAY_ID}\``),
    'no token',
  );
  assertStartFailed(
    t,
    'relay',
    badToken!,
    /^token: not an uplink token.*owl-upstream relay add/,
    'bad token',
  );
  assertStartFailed(t, 'relay', badFlag!, /^command line: upstreams\[1\]: must be a string matching/, 'flag');
});

test('a missing TLS file is named by its config key', async (t) => {
  const { dir, file } = setup(t);
  const agentTls = file(
    'agent-tls.json',
    JSON.stringify({ agentTls: { cert: '/x/y.pem', key: '/x/k.pem' } }),
  );
  const uplinkTls = file('uplink-tls.json', JSON.stringify({ uplinkTls: { ca: join(dir, 'no-ca.pem') } }));
  const [a, b] = await Promise.all([
    relayRun(dir, ['-c', agentTls, ...ID]),
    relayRun(dir, ['-c', uplinkTls, ...ID]),
  ]);
  assertStartFailed(t, 'relay', a!, /^agentTls\.cert: cannot read \/x\/y\.pem: ENOENT$/, 'agentTls.cert');
  assertStartFailed(t, 'relay', b!, /^uplinkTls\.ca: cannot read .*no-ca\.pem: ENOENT$/, 'uplinkTls.ca');
});

test('a port in use is named by its listener; an unwritable state dir by stateDir', async (t) => {
  const { dir, file } = setup(t);
  const port = await occupyPort(t);
  // Root may write anywhere: a dir below a regular file fails for root too (ENOTDIR).
  const afile = file('afile', '');
  const [agents, metrics, state] = await Promise.all([
    runToExit('relay', [
      'run',
      '--state-dir',
      join(dir, 'a'),
      ...ID,
      '--listen',
      `127.0.0.1:${port}`,
      '--metrics',
      '127.0.0.1:0',
    ]),
    runToExit('relay', [
      'run',
      '--state-dir',
      join(dir, 'b'),
      ...ID,
      '--listen',
      '127.0.0.1:0',
      '--metrics',
      `127.0.0.1:${port}`,
    ]),
    runToExit('relay', [
      'run',
      '--state-dir',
      join(afile, 'state'),
      ...ID,
      '--listen',
      '127.0.0.1:0',
      '--metrics',
      '127.0.0.1:0',
    ]),
  ]);
  const inUse = `cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE: address already in use\\)`;
  assertStartFailed(t, 'relay', agents!, new RegExp(`^listen\\[0\\]: ${inUse}$`), 'agent port in use');
  assertStartFailed(t, 'relay', metrics!, new RegExp(`^metrics: ${inUse}$`), 'metrics port in use');
  assertStartFailed(t, 'relay', state!, /^stateDir: .*afile\/state.*ENOTDIR/, 'unwritable state dir');
});

test('with --debug a failed start prints the stack trace after its line', async (t) => {
  const { dir } = setup(t);
  const run = await relayRun(dir, ['--relay-id', RELAY_ID, '--debug']);
  assertDebugStack(t, run, /^owl-relay: token: not set/);
});

test('--version on owl-relay, owl-upstream and owl-agent prints the version of package.json', async (t) => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  t.is(OWL_VERSION, pkg.version);
  t.is(AGENT_VERSION, pkg.version);
  const runs = await Promise.all([
    runToExit('relay', ['--version']),
    runToExit('upstream', ['--version']),
    runToExit('agent', ['--version']),
  ]);
  for (const [i, run] of runs.entries()) {
    t.is(run.code, 0, `${['relay', 'upstream', 'agent'][i]}: ${run.stderr}`);
    t.is(run.stdout, pkg.version);
  }
});
