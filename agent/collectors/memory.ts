/**
 * mem and swap: /proc/meminfo, in bytes. Two collectors (two services) over
 * the same small file, each reading it whole.
 */
import { readFile } from 'node:fs/promises';
import type { Collector, Reading } from './collector.js';
import { pct } from './text.js';

/** `Key: value kB` lines as bytes by key; lines without a unit (HugePages_Total) are counts, kept as is. */
export function parseMeminfo(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const rest = line.slice(colon + 1).trim();
    const space = rest.indexOf(' ');
    const value = Number(space < 0 ? rest : rest.slice(0, space));
    if (rest === '' || !Number.isFinite(value)) continue;
    out.set(line.slice(0, colon), space >= 0 && rest.endsWith('kB') ? value * 1024 : value);
  }
  return out;
}

function gauge(out: Reading[], metric: string, value: number | undefined): void {
  if (value !== undefined) out.push({ metric, value, kind: 'gauge' });
}

/**
 * mem readings. `used` is total - available, what the kernel says cannot be
 * had without swapping (as `free` counts it); before Linux 3.14 there is no
 * MemAvailable and it is estimated as free + buffers + cached.
 */
export function memReadings(info: Map<string, number>): Reading[] {
  const out: Reading[] = [];
  const total = info.get('MemTotal');
  const free = info.get('MemFree');
  const buffers = info.get('Buffers');
  const cached = info.get('Cached');
  let available = info.get('MemAvailable');
  if (available === undefined && free !== undefined) available = free + (buffers ?? 0) + (cached ?? 0);
  gauge(out, 'total', total);
  gauge(out, 'free', free);
  gauge(out, 'available', available);
  gauge(out, 'buffers', buffers);
  gauge(out, 'cached', cached);
  if (total !== undefined && available !== undefined) {
    const used = Math.max(0, total - available);
    gauge(out, 'used', used);
    gauge(out, 'used_pct', pct(used, total));
  }
  return out;
}

/** swap readings; a host without swap reports zeros (used_pct 0), not nothing. */
export function swapReadings(info: Map<string, number>): Reading[] {
  const out: Reading[] = [];
  const total = info.get('SwapTotal');
  const free = info.get('SwapFree');
  gauge(out, 'total', total);
  gauge(out, 'free', free);
  if (total !== undefined && free !== undefined) {
    const used = Math.max(0, total - free);
    gauge(out, 'used', used);
    gauge(out, 'used_pct', pct(used, total));
  }
  return out;
}

export function memCollector(procRoot = '/proc'): Collector {
  const path = `${procRoot}/meminfo`;
  return { name: 'mem', read: async () => memReadings(parseMeminfo(await readFile(path, 'utf8'))) };
}

export function swapCollector(procRoot = '/proc'): Collector {
  const path = `${procRoot}/meminfo`;
  return { name: 'swap', read: async () => swapReadings(parseMeminfo(await readFile(path, 'utf8'))) };
}
