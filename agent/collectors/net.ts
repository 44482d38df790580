/** net: /proc/net/dev, per interface (this process's network namespace). */
import { readFile } from 'node:fs/promises';
import type { Collector, Reading } from './collector.js';
import { num, words } from './text.js';

/** Columns after `name:` that are sent: receive then transmit, 8 columns each. */
const COLUMNS: ReadonlyArray<[metric: string, index: number]> = [
  ['rx_bytes', 0],
  ['rx_packets', 1],
  ['rx_errs', 2],
  ['rx_drop', 3],
  ['tx_bytes', 8],
  ['tx_packets', 9],
  ['tx_errs', 10],
  ['tx_drop', 11],
];

export interface NetOptions {
  /** Report `lo` too (off: its traffic is the host talking to itself). */
  loopback?: boolean;
}

export function parseNetDev(text: string, options: NetOptions = {}): Reading[] {
  const out: Reading[] = [];
  for (const line of text.split('\n')) {
    // Split at the colon, not at blanks: old kernels print `eth0:123` with no space.
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (name === '' || (name === 'lo' && options.loopback !== true)) continue;
    const f = words(line.slice(colon + 1));
    const tags = { interface: name };
    for (const [metric, index] of COLUMNS) {
      const v = num(f[index]);
      if (v !== undefined) out.push({ metric, value: v, kind: 'counter', tags });
    }
  }
  return out;
}

export function netCollector(procRoot = '/proc', options: NetOptions = {}): Collector {
  const path = `${procRoot}/net/dev`;
  return { name: 'net', read: async () => parseNetDev(await readFile(path, 'utf8'), options) };
}
