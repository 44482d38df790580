/**
 * Typed view of the parts of @nxtedition/rocksdb (RocksLevel, an abstract-level
 * database) the spool uses. The package ships no type declarations.
 *
 * What the binding offers and lacks shaped the spool: a batch written with
 * `{ sync: true }` is the only durable write (put/del ignore `sync`); batches hold only put/del
 * (no DeleteRange); there is no CompactRange, DeleteFilesInRange or RepairDB.
 */
import { createRequire } from 'node:module';

export interface RocksOpenOptions {
  createIfMissing?: boolean;
  compaction?: 'level' | 'universal';
  /** Sets write_buffer_size to a quarter of this (only together with `compaction`). */
  memtableMemoryBudget?: number;
  /** true: ZSTD with dictionaries everywhere; false: RocksDB default, here none on L0-L1 and ZSTD below. */
  compression?: boolean;
  compactionPriority?:
    'byCompensatedSize' | 'oldestLargestSeqFirst' | 'smallestSeqFirst' | 'overlappingRatio';
  /** Block cache bytes; 0 disables the block cache. */
  cacheSize?: number;
  blockSize?: number;
  /** RocksDB filter policy string; '' for none. */
  filterPolicy?: string;
  walCompression?: boolean;
}

export interface RocksBatchOp {
  type: 'put' | 'del';
  key: Buffer;
  value?: Buffer;
}

/** abstract-level chained batch: write() closes it, which frees the native WriteBatch at once. */
export interface RocksChainedBatch {
  put(key: Buffer, value: Buffer): RocksChainedBatch;
  del(key: Buffer): RocksChainedBatch;
  write(options: { sync: boolean }): Promise<void>;
  close(): Promise<void>;
}

export interface RocksIteratorOptions {
  gte?: Buffer;
  lt?: Buffer;
  lte?: Buffer;
  limit?: number;
  keys?: boolean;
  values?: boolean;
}

export interface RocksIterator {
  nextv(size: number): Promise<Array<[Buffer, Buffer]>>;
  close(): Promise<void>;
}

export interface RocksDb {
  readonly status: string;
  open(options: RocksOpenOptions): Promise<void>;
  close(): Promise<void>;
  /**
   * A chained batch. (The array form `batch(ops, options)` is not used: the
   * binding never closes the batch it builds for it, so each one's native
   * memory waits for a garbage collection V8 has no reason to run, and RSS
   * grows with every byte written.)
   */
  batch(): RocksChainedBatch;
  getMany(keys: Buffer[]): Promise<Array<Buffer | undefined>>;
  iterator(options: RocksIteratorOptions): RocksIterator;
  getProperty(name: string): string;
}

type RocksLevelCtor = new (
  location: string,
  options: { keyEncoding: 'buffer'; valueEncoding: 'buffer' },
) => RocksDb;

const require = createRequire(import.meta.url);
const { RocksLevel } = require('@nxtedition/rocksdb') as { RocksLevel: RocksLevelCtor };

/** A closed RocksDB handle on `location` with Buffer keys and values. */
export function createRocksDb(location: string): RocksDb {
  return new RocksLevel(location, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
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
