/** fd: /proc/sys/fs/file-nr, system-wide file handles: `allocated unused max`. */
import { readFile } from 'node:fs/promises';
import type { Collector, Reading } from './collector.js';
import { num, pct, words } from './text.js';

export function parseFileNr(text: string): Reading[] {
  const f = words(text.trim());
  const allocated = num(f[0]);
  // Always 0 since Linux 2.6; older kernels count freed handles here.
  const unused = num(f[1]) ?? 0;
  const max = num(f[2]);
  const out: Reading[] = [];
  if (allocated !== undefined) out.push({ metric: 'allocated', value: allocated, kind: 'gauge' });
  if (max !== undefined) out.push({ metric: 'max', value: max, kind: 'gauge' });
  if (allocated !== undefined && max !== undefined) {
    out.push({ metric: 'used_pct', value: pct(allocated - unused, max), kind: 'gauge' });
  }
  return out;
}

export function fdCollector(procRoot = '/proc'): Collector {
  const path = `${procRoot}/sys/fs/file-nr`;
  return { name: 'fd', read: async () => parseFileNr(await readFile(path, 'utf8')) };
}
