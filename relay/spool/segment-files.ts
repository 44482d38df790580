/**
 * Segment directories as files: removed atomically (renamed to trash, the
 * parent fsynced, then deleted), and told apart when RocksDB never finished
 * creating them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fsyncDirSync } from './disk-usage.js';
import { TRASH_PREFIX } from './format.js';

/**
 * True for a segment directory RocksDB never finished creating: no CURRENT
 * (written last, by rename, when a database is created), no table files and
 * no non-empty WAL. Records are only ever written after creation completed,
 * so such a directory holds nothing; with any data file it is damage instead.
 */
export function neverCreated(segDir: string): boolean {
  const names = fs.readdirSync(segDir);
  if (names.includes('CURRENT')) return false;
  for (const n of names) {
    if (n.endsWith('.sst')) return false;
    if (n.endsWith('.log') && fs.statSync(path.join(segDir, n)).size > 0) return false;
  }
  return true;
}

/** Rename a segment directory to trash (atomic), fsync the parent, then delete the trash. */
export async function removeSegmentDir(dir: string, name: string): Promise<void> {
  const trash = path.join(dir, `${TRASH_PREFIX}${name}-${randomUUID().slice(0, 8)}`);
  try {
    fs.renameSync(path.join(dir, name), trash);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  fsyncDirSync(dir);
  await fs.promises.rm(trash, { recursive: true, force: true });
}
