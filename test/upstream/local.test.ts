/**
 * `owl-upstream local` (what `npm start` runs), as a newcomer uses it: every port 0, the printed
 * addresses, the live line counting this host's samples from the real owl-agent, the README's
 * "send your first sample" commands (their ports and paths put in) finding their sample, and
 * Ctrl-C (SIGINT) stopping all three with exit code 0.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
// eslint-disable-next-line no-restricted-imports -- the CLI's live line, which upstream/index.ts does not export
import { LiveLine } from '../../upstream/cli-local-line.js';
import { eventually } from '../helpers/agent-client.js';
import { OwlProcess } from '../helpers/owl-cli.js';
import { tempDir } from '../helpers/relay-harness.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

/** The README's first-sample block: the shell lines after "Send your first sample". */
function readmeFirstSample(): string {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf('Send your first sample');
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
  if (at < 0 || block === null) throw new Error('README.md: no "Send your first sample" sh block');
  return block[1] as string;
}

/** Running, not a zombie (an orphan's exit is reaped by whoever adopted it, maybe late). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

interface Series {
  metric: string;
  tags: Record<string, string>;
  values: number[];
}

/** `owl-upstream local` on a temp state dir, every port 0 (free), plus `args`. */
function startLocal(
  t: ExecutionContext,
  args: string[],
): { dir: ReturnType<typeof tempDir>; local: OwlProcess } {
  const dir = tempDir('owl-local-');
  t.teardown(dir.remove);
  const ports = ['--agent-port', '--uplink-port', '--direct-port', '--api-port'];
  const metrics = ['--relay-metrics-port', '--metrics-port'];
  const local = OwlProcess.start('upstream', [
    'local',
    '--state-dir',
    dir.path,
    ...[...ports, ...metrics].flatMap((flag) => [flag, '0']),
    ...args,
  ]);
  t.teardown(() => local.kill());
  return { dir, local };
}

test('owl-upstream local: addresses, live line, the README sample found, SIGINT stops all three', async (t) => {
  const { dir, local } = startLocal(t, ['--collect-interval', '1']);
  const field = async (name: string): Promise<string> => {
    const line = await local.waitLog((l) => String(l.msg).startsWith(`  ${name} `), `"${name}" line`);
    return String(line.msg)
      .slice(name.length + 2)
      .trim();
  };
  const dashboard = await field('dashboard');
  t.regex(dashboard, /^http:\/\/127\.0\.0\.1:\d+\/ /);
  const apiPort = Number(/:(\d+)\//.exec(dashboard)?.[1]);
  t.not(apiPort, 7090, 'port 0 picked a free port');
  t.is(await field('API token'), join(dir.path, 'upstream', 'api-token'));
  const agentPort = Number(/^127\.0\.0\.1:(\d+) /.exec(await field('agents'))?.[1]);
  t.true(agentPort > 0);
  const agentPid = Number(/^pid (\d+),/.exec(await field('owl-agent'))?.[1]);
  t.true(alive(agentPid), 'the owl-agent runs');
  const query = (await field('query')).split(' ');

  // The agent's collectors (every 1 s here) reach the store through the relay.
  await local.waitLog(
    (l) => Number(/^samples stored (\d+) \|/.exec(String(l.msg))?.[1] ?? 0) > 0,
    'a live line with samples stored > 0',
    60_000,
  );
  const printed = await run(query[0] === 'node' ? process.execPath : (query[0] as string), query.slice(1), {
    cwd: REPO_ROOT,
  });
  const load = JSON.parse(printed.stdout) as Series[];
  t.true(
    load.some((s) => s.metric === 'load.load1' && s.values.length > 0),
    printed.stdout,
  );

  // The README's commands, on this run's port, state dir and API, under tsx instead of dist/.
  const script = readmeFirstSample()
    .replaceAll('7070', String(agentPort))
    .replaceAll('node dist/upstream/cli.js', `node --import tsx upstream/cli.ts`)
    .replaceAll('.owl/upstream', `${join(dir.path, 'upstream')} --api 127.0.0.1:${apiPort}`);
  const env = { ...process.env, PATH: `${join(process.execPath, '..')}:${process.env.PATH ?? ''}` };
  let found: Series[] = [];
  // The sample travels relay → upstream while the query starts: asked again until it is there.
  await eventually(
    async () => {
      found = JSON.parse((await run('sh', ['-c', script], { cwd: REPO_ROOT, env })).stdout) as Series[];
      return found.some((s) => s.metric === 'hello.world' && s.values.includes(42));
    },
    20_000,
    'the README sample in its query',
    500,
  );
  t.is(found[0]?.tags['zone'], 'local');

  local.proc.kill('SIGINT');
  await local.waitExit(30_000);
  t.is(local.describeExit(), 'code 0', local.stderrTail);
  t.false(alive(agentPid), 'the owl-agent stopped with it');
  t.truthy(local.log.find((l) => l.msg === 'OWL stopped.'));
});

test('owl-upstream local killed with SIGKILL: its owl-agent stops by itself', async (t) => {
  // Nothing to log: a dead parent's closed pipe alone would not stop the agent.
  const { local } = startLocal(t, ['--log-level', 'error']);
  const line = await local.waitLog((l) => String(l.msg).startsWith('  owl-agent '), '"owl-agent" line');
  const agentPid = Number(/pid (\d+),/.exec(String(line.msg))?.[1]);
  t.teardown(() => {
    if (alive(agentPid)) process.kill(agentPid, 'SIGKILL');
  });
  t.true(alive(agentPid), 'the owl-agent runs');
  local.proc.kill('SIGKILL');
  await local.waitExit(10_000);
  await eventually(() => !alive(agentPid), 15_000, 'the orphaned owl-agent stopped');
  t.false(alive(agentPid));
});

/** What a LiveLine wrote, as one string per stream. */
function sink(isTTY: boolean): { text: string; isTTY: boolean; write: (t: string) => void } {
  const out = { text: '', isTTY, write: (t: string) => void (out.text += t) };
  return out;
}

test('live line on a terminal: rewritten in place, log lines above it', (t) => {
  const out = sink(true);
  const err = sink(true);
  const line = new LiveLine(out, err, () => 0);
  line.show('samples stored 1');
  line.show('samples stored 2');
  line.interject('{"level":40}\n');
  line.end();
  t.is(out.text, '\r\x1b[Ksamples stored 1\r\x1b[Ksamples stored 2\r\x1b[Ksamples stored 2\n');
  t.is(err.text, '{"level":40}\n');
});

test('live line into a pipe: one line per change, at most every 10 s', (t) => {
  let now = 0;
  const out = sink(false);
  const line = new LiveLine(out, sink(false), () => now);
  line.show('a');
  now = 5_000;
  line.show('b'); // too soon
  now = 10_000;
  line.show('a'); // no change since the last printed
  now = 12_000;
  line.show('c');
  line.end();
  t.is(out.text, 'a\nc\n');
});
