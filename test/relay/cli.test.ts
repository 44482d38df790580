/** `owl-relay run` and `owl-relay status` as a user runs them: real child processes. */
import test from 'ava';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { fetchStatus } from '../../relay/index.js';
import { eventually } from '../helpers/agent-client.js';
import { RELAY_ID, RELAY_TOKEN, tempDir } from '../helpers/relay-harness.js';

const CLI = fileURLToPath(new URL('../../relay/cli.ts', import.meta.url));
const run = promisify(execFile);

test('owl-relay run starts on given flags; owl-relay status reports spool, uplink and agents', async (t) => {
  const dir = tempDir();
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      CLI,
      'run',
      '--state-dir',
      dir.path,
      '--relay-id',
      RELAY_ID,
      '--token',
      RELAY_TOKEN,
      '--listen',
      '127.0.0.1:0',
      '--metrics',
      '127.0.0.1:0',
      '--upstream',
      'ws://127.0.0.1:9/owl/v1/uplink',
      '--log-level',
      'silent',
    ],
    { stdio: 'ignore' },
  );
  t.teardown(() => {
    child.kill('SIGKILL');
    dir.remove();
  });
  await eventually(
    () =>
      fetchStatus(dir.path).then(
        () => true,
        () => false,
      ),
    // A tsx start on a busy machine (tests side by side) can take tens of seconds.
    60_000,
    'relay answering',
  );
  const { stdout } = await run(process.execPath, ['--import', 'tsx', CLI, 'status', '--state-dir', dir.path]);
  t.regex(stdout, /uplink: +(connecting|disconnected)/);
  t.regex(stdout, /spool: +0 samples in 0 records/);
  t.regex(stdout, /agents: +0 connected/);
  const json = await run(process.execPath, [
    '--import',
    'tsx',
    CLI,
    'status',
    '--json',
    '--state-dir',
    dir.path,
  ]);
  t.is((JSON.parse(json.stdout) as { agents: { connected: number } }).agents.connected, 0);
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.is(code, 0, 'SIGTERM stops the relay cleanly');
});

test('owl-relay status says so when no relay runs', async (t) => {
  const dir = tempDir();
  t.teardown(() => dir.remove());
  const err = await t.throwsAsync(
    run(process.execPath, ['--import', 'tsx', CLI, 'status', '--state-dir', dir.path]),
  );
  t.regex(String((err as unknown as { stderr: string }).stderr), /no relay answers/);
});

test('an invalid config is refused with one line naming the field, exit code 2', async (t) => {
  const dir = tempDir();
  t.teardown(() => dir.remove());
  const err = await t.throwsAsync(
    run(process.execPath, [
      '--import',
      'tsx',
      CLI,
      'run',
      '--state-dir',
      dir.path,
      '--relay-id',
      RELAY_ID,
      '--token',
      RELAY_TOKEN,
      '--upstream',
      'http://x',
      '--metrics',
      '127.0.0.1:0',
      '--log-level',
      'silent',
    ]),
  );
  const failed = err as unknown as { stderr: string; code: number };
  t.is(failed.code, 2);
  t.is(
    failed.stderr,
    'owl-relay: command line: upstreams[0]: must be a string matching ^wss?://, not "http://x"\n',
  );
});
