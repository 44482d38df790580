/** `owl-relay run` and `owl-relay status` as a user runs them: real child processes. */
import test from 'ava';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { fetchStatus } from '../../relay/index.js';
import { eventually } from '../helpers/agent-client.js';
import { tempDir } from '../helpers/relay-harness.js';

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
    20_000,
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

test('an invalid config is refused with a coded error naming the field', async (t) => {
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
      '--upstream',
      'http://x',
      '--log-level',
      'silent',
    ]),
  );
  t.regex(String((err as unknown as { stderr: string }).stderr), /OWL_ERR_CONFIG_INVALID|upstreams/);
});
