/**
 * RocksDB key layout of the sample store (one key space, one byte of prefix
 * per kind; numbers big-endian so byte order is numeric order). The layout
 * and its invariants are described in rocks-store.ts.
 */

const P_FORMAT = 0x76; // 'v'
const P_COUNTER = 0x63; // 'c'
const P_SERIES = 0x73; // 's'  series key -> id
export const P_ID = 0x69; // 'i'      id -> series key
const P_BLOCK = 0x62; // 'b'   id, bucket -> block
export const P_LOG = 0x77; // 'w'     seq -> buffered write record
export const P_META = 0x6d; // 'm'    caller meta
export const P_CURSOR = 0x66; // 'f'  sink name -> last accepted log seq (f64)

/** Series ids and bucket numbers are u32 in keys: this is one past the largest. */
export const TWO_32 = 2 ** 32;

export const FORMAT_KEY = Buffer.from([P_FORMAT]);

function counterKey(name: string): Buffer {
  return Buffer.concat([Buffer.from([P_COUNTER]), Buffer.from(name, 'utf8')]);
}

/** The persisted counters (f64): next series id to assign, series (`s` keys), points in blocks. */
export const K_NEXT_ID = counterKey('nextId');
export const K_SERIES = counterKey('series');
export const K_POINTS = counterKey('points');
/** Every log record below this seq is folded into blocks (written by the checkpoint that folded them). */
export const K_FOLDED_BELOW = counterKey('foldedBelow');

export function prefixed(prefix: number, s: string): Buffer {
  const len = Buffer.byteLength(s, 'utf8');
  const b = Buffer.allocUnsafe(1 + len);
  b[0] = prefix;
  b.write(s, 1, 'utf8');
  return b;
}

/** The first key after every key starting with `prefix`, or undefined when none exists (all 0xff). */
export function prefixEnd(prefix: Buffer): Buffer | undefined {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return undefined;
}

export function seriesDictKey(key: string): Buffer {
  return prefixed(P_SERIES, key);
}

export function idKey(id: number): Buffer {
  const b = Buffer.allocUnsafe(5);
  b[0] = P_ID;
  b.writeUInt32BE(id, 1);
  return b;
}

export function blockKey(id: number, bucket: number): Buffer {
  const b = Buffer.allocUnsafe(9);
  b[0] = P_BLOCK;
  b.writeUInt32BE(id, 1);
  b.writeUInt32BE(bucket, 5);
  return b;
}

export function blockKeyBucket(key: Buffer): number {
  return key.readUInt32BE(5);
}

export function logKey(seq: number): Buffer {
  const b = Buffer.allocUnsafe(9);
  b[0] = P_LOG;
  b.writeUInt32BE(Math.floor(seq / TWO_32), 1);
  b.writeUInt32BE(seq >>> 0, 5);
  return b;
}

export function logKeySeq(key: Buffer): number {
  return key.readUInt32BE(1) * TWO_32 + key.readUInt32BE(5);
}

export function cursorKey(sink: string): Buffer {
  return prefixed(P_CURSOR, sink);
}

export function metaKey(key: string): Buffer {
  return prefixed(P_META, key);
}

export function encodeU64(n: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeDoubleBE(n);
  return b;
}

export function decodeU64(b: Buffer | undefined): number {
  if (b === undefined || b.length !== 8) return 0;
  return b.readDoubleBE(0);
}
