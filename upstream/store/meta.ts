/**
 * Caller meta (`m <key>`): key/value entries the upstream commits in the same
 * synced batch as a write's points (its de-duplication record, the registry),
 * so that "batch stored" and "batch marked as stored" never disagree.
 */
import type { ChainedBatch } from '@nxtedition/rocksdb';
import { scan, type DB } from './db.js';
import { StoreError, StoreErrorCode, badQuery, ioError } from './errors.js';
import { P_META, metaKey, prefixed } from './keys.js';
import type { MetaOp } from './types.js';

const MAX_META_KEY_CHARS = 1024;

function checkMetaKey(key: unknown): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_META_KEY_CHARS) {
    throw new StoreError(StoreErrorCode.BAD_META, 'meta key must be a non-empty string within 1024 chars');
  }
}

export function checkMetaOp(op: MetaOp): void {
  if (typeof op !== 'object' || op === null)
    throw new StoreError(StoreErrorCode.BAD_META, 'meta op must be an object');
  checkMetaKey(op.key);
  if (op.type === 'put') {
    if (typeof op.value !== 'string' && !(op.value instanceof Uint8Array)) {
      throw new StoreError(StoreErrorCode.BAD_META, 'meta value must be a string or bytes');
    }
  } else if (op.type !== 'del') {
    throw new StoreError(StoreErrorCode.BAD_META, 'meta op type must be put or del');
  }
}

/** Add checked meta ops to `batch`, in order (a later op on a key wins). */
export function addMetaOps(batch: ChainedBatch<Buffer, Buffer>, ops: readonly MetaOp[]): void {
  for (const op of ops) {
    if (op.type === 'put') {
      batch.put(
        metaKey(op.key),
        typeof op.value === 'string' ? Buffer.from(op.value, 'utf8') : Buffer.from(op.value),
      );
    } else {
      batch.del(metaKey(op.key));
    }
  }
}

export async function getMeta(db: DB, key: string): Promise<Buffer | undefined> {
  checkMetaKey(key);
  try {
    const [v] = await db.getMany([metaKey(key)]);
    return v;
  } catch (err) {
    throw ioError(err);
  }
}

export async function listMeta(db: DB, prefix: string, limit: number): Promise<Array<[string, Buffer]>> {
  if (typeof prefix !== 'string') throw badQuery('prefix must be a string');
  const out: Array<[string, Buffer]> = [];
  if (limit <= 0) return out;
  await scan(db, prefixed(P_META, prefix), Math.min(limit, 1024), (key, value) => {
    out.push([key.toString('utf8', 1), value]);
    return out.length < limit;
  });
  return out;
}
