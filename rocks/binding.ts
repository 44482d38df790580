/**
 * Helpers on the @nxtedition/rocksdb binding (typed in types/nxtedition-rocksdb.d.ts):
 * a Buffer-keyed handle, and the RocksDB status behind a binding error.
 */
import { RocksLevel } from '@nxtedition/rocksdb';

/** A RocksDB handle with Buffer keys and values. */
export type RocksDb = RocksLevel<Buffer, Buffer>;

/** One operation of a batch built as a list: a put when `value` is set, else a del. */
export interface RocksBatchOp {
  type: 'put' | 'del';
  key: Buffer;
  value?: Buffer;
}

/** A closed RocksDB handle on `location` with Buffer keys and values. */
export function createRocksDb(location: string): RocksDb {
  return new RocksLevel<Buffer, Buffer>(location, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
}

/** The binding reports open failures as LEVEL_DATABASE_NOT_OPEN with the RocksDB status in `cause`. */
export function rocksCause(err: unknown): { code: string; message: string } {
  const cause = (err as { cause?: unknown } | null)?.cause ?? err;
  const c = cause as { code?: unknown; message?: unknown } | null;
  return {
    code: typeof c?.code === 'string' ? c.code : '',
    message: typeof c?.message === 'string' ? c.message : String(cause),
  };
}
