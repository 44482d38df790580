import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BatchSample, Service } from '../../protocol/wire/index.js';
import type { AgentLogger } from '../../agent/index.js';
import { PluginHost, type ServiceStatus } from '../../agent/plugins/index.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { PluginDir, pollUntil, processAlive, TCP_STATE_PY } from '../fixtures/agent-plugins/plugin-dir.js';

type Line = { level: string; obj: Record<string, unknown>; msg: string };

function recordingLogger(): AgentLogger & { lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: string) => (obj: object, msg: string) =>
    lines.push({ level, obj: obj as Line['obj'], msg });
  return { lines, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}

let dir: PluginDir;
test.before(async () => {
  dir = await PluginDir.create();
  await dir.add('tcp_state.py', TCP_STATE_PY);
  // Prints the counter kept in the file named by its first argument.
  await dir.add('counter.sh', '#!/bin/sh\nprintf \'{"bytes": %s, "temp": 20}\' "$(cat "$1")"\n');
  await dir.add(
    'rich.sh',
    `#!/bin/sh
echo '[{"metric": "rx", "value": 5, "tags": {"if": "eth0"}}, {"metric": "jobs", "value": 7, "data_type": "DERIVE"}]'
`,
  );
  await dir.add('garbage.sh', '#!/bin/sh\necho "Usage: plugin [-h]"\n');
  await dir.add('empty.sh', '#!/bin/sh\nexit 0\n');
  await dir.add(
    'huge.py',
    '#!/usr/bin/env python3\nimport sys\nwhile True:\n    sys.stdout.write("9" * 65536)\n',
  );
  await dir.add('exit3.sh', '#!/bin/sh\necho \'{"a": 1}\'\necho "disk gone" >&2\nexit 3\n');
  await dir.add('hang.sh', '#!/bin/sh\necho $$ > "$1"\nsleep 1000 &\nwait\n');
  await dir.add(
    'argv.py',
    '#!/usr/bin/env python3\nimport json, sys\nprint(json.dumps({a: 1 for a in sys.argv[1:]}))\n',
  );
});
test.after.always(async () => {
  await dir.remove();
});

function svc(name: string, plugin: string, extra: Partial<Service> = {}): Service {
  return { name, plugin, exec_interval: 10, ...extra };
}

function byName(statuses: ServiceStatus[]): Record<string, ServiceStatus> {
  return Object.fromEntries(statuses.map((s) => [s.service, s]));
}

test('the v3 TCP-state plugin: items typed, unknown keys GAUGE with flag 1, first COUNTER reading primes', async (t) => {
  const timers = new FakeTimers(1_700_000_000_000);
  const emitted: BatchSample[] = [];
  const host = new PluginHost({
    pluginDir: dir.path,
    timers,
    emit: (s) => emitted.push(...s),
    schedule: false,
  });
  await host.apply([
    svc('tcp', 'tcp_state.py', {
      items: {
        TCP_LISTEN: { key: 'TCP_LISTEN', data_type: 'GAUGE' },
        TCP_ESTABLISHED: { key: 'TCP_ESTABLISHED', data_type: 'COUNTER' },
      },
    }),
  ]);
  const [status] = await host.runOnce();
  t.like(status, {
    service: 'tcp',
    plugin: 'tcp_state.py',
    lastResult: 'ok',
    samples: 4,
    lastRunAt: 1_700_000_000_000,
  });
  const listen = emitted.find((s) => s.metric === 'TCP_LISTEN');
  t.deepEqual(listen, {
    service_name: 'tcp',
    metric: 'TCP_LISTEN',
    value: 46,
    timestamp_ms: 1_700_000_000_000,
    data_type: 'GAUGE',
  });
  t.like(
    emitted.find((s) => s.metric === 'TCP_CLOSE_WAIT'),
    { value: 46, data_type: 'GAUGE', flag: 1 },
  );
  t.is(
    emitted.find((s) => s.metric === 'TCP_ESTABLISHED'),
    undefined,
  );
});

test('COUNTER through the host: the rate over the measured gap between runs; state kept across an unchanged apply', async (t) => {
  const timers = new FakeTimers(1_700_000_000_000);
  const emitted: BatchSample[][] = [];
  const host = new PluginHost({ pluginDir: dir.path, timers, emit: (s) => emitted.push(s), schedule: false });
  const file = join(dir.path, 'counter.value');
  const items = { bytes: { key: 'bytes', data_type: 'COUNTER' as const } };
  const service = svc('net', 'counter.sh', { args: file, items });
  await host.apply([service]);
  await writeFile(file, '1000');
  await host.runOnce();
  timers.advance(12_500); // the configured interval is 10 s; the measured gap is what counts
  await writeFile(file, '3500');
  await host.apply([{ ...service, id: 7 }]); // same config (an id is not part of it): state kept
  await host.runOnce();
  t.is(emitted.length, 2);
  t.deepEqual(
    emitted[1]!.find((s) => s.metric === 'bytes'),
    {
      service_name: 'net',
      metric: 'bytes',
      value: 200,
      timestamp_ms: 1_700_000_012_500,
      data_type: 'COUNTER',
    },
  );
  // A changed service starts over: its counter primes again.
  await host.apply([{ ...service, exec_interval: 20 }]);
  timers.advance(10_000);
  await host.runOnce();
  t.is(
    emitted[2]!.find((s) => s.metric === 'bytes'),
    undefined,
  );
});

test('array output: tags and the entry’s own data_type', async (t) => {
  const timers = new FakeTimers(1_700_000_000_000);
  const emitted: BatchSample[] = [];
  const host = new PluginHost({
    pluginDir: dir.path,
    timers,
    emit: (s) => emitted.push(...s),
    schedule: false,
  });
  await host.apply([svc('rich', 'rich.sh', { items: { rx: { key: 'rx', data_type: 'GAUGE' } } })]);
  await host.runOnce();
  t.deepEqual(emitted, [
    {
      service_name: 'rich',
      metric: 'rx',
      value: 5,
      timestamp_ms: 1_700_000_000_000,
      data_type: 'GAUGE',
      tags: { if: 'eth0' },
    },
  ]);
  timers.advance(10_000);
  await host.runOnce();
  t.like(emitted.at(-1), { metric: 'jobs', value: 0, data_type: 'DERIVE', flag: 1 });
});

test('failures are counted and logged one by one and never stop the other plugins', async (t) => {
  const logger = recordingLogger();
  const emitted: BatchSample[] = [];
  const host = new PluginHost({
    pluginDir: dir.path,
    logger,
    emit: (s) => emitted.push(...s),
    defaultTimeoutMs: 10_000,
    schedule: false,
  });
  await host.apply([
    svc('garbage', 'garbage.sh'),
    svc('empty', 'empty.sh'),
    svc('huge', 'huge.py'),
    svc('exit3', 'exit3.sh'),
    svc('hang', 'hang.sh', { args: join(dir.path, 'host-hang.pid'), exec_interval: 1 }), // deadline: 1 s
    svc('badargs', 'argv.py', { args: `-x 'unterminated` }),
    svc('escape', '../tcp_state.py'),
    svc('zero', 'tcp_state.py', { exec_interval: 0 }),
    svc('good', 'tcp_state.py'),
  ]);
  const s = byName(await host.runOnce());
  t.like(s.garbage, { lastResult: 'bad-output', badOutputs: 1, samples: 0 });
  t.like(s.empty, { lastResult: 'ok', samples: 0 });
  t.like(s.huge, { lastResult: 'bad-output', badOutputs: 1 });
  t.like(s.exit3, { lastResult: 'exit-3', samples: 0 });
  t.like(s.hang, { lastResult: 'timeout' });
  t.like(s.badargs, { lastResult: 'error' });
  t.like(s.escape, { lastResult: 'error' });
  t.like(s.zero, { lastResult: null, lastRunAt: null }, 'exec_interval 0 never runs');
  t.like(s.good, { lastResult: 'ok', samples: 5 });
  t.deepEqual([...new Set(emitted.map((x) => x.service_name))], ['good']);
  const garbageLog = logger.lines.find((l) => l.msg === 'plugin output not understood');
  t.like(garbageLog, {
    level: 'warn',
    obj: { service: 'garbage', plugin: 'garbage.sh', snippet: 'Usage: plugin [-h]\\n' },
  });
  t.like(
    logger.lines.find((l) => l.obj.service === 'exit3'),
    { level: 'warn', msg: 'plugin run failed', obj: { exitCode: 3, stderr: 'disk gone' } },
  );
  t.like(
    logger.lines.find((l) => l.obj.service === 'huge'),
    { obj: { error: 'output too large' } },
  );
  const hangPid = Number.parseInt(readFileSync(join(dir.path, 'host-hang.pid'), 'utf8'), 10);
  t.true(await pollUntil(() => !processAlive(hangPid)));
});

test('quoted args reach the plugin as separate words', async (t) => {
  const emitted: BatchSample[] = [];
  const host = new PluginHost({ pluginDir: dir.path, emit: (s) => emitted.push(...s), schedule: false });
  await host.apply([svc('argv', 'argv.py', { args: `plain 'two words' "say \\"hi\\"" $HOME` })]);
  await host.runOnce();
  t.deepEqual(
    emitted.map((s) => s.metric),
    ['plain', 'two words', 'say "hi"', '$HOME'],
  );
});

test('scheduled: runs on the boundary, stamped with the run start; apply diffs the running set', async (t) => {
  const timers = new FakeTimers(1_700_000_001_000);
  const emitted: BatchSample[] = [];
  let wake: () => void = () => {};
  const host = new PluginHost({
    pluginDir: dir.path,
    timers,
    emit: (s) => {
      emitted.push(...s);
      wake();
    },
  });
  const gotSamples = () => new Promise<void>((resolve) => (wake = resolve));
  await host.apply([svc('tcp', 'tcp_state.py'), svc('gone', 'tcp_state.py', { exec_interval: 60 })]);
  t.is(timers.pending, 2);
  const first = gotSamples();
  timers.advance(9_000);
  await first;
  t.true(emitted.every((s) => s.timestamp_ms === 1_700_000_010_000 && s.service_name === 'tcp'));
  await host.apply([svc('tcp', 'tcp_state.py'), svc('new', 'rich.sh', { exec_interval: 5 })]);
  t.deepEqual(
    host.status().map((s) => s.service),
    ['tcp', 'new'],
  );
  t.is(timers.pending, 2);
  await host.stop();
  t.is(timers.pending, 0);
  t.deepEqual(host.status(), []);
});

test('stop() kills a running plugin’s group and drops its result', async (t) => {
  const emitted: BatchSample[] = [];
  const host = new PluginHost({ pluginDir: dir.path, emit: (s) => emitted.push(...s), schedule: false });
  const pidFile = join(dir.path, 'stop-hang.pid');
  await host.apply([svc('hang', 'hang.sh', { args: pidFile, exec_interval: 30 })]);
  const once = host.runOnce();
  let pid = 0;
  t.true(
    await pollUntil(() => {
      try {
        pid = Number.parseInt(readFileSync(pidFile, 'utf8'), 10);
        return pid > 0;
      } catch {
        return false;
      }
    }),
  );
  await host.stop();
  await once;
  t.true(await pollUntil(() => !processAlive(pid)));
  t.deepEqual(emitted, []);
});

test('node-cron is imported only once a service has a cron expression', async (t) => {
  const script = `
    import { registerHooks } from 'node:module';
    const seen = [];
    registerHooks({ resolve(spec, ctx, next) { if (spec.includes('node-cron')) seen.push(spec); return next(spec, ctx); } });
    const { PluginHost } = await import(${JSON.stringify(new URL('../../agent/plugins/plugin-host.ts', import.meta.url).href)});
    const host = new PluginHost({ pluginDir: '/tmp', emit() {} });
    await host.apply([{ name: 'a', plugin: 'x', exec_interval: 10 }]);
    const before = seen.length;
    await host.apply([{ name: 'a', plugin: 'x', exec_interval: 10, cron: '*/5 * * * *' }]);
    await host.stop();
    console.log(JSON.stringify({ before, after: seen.length }));
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  t.is(code, 0);
  t.deepEqual(JSON.parse(out), { before: 0, after: 1 });
});
