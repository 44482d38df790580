/**
 * Cut a damaged tail off a segment's RocksDB write-ahead logs before
 * RocksDB replays them.
 *
 * Why: RocksDB 9.7's WAL reader can spin forever on some garbage after the
 * last good record (facebook/rocksdb#13333, open): found here with random
 * bytes appended to a spool's WAL, the relay's start then hung at 100 % CPU
 * instead of recovering. Point-in-time recovery, which the spool relies on,
 * stops replaying at the first bad record anyway; cutting the file there
 * first recovers exactly the same records, without giving the reader the
 * bytes it loops on. Every append the spool acknowledged was synced whole,
 * so it lies before any torn or damaged bytes.
 *
 * The log format (RocksDB db/log_format.h): 32 KiB blocks; a physical record
 * is | masked crc32c (4, LE) | length (2, LE) | type (1) | [log number (4),
 * recyclable types] | payload |, never crossing a block; a block's last
 * bytes, too few for a header, are zero padding. The crc covers the type,
 * the log number if any, and the payload. A zero type with zero length is
 * preallocated space: the end of the data.
 */
import fs from 'node:fs';
import path from 'node:path';

const BLOCK = 32 * 1024;
const HEADER = 7;
const RECYCLABLE_HEADER = 11;
/** Types whose header carries the log number (kRecyclable*Type, kRecyclableUserDefinedTimestampSizeType, kRecyclePredecessorWALInfoType). */
const RECYCLABLE = new Set([5, 6, 7, 8, 11, 131]);
const MASK_DELTA = 0xa282ead8;

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC-32C (Castagnoli) of bytes[start, end), continuing `crc`. */
function crc32c(bytes: Uint8Array, start = 0, end = bytes.length, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = start; i < end; i++) c = (TABLE[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return ~c >>> 0;
}

function unmask(masked: number): number {
  const rot = (masked - MASK_DELTA) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}

export interface WalScan {
  /** Bytes from the start that hold whole, valid records (and block padding). */
  validEnd: number;
  /** True when something other than zeros follows validEnd. */
  damaged: boolean;
}

/** Scan one log file's bytes, block by block (`read` fills `buf` from `offset`, returns bytes read). */
export function scanWal(size: number, read: (buf: Buffer, offset: number) => number): WalScan {
  const buf = Buffer.alloc(BLOCK);
  let validEnd = 0;
  for (let blockAt = 0; blockAt < size; blockAt += BLOCK) {
    const n = read(buf, blockAt);
    let at = 0;
    let bad = false;
    while (at < n) {
      if (BLOCK - at < HEADER) {
        at = BLOCK; // padding to the end of the block
        break;
      }
      if (n - at < HEADER) {
        bad = true; // a header cut by the end of the file
        break;
      }
      const length = buf.readUInt16LE(at + 4);
      const type = buf[at + 6] as number;
      if (type === 0 && length === 0) {
        bad = true; // preallocated space: the data ends here (zeros, checked below)
        break;
      }
      const header = RECYCLABLE.has(type) ? RECYCLABLE_HEADER : HEADER;
      const end = at + header + length;
      if (end > n || end > BLOCK) {
        bad = true;
        break;
      }
      const crc = crc32c(buf, at + header, end, crc32c(buf, at + 6, at + header));
      if (crc !== unmask(buf.readUInt32LE(at))) {
        bad = true;
        break;
      }
      at = end;
    }
    if (bad) {
      validEnd = blockAt + at;
      return { validEnd, damaged: !zerosFrom(size, read, buf, validEnd) };
    }
    validEnd = Math.min(size, blockAt + Math.max(at, n));
  }
  return { validEnd, damaged: false };
}

function zerosFrom(
  size: number,
  read: (buf: Buffer, offset: number) => number,
  buf: Buffer,
  from: number,
): boolean {
  for (let at = from; at < size;) {
    const n = read(buf, at);
    if (n <= 0) return true;
    for (let i = 0; i < n; i++) if (buf[i] !== 0) return false;
    at += n;
  }
  return true;
}

export interface CutTail {
  /** The log file that was cut. */
  file: string;
  /** Bytes cut off its end, and bytes kept. */
  cutBytes: number;
  keptBytes: number;
  /** The folder the cut bytes went to, as `<log name>.tail`. */
  savedTo: string;
}

/**
 * For each `*.log` in `dir` with a damaged tail: the bytes after the last
 * valid record are kept as `<saveDir>/<log name>.tail` (for a post-mortem),
 * then the file is cut there and synced. Returns what was cut; nothing when
 * `dir` does not exist yet.
 */
export function cutDamagedWalTails(dir: string, saveDir: string): CutTail[] {
  if (!fs.existsSync(dir)) return [];
  const cut: CutTail[] = [];
  for (const name of fs.readdirSync(dir).sort()) {
    if (!name.endsWith('.log')) continue;
    const file = path.join(dir, name);
    const fd = fs.openSync(file, 'r+');
    try {
      const size = fs.fstatSync(fd).size;
      const read = (buf: Buffer, offset: number): number =>
        fs.readSync(fd, buf, 0, Math.min(buf.length, size - offset), offset);
      const { validEnd, damaged } = scanWal(size, read);
      if (!damaged) continue;
      const tail = Buffer.alloc(size - validEnd);
      fs.readSync(fd, tail, 0, tail.length, validEnd);
      fs.mkdirSync(saveDir, { recursive: true });
      fs.writeFileSync(path.join(saveDir, `${name}.tail`), tail);
      fs.ftruncateSync(fd, validEnd);
      fs.fsyncSync(fd);
      cut.push({ file, cutBytes: size - validEnd, keptBytes: validEnd, savedTo: saveDir });
    } finally {
      fs.closeSync(fd);
    }
  }
  return cut;
}
