/**
 * cpu: /proc/stat. Time per state is a counter in seconds (jiffies / USER_HZ),
 * so its rate is the fraction of one core spent in that state: 0..1 per core,
 * 0..cores for `total`.
 */
import { readFile } from 'node:fs/promises';
import type { Collector, Reading } from './collector.js';
import { num, words } from './text.js';

/**
 * USER_HZ, the unit of /proc/stat. The kernel fixes it at 100 for every
 * architecture Linux exports to user space (it is not CONFIG_HZ); reading it
 * with getconf would mean running a program.
 */
export const USER_HZ = 100;

/** The /proc/stat columns after `cpuN`, in order. guest/guest_nice are left out: they are already counted in user/nice. */
const STATES = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const;
const STATE_METRICS = STATES.map((s) => `${s}_seconds`);

/** Readings from the text of /proc/stat. */
export function parseStat(text: string, userHz = USER_HZ): Reading[] {
  const out: Reading[] = [];
  let cores = 0;
  for (const line of text.split('\n')) {
    // `intr` lists every IRQ (thousands of numbers on big hosts): take only its total.
    if (line.startsWith('intr ')) {
      const end = line.indexOf(' ', 5);
      const v = num(line.slice(5, end < 0 ? undefined : end));
      if (v !== undefined) out.push({ metric: 'interrupts', value: v, kind: 'counter' });
      continue;
    }
    const f = words(line);
    const key = f[0];
    if (key === undefined) continue;
    if (key.startsWith('cpu')) {
      const cpu = key === 'cpu' ? 'total' : key.slice(3);
      if (cpu !== 'total') cores++;
      const tags = { cpu };
      for (let i = 0; i < STATES.length; i++) {
        const v = num(f[i + 1]);
        if (v !== undefined)
          out.push({ metric: STATE_METRICS[i]!, value: v / userHz, kind: 'counter', tags });
      }
      continue;
    }
    const v = num(f[1]);
    if (v === undefined) continue;
    if (key === 'ctxt') out.push({ metric: 'context_switches', value: v, kind: 'counter' });
    else if (key === 'processes') out.push({ metric: 'forks', value: v, kind: 'counter' });
    else if (key === 'procs_running') out.push({ metric: 'procs_running', value: v, kind: 'gauge' });
    else if (key === 'procs_blocked') out.push({ metric: 'procs_blocked', value: v, kind: 'gauge' });
  }
  // Online cores: /proc/stat lists only online CPUs.
  if (cores > 0) out.push({ metric: 'cores', value: cores, kind: 'gauge' });
  return out;
}

export function cpuCollector(procRoot = '/proc'): Collector {
  const path = `${procRoot}/stat`;
  return {
    name: 'cpu',
    read: async () => parseStat(await readFile(path, 'utf8')),
  };
}
