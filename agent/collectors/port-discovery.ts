/**
 * Listening TCP ports and the processes that own them: LISTEN lines of
 * /proc/net/tcp{,6} give address and socket inode; /proc/<pid>/fd/* links
 * (`socket:[inode]`) give the pid, /proc/<pid>/comm its name. Unprivileged,
 * other users' fd directories are unreadable: those ports get proc_name ''.
 */
import { endianness } from 'node:os';
import { readdir, readFile, readlink } from 'node:fs/promises';
import type { Port } from '../../protocol/wire/index.js';
import { CHUNK_BYTES, scanTcpTable } from './tcp-table.js';
import { words } from './text.js';

const TCP_LISTEN = 0x0a;
/** readlinks in flight per process: enough to hide latency, few enough to leave the libuv pool to others. */
const READLINK_BATCH = 32;

export interface Listener {
  ip: string;
  port: number;
  inode: string;
}

/**
 * The kernel prints each 32-bit word of an address as a number in host byte
 * order, so on little-endian hosts the bytes of every word come reversed.
 */
function addressBytes(hex: string, littleEndian: boolean): number[] {
  const bytes: number[] = [];
  for (let w = 0; w + 8 <= hex.length; w += 8) {
    const word: number[] = [];
    for (let b = 0; b < 8; b += 2) word.push(parseInt(hex.slice(w + b, w + b + 2), 16));
    if (littleEndian) word.reverse();
    bytes.push(...word);
  }
  return bytes;
}

/** RFC 5952 text: lower case, the longest run of two or more zero groups as `::`, IPv4-mapped as `::ffff:a.b.c.d`. */
export function formatIpv6(bytes: number[]): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes.slice(12).join('.')}`;
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [bestStart, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Address and port of a `HEXADDR:HEXPORT` field (8 hex digits for IPv4, 32 for IPv6). */
export function parseAddress(
  field: string,
  littleEndian = endianness() === 'LE',
): { ip: string; port: number } | undefined {
  const colon = field.indexOf(':');
  if (colon !== 8 && colon !== 32) return undefined;
  const port = parseInt(field.slice(colon + 1), 16);
  if (!Number.isFinite(port)) return undefined;
  const bytes = addressBytes(field.slice(0, colon), littleEndian);
  return { ip: colon === 8 ? bytes.join('.') : formatIpv6(bytes), port };
}

/** A LISTEN socket from one table line, or undefined for any other line. */
export function parseListenLine(line: string, littleEndian?: boolean): Listener | undefined {
  const f = words(line);
  if (f[3] !== '0A' || f[1] === undefined || f[9] === undefined) return undefined;
  const addr = parseAddress(f[1], littleEndian);
  return addr === undefined ? undefined : { ...addr, inode: f[9] };
}

/** Listening sockets of this network namespace, IPv4 then IPv6. */
export async function readListeners(procRoot = '/proc'): Promise<Listener[]> {
  const out: Listener[] = [];
  const buf = Buffer.allocUnsafe(CHUNK_BYTES);
  const onLine = (state: number, b: Buffer, start: number, end: number): void => {
    if (state !== TCP_LISTEN) return;
    const l = parseListenLine(b.toString('latin1', start, end));
    if (l !== undefined) out.push(l);
  };
  for (const table of ['tcp', 'tcp6']) {
    await scanTcpTable(`${procRoot}/net/${table}`, buf, onLine).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
  return out;
}

/** The inode of a `socket:[12345]` link, or undefined for any other fd. */
function socketInode(link: string): string | undefined {
  return link.startsWith('socket:[') ? link.slice(8, -1) : undefined;
}

/** Which of `pid`'s fds are wanted sockets; nothing when its fds are not ours to read or it has exited. */
async function pidSockets(fdDir: string, wanted: Set<string>): Promise<string[]> {
  let fds: string[];
  try {
    fds = await readdir(fdDir);
  } catch {
    return [];
  }
  const found: string[] = [];
  for (let i = 0; i < fds.length; i += READLINK_BATCH) {
    const links = await Promise.all(
      fds.slice(i, i + READLINK_BATCH).map((fd) => readlink(`${fdDir}/${fd}`).catch(() => '')),
    );
    for (const link of links) {
      const inode = socketInode(link);
      if (inode !== undefined && wanted.has(inode)) found.push(inode);
    }
  }
  return found;
}

/** inode → comm of the first process found holding it; stops once every inode is placed. */
export async function socketOwners(procRoot: string, inodes: Iterable<string>): Promise<Map<string, string>> {
  const wanted = new Set(inodes);
  wanted.delete('0'); // a socket with no inode (being torn down) has no owner to find
  const owners = new Map<string, string>();
  const pids = (await readdir(procRoot)).filter((n) => n.charCodeAt(0) >= 48 && n.charCodeAt(0) <= 57);
  for (const pid of pids) {
    if (wanted.size === 0) break;
    const found = await pidSockets(`${procRoot}/${pid}/fd`, wanted);
    if (found.length === 0) continue;
    const comm = (await readFile(`${procRoot}/${pid}/comm`, 'utf8').catch(() => '')).trim();
    for (const inode of found) {
      owners.set(inode, comm);
      wanted.delete(inode);
    }
  }
  return owners;
}

/** Listening ports with their process names, one per (port, proc_name), by port. */
export async function discoverPorts(options: { procRoot?: string } = {}): Promise<Port[]> {
  const procRoot = options.procRoot ?? '/proc';
  const listeners = await readListeners(procRoot);
  const owners = await socketOwners(
    procRoot,
    listeners.map((l) => l.inode),
  );
  const seen = new Map<string, Port>();
  for (const l of listeners) {
    const proc_name = owners.get(l.inode) ?? '';
    const key = `${l.port}/${proc_name}`;
    if (!seen.has(key)) seen.set(key, { port: l.port, ip: l.ip, proc_name });
  }
  return [...seen.values()].sort(
    (a, b) => a.port - b.port || (a.proc_name ?? '').localeCompare(b.proc_name ?? ''),
  );
}
