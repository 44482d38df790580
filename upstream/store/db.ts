/** The store's RocksDB handle (binary keys and values) and the two ways every part of the store uses it. */
import type { ChainedBatch, RocksLevel } from '@nxtedition/rocksdb';
import { ioError } from './errors.js';
import { prefixEnd } from './keys.js';

export type DB = RocksLevel<Buffer, Buffer>;

/** Visit keys starting with `prefix` in order, `chunk` rows per read, until `fn` returns false. */
export async function scan(
  db: DB,
  prefix: Buffer,
  chunk: number,
  fn: (key: Buffer, value: Buffer) => boolean,
): Promise<void> {
  const end = prefixEnd(prefix);
  const it = db.iterator(end === undefined ? { gte: prefix } : { gte: prefix, lt: end });
  try {
    for (;;) {
      const rows = await it.nextv(chunk);
      if (rows.length === 0) return;
      for (const [k, v] of rows) if (!fn(k, v)) return;
    }
  } catch (err) {
    throw ioError(err);
  } finally {
    await it.close().catch(() => {});
  }
}

/** Release a batch's native memory. A written batch is closed by write(); this covers the failure paths. */
export async function closeQuietly(batch: ChainedBatch<Buffer, Buffer>): Promise<void> {
  await batch.close().catch(() => {});
}
