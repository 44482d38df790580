/**
 * Scanning /proc/net/tcp and tcp6 in fixed-size chunks. A host with 100k
 * sockets has a 15 MB table; reading it whole would allocate that much every
 * round, so lines are found in one reused buffer and only their state
 * column is decoded. Callers that need more of a line decode just that line.
 */
import { open } from 'node:fs/promises';

export const CHUNK_BYTES = 64 * 1024;

/** Called per socket line with its state (1..11, e.g. 0x0A LISTEN) and where the line lies in `buf`. */
export type TcpLineHandler = (state: number, buf: Buffer, start: number, end: number) => void;

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** The 4th field (`st`) of a table line as a number, or -1 (the header line, a short line). */
export function lineState(buf: Uint8Array, start: number, end: number): number {
  let field = -1;
  let inField = false;
  let value = 0;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c === 32 || c === 9) {
      if (inField && field === 3) return value;
      inField = false;
      continue;
    }
    if (!inField) {
      inField = true;
      field++;
    }
    if (field === 3) {
      const d = hexDigit(c);
      if (d < 0) return -1;
      value = value * 16 + d;
    }
  }
  return inField && field === 3 ? value : -1;
}

/** Calls `onLine` for every socket line of one table, reading it through `buf` (at least a few KiB). */
export async function scanTcpTable(path: string, buf: Buffer, onLine: TcpLineHandler): Promise<void> {
  const fh = await open(path, 'r');
  try {
    let filled = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, filled, buf.length - filled, null);
      const eof = bytesRead === 0;
      filled += bytesRead;
      let lineStart = 0;
      for (let nl = buf.indexOf(10, 0); nl >= 0 && nl < filled; nl = buf.indexOf(10, lineStart)) {
        const state = lineState(buf, lineStart, nl);
        if (state >= 0) onLine(state, buf, lineStart, nl);
        lineStart = nl + 1;
      }
      if (eof) {
        // A last line without a newline.
        if (lineStart < filled) {
          const state = lineState(buf, lineStart, filled);
          if (state >= 0) onLine(state, buf, lineStart, filled);
        }
        return;
      }
      // Keep the partial last line at the front; a line longer than the buffer (never seen) is dropped.
      const rest = filled - lineStart;
      if (rest >= buf.length) filled = 0;
      else {
        buf.copyWithin(0, lineStart, filled);
        filled = rest;
      }
    }
  } finally {
    await fh.close();
  }
}
