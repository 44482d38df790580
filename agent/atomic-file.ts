/**
 * Small state files (identity, cached host config, the buffer's watermark)
 * written so a crash or power loss leaves the old content or the new, never
 * a mix: write a temporary file, fsync it, rename it over the old one, fsync
 * the directory. Why not `conf`: it loads Ajv (11 MiB of RSS measured, a
 * fifth of the agent's budget) to validate a file only the agent writes,
 * and its writes are not fsynced (docs/agent.md).
 */
import { open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

export async function writeFileAtomic(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await syncDir(dirname(path));
}

/** fsync a directory so a rename or unlink in it survives power loss. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The file's text, or undefined when it does not exist. */
export async function readFileIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function removeFile(path: string): Promise<void> {
  await rm(path, { force: true });
}
