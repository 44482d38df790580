import test from 'ava';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runPlugin } from '../../agent/plugins/index.js';
import { resolvePluginPath } from '../../agent/plugins/index.js';
import { PluginDir, pollUntil, processAlive, TCP_STATE_PY } from '../fixtures/agent-plugins/plugin-dir.js';

let dir: PluginDir;
test.before(async () => {
  dir = await PluginDir.create();
});
test.after.always(async () => {
  await dir.remove();
});

/** The pid a plugin wrote to `file`, waited for with a deadline. */
async function pidFrom(file: string): Promise<number> {
  let pid = Number.NaN;
  await pollUntil(() => {
    try {
      pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
    } catch {
      return false;
    }
    return Number.isInteger(pid) && pid > 0;
  });
  return pid;
}

test('a Python plugin printing the v3 TCP-state JSON', async (t) => {
  await dir.add('tcp_state.py', TCP_STATE_PY);
  const r = await runPlugin({ pluginDir: dir.path, plugin: 'tcp_state.py', timeoutMs: 10_000 });
  t.true(r.ok, JSON.stringify(r));
  t.is(r.exitCode, 0);
  t.false(r.timedOut);
  t.is(JSON.parse(r.stdout).TCP_ESTABLISHED, 97);
});

test('stderr is kept apart from stdout and capped to its tail', async (t) => {
  await dir.add(
    'noisy.sh',
    `#!/bin/sh
i=0; while [ $i -lt 300 ]; do echo "warning line $i" >&2; i=$((i+1)); done
echo '{"a": 1}'
echo 'DeprecationWarning: last words' >&2
`,
  );
  const r = await runPlugin({ pluginDir: dir.path, plugin: 'noisy.sh', timeoutMs: 10_000 });
  t.true(r.ok);
  t.is(r.stdout, '{"a": 1}\n');
  t.true(r.stderrSnippet.endsWith('DeprecationWarning: last words'));
  t.true(Buffer.byteLength(r.stderrSnippet) <= 4096);
  t.false(r.stderrSnippet.includes('warning line 0\n'));
});

test('args with quotes reach the plugin exactly, with no shell', async (t) => {
  await dir.add('argv.py', '#!/usr/bin/env python3\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n');
  const args = ['-a', 'x y', 'q"z', '$HOME', '*', "it's", '', 'a;b'];
  const r = await runPlugin({ pluginDir: dir.path, plugin: 'argv.py', args, timeoutMs: 10_000 });
  t.true(r.ok, r.stderrSnippet);
  t.deepEqual(JSON.parse(r.stdout), args);
});

test('a plugin whose grandchild hangs holding stdout: the whole group is killed at the deadline', async (t) => {
  await dir.add(
    'hang.sh',
    `#!/bin/sh
sleep 1000 &
echo $! > "$1"
wait
`,
  );
  const pidFile = join(dir.path, 'hang.pid');
  const r = await runPlugin({ pluginDir: dir.path, plugin: 'hang.sh', args: [pidFile], timeoutMs: 1500 });
  t.true(r.timedOut);
  t.false(r.ok);
  t.true(r.durationMs >= 1450 && r.durationMs < 5000, `took ${r.durationMs} ms`);
  const grandchild = await pidFrom(pidFile);
  t.true(await pollUntil(() => !processAlive(grandchild)), `grandchild ${grandchild} still alive`);
});

test('a plugin that exits but leaves a grandchild on stdout ends at the deadline, grandchild killed', async (t) => {
  await dir.add(
    'leak.sh',
    `#!/bin/sh
sleep 1000 &
echo $! > "$1"
echo '{"a": 1}'
`,
  );
  const pidFile = join(dir.path, 'leak.pid');
  const r = await runPlugin({ pluginDir: dir.path, plugin: 'leak.sh', args: [pidFile], timeoutMs: 1500 });
  t.true(r.timedOut);
  t.is(r.exitCode, 0);
  t.is(r.stdout, '{"a": 1}\n');
  const grandchild = await pidFrom(pidFile);
  t.true(await pollUntil(() => !processAlive(grandchild)));
});

test('a background process left by a finished run is killed with its group', async (t) => {
  await dir.add(
    'daemonish.sh',
    `#!/bin/sh
sleep 1000 >/dev/null 2>&1 &
echo $! > "$1"
echo '{}'
`,
  );
  const pidFile = join(dir.path, 'daemonish.pid');
  const r = await runPlugin({
    pluginDir: dir.path,
    plugin: 'daemonish.sh',
    args: [pidFile],
    timeoutMs: 10_000,
  });
  t.true(r.ok);
  t.true(r.durationMs < 5000);
  const leftover = Number.parseInt(await readFile(pidFile, 'utf8'), 10);
  t.true(await pollUntil(() => !processAlive(leftover)));
});

test('output over the cap: the group is killed and the run fails with output too large', async (t) => {
  await dir.add(
    'huge.py',
    '#!/usr/bin/env python3\nimport sys\nwhile True:\n    sys.stdout.write("x" * 65536)\n',
  );
  const r = await runPlugin({
    pluginDir: dir.path,
    plugin: 'huge.py',
    timeoutMs: 10_000,
    maxStdoutBytes: 256 * 1024,
  });
  t.false(r.ok);
  t.false(r.timedOut);
  t.is(r.error, 'output too large');
  t.true(r.stdout.length <= 256 * 1024);
  t.true(r.durationMs < 5000);
});

test('a non-zero exit is reported with its code', async (t) => {
  await dir.add('fail.sh', '#!/bin/sh\necho oops >&2\nexit 3\n');
  const r = await runPlugin({ pluginDir: dir.path, plugin: 'fail.sh', timeoutMs: 10_000 });
  t.false(r.ok);
  t.is(r.exitCode, 3);
  t.is(r.stderrSnippet, 'oops');
});

test('aborting kills the group and ends the run as stopped', async (t) => {
  await dir.add('slow.sh', '#!/bin/sh\nsleep 1000\n');
  const ac = new AbortController();
  const run = runPlugin({ pluginDir: dir.path, plugin: 'slow.sh', timeoutMs: 60_000, signal: ac.signal });
  setImmediate(() => ac.abort());
  const r = await run;
  t.is(r.error, 'stopped');
  t.false(r.ok);
});

test('plugin paths: absolute, .. and symlinks out of the directory are refused', async (t) => {
  const outside = await PluginDir.create();
  try {
    await outside.add('evil.sh', '#!/bin/sh\necho \'{"pwned":1}\'\n');
    await symlink(join(outside.path, 'evil.sh'), join(dir.path, 'link-out.sh'));
    await symlink(outside.path, join(dir.path, 'dir-out'));
    await dir.add('ok.sh', '#!/bin/sh\necho {}\n');
    await symlink('ok.sh', join(dir.path, 'link-in.sh'));
    await writeFile(join(dir.path, 'not-exec.sh'), '#!/bin/sh\n');
    await mkdir(join(dir.path, 'sub'), { recursive: true });
    for (const [plugin, message] of [
      ['/bin/true', /inside the plugin directory/],
      [join(outside.path, 'evil.sh'), /inside the plugin directory/],
      ['../evil.sh', /'\.\.'/],
      ['sub/../../evil.sh', /'\.\.'/],
      ['link-out.sh', /outside the plugin directory/],
      ['dir-out/evil.sh', /outside the plugin directory/],
      ['missing.sh', /not found/],
      ['not-exec.sh', /not executable/],
      ['sub', /not a regular file/],
      ['', /invalid/],
    ] as const) {
      await t.throwsAsync(resolvePluginPath(dir.path, plugin), { message }, plugin);
      const r = await runPlugin({ pluginDir: dir.path, plugin, timeoutMs: 1000 });
      t.false(r.ok, plugin);
      t.regex(r.error ?? '', message, plugin);
      t.is(r.stdout, '');
    }
    const r = await runPlugin({ pluginDir: dir.path, plugin: 'link-in.sh', timeoutMs: 10_000 });
    t.true(r.ok, 'a symlink that stays inside is fine');
  } finally {
    await outside.remove();
  }
});
