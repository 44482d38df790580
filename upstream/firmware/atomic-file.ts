/**
 * Small JSON state files (publications, unit reports) replaced whole and atomically: a temporary
 * file, fsync, rename over the old one, fsync of the directory. A crash leaves the old or the new
 * file, never a mix; a leftover temporary file is ignored (and overwritten by the next write).
 */
import { open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Replace `path` with `data`, durably. */
export async function writeFileAtomic(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await syncDir(dirname(path));
}

/** fsync a directory, so a rename or a new entry in it survives power loss. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The JSON in `path`, or undefined when there is no such file. */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text) as unknown;
}
