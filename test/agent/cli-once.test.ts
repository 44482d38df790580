/** `owl-agent once` (for plugin authors) and `owl-agent status`, as a user runs them. */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { tempDir } from '../helpers/relay-harness.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

function owlAgent(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'agent', 'cli.ts'), ...args], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('once runs the cached config’s plugins and every collector, prints the samples and each plugin’s result', (t) => {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const pluginDir = join(tmp.path, 'plugins');
  const stateDir = join(tmp.path, 'state');
  mkdirSync(pluginDir);
  mkdirSync(stateDir);
  writeFileSync(
    join(pluginDir, 'tcp.py'),
    '#!/usr/bin/env python3\nimport json\nprint(json.dumps({"TCP_LISTEN": 46, "TCP_ESTABLISHED": 97}))\n',
  );
  writeFileSync(join(pluginDir, 'broken.sh'), '#!/bin/sh\necho "not json"\n');
  for (const p of ['tcp.py', 'broken.sh']) chmodSync(join(pluginDir, p), 0o755);
  const services = [
    {
      name: 'tcp',
      plugin: 'tcp.py',
      exec_interval: 60,
      items: { TCP_LISTEN: { key: 'TCP_LISTEN', data_type: 'COUNTER' } },
    },
    { name: 'broken', plugin: 'broken.sh', exec_interval: 60 },
  ];
  writeFileSync(join(stateDir, 'host.json'), JSON.stringify({ uuid: 'u-1', services }));
  const text = owlAgent(['once', '--state-dir', stateDir, '--plugin-dir', pluginDir]);
  t.is(text.status, 0, text.stderr);
  const lines = text.stdout.split('\n');
  t.true(lines.includes('tcp.TCP_LISTEN 46'), 'a COUNTER item is printed as read: one run has no rate');
  t.true(lines.includes('tcp.TCP_ESTABLISHED 97 (new item)'));
  t.true(lines.some((l) => /^# plugin tcp \(tcp\.py\): ok in \d+ ms, 2 samples$/.test(l)));
  t.true(lines.some((l) => /^# plugin broken \(broken\.sh\): bad-output/.test(l)));
  t.regex(text.stderr, /broken/, 'the bad output is reported on stderr, naming the plugin');
  t.true(
    lines.some((l) => /^mem\.total \d+$/.test(l)),
    'the built-in collectors ran too',
  );
  const json = owlAgent([
    'once',
    '--json',
    '--state-dir',
    stateDir,
    '--plugin-dir',
    pluginDir,
    '--collect-interval',
    '0',
  ]);
  t.is(json.status, 0, json.stderr);
  const samples = json.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { service_name: string; metric: string });
  t.deepEqual(samples.map((s) => `${s.service_name}.${s.metric}`).sort(), [
    'tcp.TCP_ESTABLISHED',
    'tcp.TCP_LISTEN',
  ]);
});

test('status says plainly when no agent runs on the state dir', (t) => {
  const tmp = tempDir();
  t.teardown(tmp.remove);
  const r = owlAgent(['status', '--state-dir', tmp.path]);
  t.is(r.status, 1);
  t.regex(r.stderr, /^owl-agent status: no agent answers on /);
});
