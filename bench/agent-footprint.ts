/**
 * owl-agent's footprint on a host (issue 11), as production runs it
 * (transpiled JavaScript, `node agent/cli.js`, Node 24):
 *
 *   npx tsx bench/agent-footprint.ts [--minutes=10] [--plugins=20] [--interval=10] [--once-runs=5]
 *
 * The agent runs `plugins` sh plugins (each prints the v3 TCP-state object)
 * every `interval` s plus the built-in collectors every `interval` s, and
 * sends to a real upstream (`owl-upstream run`, its direct agent listener,
 * v4 with ACKs). Over `minutes`, RSS and CPU are read from /proc every
 * second: the agent's own CPU (utime + stime; its plugins' processes are
 * children and excluded). Baseline in the same run, the same minutes: a
 * bare `node -e 'setInterval(()=>{},1000)'`.
 *
 * Then `owl-agent once` (every collector and plugin once, printed) is timed
 * `once-runs` times, wall clock, beside `node -e ''` as its baseline.
 *
 * Goals: RSS <= 50 MB, CPU <= 0.3 % of one core; once <= 300 ms.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startUpstreamCli } from '../test/helpers/owl-cli.js';
import { callApi } from '../test/helpers/upstream-api.js';
import { buildFolders } from './lib/build.js';
import { cpuSeconds, machineLoad, memory } from './lib/proc.js';
import { fmt, numberFlag, parseFlags, printTable, sleep, verdict } from './lib/report.js';

const flags = parseFlags(process.argv.slice(2));
const minutes = numberFlag(flags, 'minutes', 10, 0.2, 60);
const plugins = numberFlag(flags, 'plugins', 20, 1, 200);
const interval = numberFlag(flags, 'interval', 10, 1, 600);
const onceRuns = numberFlag(flags, 'once-runs', 5, 1, 50);
/**
 * The agent runs as its shebang says (`#!/usr/bin/env -S VAR=… node --flags`): those variables and
 * flags, or `--node-args=…` instead (`--node-args=` for Node's defaults), to compare settings.
 */
const shebang = readFileSync(new URL('../agent/cli.ts', import.meta.url), 'utf8')
  .split('\n')[0]!
  .split(/\s+/)
  .slice(2);
const shebangEnv = Object.fromEntries(
  shebang.filter((w) => /^[A-Z_]+=/.test(w)).map((w) => w.split('=') as [string, string]),
);
const nodeArgs = flags.has('node-args')
  ? flags.get('node-args')!.split(' ').filter(Boolean)
  : shebang.filter((w) => w.startsWith('--'));
const agentEnv = flags.has('node-args') ? process.env : { ...process.env, ...shebangEnv };
const UUID = '3e1f0c55-7d2a-4b8e-9f10-2a3b4c5d6e7f';
const MB = 1e6;

const TCP_PLUGIN = `#!/bin/sh
echo '{"TCP_CLOSE_WAIT": 46, "TCP_SYN_SENT": 0, "TCP_TIME_WAIT": 21, "TCP_LISTEN": 46, "TCP_ESTABLISHED": 97, "TCP_CLOSING": 0, "TCP_SYN_RECV": 0, "ERROR_STATUS": 0, "TCP_LAST_ACK": 0, "TCP_CLOSE": 0, "TCP_FIN_WAIT2": 0, "TCP_FIN_WAIT1": 0}'
`;

interface Sampled {
  rssAvg: number;
  rssMax: number;
  cpuPct: number;
}

/** RSS every second and CPU over the window, for each pid, side by side. */
async function watch(pids: number[], ms: number): Promise<Sampled[]> {
  const cpu0 = pids.map(cpuSeconds);
  const rss: number[][] = pids.map(() => []);
  const started = Date.now();
  while (Date.now() - started < ms) {
    await sleep(1000);
    pids.forEach((pid, i) => rss[i]!.push(memory(pid).rss));
  }
  const seconds = (Date.now() - started) / 1000;
  return pids.map((pid, i) => ({
    rssAvg: rss[i]!.reduce((a, b) => a + b, 0) / rss[i]!.length,
    rssMax: Math.max(...rss[i]!),
    cpuPct: ((cpuSeconds(pid) - cpu0[i]!) / seconds) * 100,
  }));
}

function wallMs(argv: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, argv, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return performance.now() - t0;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'owl-agent-bench-'));
  try {
    buildFolders(join(dir, 'js'), ['protocol', 'agent']);
    const pluginDir = join(dir, 'plugins');
    mkdirSync(pluginDir);
    writeFileSync(join(pluginDir, 'tcp_state.sh'), TCP_PLUGIN);
    chmodSync(join(pluginDir, 'tcp_state.sh'), 0o755);
    const services = Array.from({ length: plugins }, (_, i) => ({
      name: `svc${i}`,
      plugin: 'tcp_state.sh',
      exec_interval: interval,
    }));
    const up = await startUpstreamCli(join(dir, 'upstream'));
    const started = up.proc.log.find((l) => l.msg === 'upstream started')!;
    const agentsPort = (started['agents'] as Array<{ port: number }>)[0]!.port;
    await callApi(up.api, 'POST', '/api/v1/hosts', { uuid: UUID, zone: 'direct', services });
    const stateDir = join(dir, 'agent');
    mkdirSync(stateDir);
    writeFileSync(join(stateDir, 'uuid'), UUID);
    const config = join(dir, 'agent.json');
    writeFileSync(
      config,
      JSON.stringify({ relays: [`127.0.0.1:${agentsPort}`], stateDir, pluginDir, collectInterval: interval }),
    );
    const cli = join(dir, 'js', 'agent', 'cli.js');
    const agent = spawn(process.execPath, [...nodeArgs, cli, 'run', '--config', config], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: agentEnv,
    });
    const bare = spawn(process.execPath, ['-e', 'setInterval(()=>{},1000)'], { stdio: 'ignore' });
    try {
      await sleep(3000); // both started; the window below is what is measured
      console.log(
        `agent: node ${nodeArgs.join(' ')} ${JSON.stringify(flags.has('node-args') ? {} : shebangEnv)}`,
      );
      console.log(
        `node ${process.version}; ${plugins} plugins and the collectors every ${interval} s; ${minutes} min; ${machineLoad()}`,
      );
      const [a, b] = await watch([agent.pid!, bare.pid!], minutes * 60_000);
      const stats = await callApi(up.api, 'GET', '/api/v1/stats');
      const once = Array.from({ length: onceRuns }, () =>
        wallMs([...nodeArgs, cli, 'once', '--config', config]),
      );
      const nodeOnly = Array.from({ length: onceRuns }, () => wallMs(['-e', '']));
      report(a!, b!, median(once), median(nodeOnly), stats.body);
    } finally {
      agent.kill('SIGKILL');
      bare.kill('SIGKILL');
      await up.proc.kill();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(a: Sampled, b: Sampled, onceMs: number, nodeMs: number, stats: unknown): void {
  printTable([
    ['', 'owl-agent', "node -e 'setInterval'", 'ratio'],
    ['RSS avg (MB)', fmt(a.rssAvg / MB, 1), fmt(b.rssAvg / MB, 1), fmt(a.rssAvg / b.rssAvg, 2)],
    ['RSS max (MB)', fmt(a.rssMax / MB, 1), fmt(b.rssMax / MB, 1), fmt(a.rssMax / b.rssMax, 2)],
    [
      'CPU (% of one core)',
      fmt(a.cpuPct, 3),
      fmt(b.cpuPct, 3),
      b.cpuPct > 0 ? fmt(a.cpuPct / b.cpuPct, 1) : '-',
    ],
    ['once / node -e "" (ms wall)', fmt(onceMs, 0), fmt(nodeMs, 0), fmt(onceMs / nodeMs, 2)],
  ]);
  console.log(`upstream stats: ${JSON.stringify(stats)}`);
  console.log(
    `RSS <= 50 MB: ${verdict(a.rssMax <= 50 * MB)}; CPU <= 0.3 %: ${verdict(a.cpuPct <= 0.3)}; once <= 300 ms: ${verdict(onceMs <= 300)}`,
  );
}

await main();
