import fs from 'node:fs';
import path from 'node:path';

/**
 * Sum of the sizes of the regular files under `dir`, recursively. RocksDB
 * deletes files in background threads, so a file listed may be gone by the
 * time it is stat'ed: such files count as 0. A missing `dir` measures 0.
 */
export function dirBytesSync(dir: string): number {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if (isGone(err)) return 0;
    throw err;
  }
  let total = 0;
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      total += dirBytesSync(p);
    } else if (e.isFile()) {
      try {
        total += fs.statSync(p).size;
      } catch (err) {
        if (!isGone(err)) throw err;
      }
    }
  }
  return total;
}

/** Async `dirBytesSync`. */
export async function dirBytes(dir: string): Promise<number> {
  let entries: fs.Dirent[];
  try {
    entries = await fs.promises.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isGone(err)) return 0;
    throw err;
  }
  const sizes = await Promise.all(
    entries.map(async (e) => {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) return dirBytes(p);
      if (!e.isFile()) return 0;
      try {
        return (await fs.promises.stat(p)).size;
      } catch (err) {
        if (isGone(err)) return 0;
        throw err;
      }
    }),
  );
  return sizes.reduce((a, b) => a + b, 0);
}

function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** fsync a directory so renames and new entries in it survive power loss. */
export function fsyncDirSync(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
