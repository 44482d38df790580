/**
 * tcp: sockets per TCP state over /proc/net/tcp and tcp6, named as the v3
 * plugin printed them. Every state is sent, zeros included, so graphs fall
 * to 0 instead of stopping.
 */
import type { Collector, Reading } from './collector.js';
import { CHUNK_BYTES, lineState, scanTcpTable } from './tcp-table.js';

/** Index = the kernel's state number (include/net/tcp_states.h). */
export const TCP_STATES = [
  '',
  'TCP_ESTABLISHED',
  'TCP_SYN_SENT',
  'TCP_SYN_RECV',
  'TCP_FIN_WAIT1',
  'TCP_FIN_WAIT2',
  'TCP_TIME_WAIT',
  'TCP_CLOSE',
  'TCP_CLOSE_WAIT',
  'TCP_LAST_ACK',
  'TCP_LISTEN',
  'TCP_CLOSING',
] as const;

/** Counts per state, index as TCP_STATES; states past TCP_CLOSING (kernel-internal) are ignored. */
export type TcpCounts = number[];

export function newCounts(): TcpCounts {
  return new Array<number>(TCP_STATES.length).fill(0);
}

/** Adds the sockets of one table's text (tests and small tables; the collector streams). */
export function countTcpText(text: string, counts: TcpCounts): void {
  const buf = Buffer.from(text);
  let start = 0;
  for (;;) {
    let end = buf.indexOf(10, start);
    if (end < 0) end = buf.length;
    countLine(lineState(buf, start, end), counts);
    if (end >= buf.length) return;
    start = end + 1;
  }
}

function countLine(state: number, counts: TcpCounts): void {
  if (state > 0 && state < counts.length) counts[state]!++;
}

export function tcpReadings(counts: TcpCounts): Reading[] {
  const out: Reading[] = [];
  for (let s = 1; s < TCP_STATES.length; s++)
    out.push({ metric: TCP_STATES[s]!, value: counts[s]!, kind: 'gauge' });
  return out;
}

export function tcpStatesCollector(procRoot = '/proc'): Collector {
  let spare: Buffer | undefined;
  return {
    name: 'tcp',
    read: async () => {
      // One buffer reused across rounds; a concurrent read takes its own.
      const buf = spare ?? Buffer.allocUnsafe(CHUNK_BYTES);
      spare = undefined;
      const counts = newCounts();
      const onLine = (state: number): void => countLine(state, counts);
      try {
        await scanTcpTable(`${procRoot}/net/tcp`, buf, onLine);
        // No tcp6 when IPv6 is disabled.
        await scanTcpTable(`${procRoot}/net/tcp6`, buf, onLine).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        });
      } finally {
        spare = buf;
      }
      return tcpReadings(counts);
    },
  };
}
