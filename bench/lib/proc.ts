/**
 * Process and disk figures read from outside the measured process, so the
 * measurement costs the relay nothing: CPU time and RSS from /proc (Linux),
 * bytes of a directory tree (apparent size and allocated blocks).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User + system CPU seconds the process has used so far (its own threads included). */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / clockTicks();
}

/** Resident set size and its peak (VmHWM), bytes. */
export function memory(pid: number): { rss: number; peak: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    return m === null ? 0 : Number(m[1]) * 1024;
  };
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** Sizes of the regular files under `dir`: apparent bytes and bytes of allocated blocks. */
export function dirUsage(dir: string): { apparent: number; allocated: number; files: number } {
  const out = { apparent: 0, allocated: 0, files: 0 };
  const walk = (d: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return; // removed meanwhile
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        try {
          const st = fs.statSync(p);
          out.apparent += st.size;
          out.allocated += st.blocks * 512;
          out.files++;
        } catch {
          /* deleted by a RocksDB background thread meanwhile */
        }
      }
    }
  };
  walk(dir);
  return out;
}

/** The load averages, to note what else ran. */
export function machineLoad(): string {
  const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  let pressure = '';
  try {
    // Share of the last 10 s in which some runnable task waited for a CPU.
    const m = /some avg10=([\d.]+)/.exec(fs.readFileSync('/proc/pressure/cpu', 'utf8'));
    if (m !== null) pressure = `, CPU pressure ${m[1] as string} %`;
  } catch {
    /* no PSI on this kernel */
  }
  return `load average ${load} on ${cpuCount()} CPUs${pressure}`;
}

export function cpuCount(): number {
  return fs
    .readFileSync('/proc/cpuinfo', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('processor')).length;
}

/** CPU seconds the whole machine has been busy (all CPUs, /proc/stat), for "what else ran" figures. */
export function machineBusySeconds(): number {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const all = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return (all - idle) / clockTicks();
}
