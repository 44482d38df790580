/**
 * The agent's built-in collectors: host metrics read from /proc and /sys
 * (never by running a program), plus port and hardware discovery. The roots
 * are options so tests can point them at fixture trees and an agent in a
 * container at the host's /proc and /sys mounted elsewhere.
 */
import type { Collector } from './collector.js';
import { cpuCollector } from './cpu.js';
import { diskIoCollector } from './disk-io.js';
import { diskUsageCollector } from './disk-usage.js';
import { fdCollector } from './fd.js';
import { loadCollector } from './load.js';
import { memCollector, swapCollector } from './memory.js';
import { netCollector } from './net.js';
import { tcpStatesCollector } from './tcp-states.js';

export type { Collector, Reading } from './collector.js';
export { discoverPorts } from './port-discovery.js';
export { discoverAssets, type AssetOptions } from './asset-discovery.js';

export interface BuiltinOptions {
  /** Default '/proc'. */
  procRoot?: string;
  /** Default '/sys'. */
  sysRoot?: string;
  /** Prefix of mount paths for statfs (the host's / seen from a container); default ''. */
  rootPath?: string;
  /** Also measure tmpfs mounts in `disk`. */
  tmpfs?: boolean;
  /** Also measure network filesystems (NFS, CIFS, ...) in `disk`. */
  networkFs?: boolean;
  /** Also report `lo` in `net`. */
  loopback?: boolean;
}

/** One collector per service: cpu, mem, swap, load, disk, diskio, net, fd, tcp. */
export function builtinCollectors(options: BuiltinOptions = {}): Collector[] {
  const procRoot = options.procRoot ?? '/proc';
  return [
    cpuCollector(procRoot),
    memCollector(procRoot),
    swapCollector(procRoot),
    loadCollector(procRoot),
    diskUsageCollector({
      procRoot,
      rootPath: options.rootPath,
      tmpfs: options.tmpfs,
      network: options.networkFs,
    }),
    diskIoCollector(procRoot),
    netCollector(procRoot, { loopback: options.loopback }),
    fdCollector(procRoot),
    tcpStatesCollector(procRoot),
  ];
}

// Parsers and pieces, pure over the files' text: tested on fixtures (test/agent/collectors-*.test.ts).
export { clean, parseCpuinfo, parseDmiSize, parseDmidecodeMemory } from './asset-discovery.js';
export { parseStat } from './cpu.js';
export { parseDiskstats } from './disk-io.js';
export { diskUsageCollector, parseMounts, unescapeMountPath, usageReadings } from './disk-usage.js';
export { parseFileNr } from './fd.js';
export { parseLoadavg } from './load.js';
export { memReadings, parseMeminfo, swapReadings } from './memory.js';
export { parseNetDev } from './net.js';
export { formatIpv6, parseAddress, parseListenLine } from './port-discovery.js';
export { countTcpText, newCounts, tcpReadings, tcpStatesCollector } from './tcp-states.js';
export { lineState, scanTcpTable } from './tcp-table.js';
export { words } from './text.js';
