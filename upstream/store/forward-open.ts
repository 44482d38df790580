/**
 * Forwarding at open (recovery.ts): the sinks' cursors are read before the
 * log is replayed; once it is, a sink new to the store starts at the last
 * committed record, cursors of sinks no longer configured are deleted, and
 * the folded records no sink needs any more are deleted, all in one batch.
 */
import { scan } from './db.js';
import { P_CURSOR, cursorKey, decodeU64, encodeU64, logKey } from './keys.js';
import type { ForwardLog } from './forward-log.js';
import type { StoreState } from './store-state.js';

/** The cursors of configured sinks into `fw`; returns the names of other sinks' cursors (to delete). */
export async function loadCursors(s: StoreState, fw: ForwardLog): Promise<string[]> {
  const wanted = new Set(fw.options.sinks);
  const stale: string[] = [];
  await scan(s.db, Buffer.from([P_CURSOR]), 256, (key, value) => {
    const name = key.toString('utf8', 1);
    if (wanted.has(name)) fw.cursors.set(name, decodeU64(value));
    else stale.push(name);
    return true;
  });
  return stale;
}

/** After the replay: place new sinks, drop stale cursors and the records nobody needs. */
export async function settleCursors(s: StoreState, fw: ForwardLog, stale: readonly string[]): Promise<void> {
  let maxCursor = -1;
  for (const c of fw.cursors.values()) maxCursor = Math.max(maxCursor, c);
  s.nextSeq = Math.max(s.nextSeq, maxCursor + 1);
  const batch: Array<{ type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer }> = [];
  for (const name of fw.options.sinks) {
    if (fw.cursors.has(name)) continue;
    fw.cursors.set(name, s.nextSeq - 1);
    batch.push({ type: 'put', key: cursorKey(name), value: encodeU64(s.nextSeq - 1) });
  }
  for (const name of stale) batch.push({ type: 'del', key: cursorKey(name) });
  const min = fw.minCursor;
  for (const seq of fw.index.foldedThrough(min)) batch.push({ type: 'del', key: logKey(seq) });
  fw.index.popThrough(min);
  if (batch.length > 0) await s.db.batch(batch, { sync: true });
}
