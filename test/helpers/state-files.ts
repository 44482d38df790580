/**
 * What a program's state dir holds on disk, for tests that must show a second
 * instance left a running one's files alone: every RocksDB write-ahead log
 * under it, byte for byte, and anything moved aside as damaged.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Every file under `dir`, recursively, as paths relative to it. */
function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[])
    .filter((p) => statSync(join(dir, p)).isFile())
    .sort();
}

/** Each `*.log` (RocksDB WAL) under `dir`: relative path → sha256 of its bytes. */
export function walDigests(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of filesUnder(dir).filter((f) => f.endsWith('.log')))
    out[p] = createHash('sha256')
      .update(readFileSync(join(dir, p)))
      .digest('hex');
  return out;
}

/** Entries under `dir` whose name says something was moved aside as damaged (`*.damaged-*`). */
export function damagedEntries(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((p) => p.includes('.damaged-')).sort();
}

/**
 * Append `bytes` to the newest WAL in `rocksDir` (a RocksDB's directory): what a
 * record being written, or damage, leaves after the last whole record. Returns the file's path.
 */
export function appendToNewestWal(rocksDir: string, bytes: Buffer): string {
  const logs = readdirSync(rocksDir)
    .filter((f) => f.endsWith('.log'))
    .sort();
  const newest = logs[logs.length - 1];
  if (newest === undefined) throw new Error(`no WAL in ${rocksDir}`);
  const file = join(rocksDir, newest);
  appendFileSync(file, bytes);
  return file;
}
