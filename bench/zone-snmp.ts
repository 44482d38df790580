/**
 * SNMP polling at scale: devices of 49 interfaces polled every second, by
 * OWL's poller (relay/zone: one GETBULK walk of ifTable+ifXTable) and, as the
 * baseline in the same run, v3's way (nine `snmpwalk` forks per poll, GETNEXT).
 *
 *   sudo npx tsx bench/zone-snmp.ts [--seconds=15] [--devices=10,100,1000] [--v3-max=1000]
 *
 * Needs root: it makes a network namespace with 48 veth interfaces (plus
 * lo: 49), runs Debian's snmpd there on 127.0.0.1, and runs each poller
 * there too, so no packet leaves the namespace. Every device is the same
 * snmpd (one agent answers for all: its CPU is part of the machine's load,
 * so past some count the agent, not the poller, is the limit; the CPU
 * columns are the poller's own). Figures: share of the polls due that were
 * done in their slot, and poller CPU seconds per poll.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, numberFlag, parseFlags, printTable } from './lib/report.js';
import { cpuSeconds, machineLoad } from './lib/proc.js';

const flags = parseFlags(process.argv.slice(2));
const seconds = numberFlag(flags, 'seconds', 15, 3, 120);
const v3Max = numberFlag(flags, 'v3-max', 1000, 0, 1000);
const counts = (flags.get('devices') ?? '10,100,1000').split(',').map(Number);
const NS = `owl-snmp-bench-${process.pid}`;
const COMMUNITY = 'owl-bench';
const PORT = 161;
const main = fileURLToPath(new URL('./lib/zone-snmp-main.ts', import.meta.url));

function ns(...args: string[]): void {
  execFileSync('ip', ['netns', 'exec', NS, ...args], { stdio: 'ignore' });
}

function setup(dir: string): void {
  execFileSync('ip', ['netns', 'add', NS]);
  ns('ip', 'link', 'set', 'lo', 'up');
  // 24 veth pairs: 48 interfaces (containers often lack the dummy module; veth is built in).
  for (let i = 0; i < 24; i++) {
    ns('ip', 'link', 'add', `va${i}`, 'type', 'veth', 'peer', 'name', `vb${i}`);
    ns('ip', 'link', 'set', `va${i}`, 'up');
    ns('ip', 'link', 'set', `vb${i}`, 'up');
  }
  writeFileSync(
    join(dir, 'snmpd.conf'),
    `agentAddress udp:127.0.0.1:${PORT}\nrocommunity ${COMMUNITY} 127.0.0.1\n`,
  );
}

function runOne(mode: 'owl' | 'v3', devices: number): Promise<Record<string, number | string>> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        NS,
        process.execPath,
        '--import',
        'tsx',
        main,
        mode,
        String(devices),
        String(seconds),
        String(PORT),
        COMMUNITY,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('exit', (code) => {
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as Record<string, number | string>);
      } catch {
        reject(new Error(`${mode} ${devices}: exit ${code}, output ${out}`));
      }
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'owl-snmp-bench-'));
let snmpd: ReturnType<typeof spawn> | undefined;
try {
  setup(dir);
  snmpd = spawn(
    'ip',
    [
      'netns',
      'exec',
      NS,
      '/usr/sbin/snmpd',
      '-f',
      '-Lf',
      '/dev/null',
      '-C',
      '-c',
      join(dir, 'snmpd.conf'),
      `--persistentDir=${dir}`,
    ],
    { stdio: 'ignore' },
  );
  // snmpd answers within a second of starting; the first run's first poll would otherwise fail.
  for (let i = 0; i < 50; i++) {
    try {
      execFileSync(
        'ip',
        [
          'netns',
          'exec',
          NS,
          'snmpget',
          '-v2c',
          '-c',
          COMMUNITY,
          '-t',
          '0.2',
          '-r',
          '0',
          `127.0.0.1:${PORT}`,
          '1.3.6.1.2.1.1.3.0',
        ],
        { stdio: 'ignore' },
      );
      break;
    } catch {
      // not yet
    }
  }
  console.log(`machine: ${machineLoad()}; ${seconds} s per run, 1 s interval, 49 interfaces per device`);
  const rows: string[][] = [
    [
      'devices',
      'poller',
      'polls done in slot',
      'failed',
      'poller CPU-s',
      'CPU ms per poll',
      'snmpd CPU-s',
      'done vs v3',
    ],
  ];
  const agentCpu = (): number => cpuSeconds(snmpd?.pid ?? -1);
  for (const n of counts) {
    let before = agentCpu();
    const owl = await runOne('owl', n);
    owl['agentCpu'] = agentCpu() - before;
    before = agentCpu();
    const v3 = n <= v3Max ? await runOne('v3', n) : undefined;
    if (v3 !== undefined) v3['agentCpu'] = agentCpu() - before;
    for (const r of [owl, v3]) {
      if (r === undefined) continue;
      const cpu = Number(r['cpuSelf']) + Number(r['cpuChildren']);
      const share = Number(r['done']) / Number(r['due']);
      const v3share = v3 === undefined ? NaN : Number(v3['done']) / Number(v3['due']);
      rows.push([
        String(n),
        String(r['mode']),
        `${fmt(100 * share, 1)} %`,
        String(r['failed'] ?? '-'),
        fmt(cpu, 2),
        Number(r['done']) === 0 ? '-' : fmt((1000 * cpu) / Number(r['done']), 2),
        fmt(Number(r['agentCpu']), 2),
        r === owl && v3 !== undefined ? `${fmt(share / v3share, 1)}x` : '',
      ]);
    }
  }
  printTable(rows);
} finally {
  snmpd?.kill('SIGKILL');
  try {
    execFileSync('ip', ['netns', 'delete', NS]);
  } catch {
    // already gone
  }
  rmSync(dir, { recursive: true, force: true });
}
