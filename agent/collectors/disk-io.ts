/**
 * diskio: /proc/diskstats, per block device. Whole disks, partitions and
 * device-mapper/md volumes are all kept (a partition or an LVM volume is
 * what maps to a filesystem); loop, ram and zram devices are skipped: they
 * are memory or files already counted on a real disk, and a host with snaps
 * has dozens of loops.
 */
import { readFile } from 'node:fs/promises';
import type { Collector, Reading } from './collector.js';
import { num, words } from './text.js';

/** diskstats counts sectors of 512 bytes whatever the device's sector size. */
const SECTOR_BYTES = 512;

export function skipBlockDevice(name: string): boolean {
  return name.startsWith('loop') || name.startsWith('ram') || name.startsWith('zram');
}

/**
 * Columns after `major minor name` (Documentation/admin-guide/iostats.rst),
 * 0-based from the first: reads, merged, sectors read, ms reading, writes,
 * merged, sectors written, ms writing, in flight, ms doing I/O.
 * The rate of io_time_ms / 10 is the device's %util.
 */
export function parseDiskstats(text: string): Reading[] {
  const out: Reading[] = [];
  for (const line of text.split('\n')) {
    const f = words(line);
    const device = f[2];
    if (device === undefined || f.length < 14 || skipBlockDevice(device)) continue;
    const tags = { device };
    const counter = (metric: string, field: string | undefined, scale = 1): void => {
      const v = num(field);
      if (v !== undefined) out.push({ metric, value: v * scale, kind: 'counter', tags });
    };
    counter('reads', f[3]);
    counter('read_bytes', f[5], SECTOR_BYTES);
    counter('read_time_ms', f[6]);
    counter('writes', f[7]);
    counter('write_bytes', f[9], SECTOR_BYTES);
    counter('write_time_ms', f[10]);
    counter('io_time_ms', f[12]);
    const inFlight = num(f[11]);
    if (inFlight !== undefined) out.push({ metric: 'in_flight', value: inFlight, kind: 'gauge', tags });
  }
  return out;
}

export function diskIoCollector(procRoot = '/proc'): Collector {
  const path = `${procRoot}/diskstats`;
  return { name: 'diskio', read: async () => parseDiskstats(await readFile(path, 'utf8')) };
}
