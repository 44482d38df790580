/** load: /proc/loadavg, e.g. `0.85 1.50 1.94 2/141 6114`. */
import { readFile } from 'node:fs/promises';
import type { Collector, Reading } from './collector.js';
import { num, words } from './text.js';

export function parseLoadavg(text: string): Reading[] {
  const out: Reading[] = [];
  const f = words(text.trim());
  const names = ['load1', 'load5', 'load15'];
  for (let i = 0; i < 3; i++) {
    const v = num(f[i]);
    if (v !== undefined) out.push({ metric: names[i]!, value: v, kind: 'gauge' });
  }
  // `running/total` scheduling entities (threads included).
  const tasks = f[3];
  const slash = tasks === undefined ? -1 : tasks.indexOf('/');
  if (tasks !== undefined && slash > 0) {
    const running = num(tasks.slice(0, slash));
    const total = num(tasks.slice(slash + 1));
    if (running !== undefined) out.push({ metric: 'tasks_running', value: running, kind: 'gauge' });
    if (total !== undefined) out.push({ metric: 'tasks_total', value: total, kind: 'gauge' });
  }
  return out;
}

export function loadCollector(procRoot = '/proc'): Collector {
  const path = `${procRoot}/loadavg`;
  return { name: 'load', read: async () => parseLoadavg(await readFile(path, 'utf8')) };
}
