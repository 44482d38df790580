/**
 * Types for `@nxtedition/rocksdb` (it ships none): the abstract-level API
 * subset OWL uses, the one typing of it (the relay's spool and config cache,
 * the upstream's store, rocks/). Helpers on top: rocks/binding.ts.
 *
 * What the binding offers and lacks shaped the spool and the store: a batch
 * written with `{ sync: true }` is the only durable write (put/del ignore
 * `sync`; see docs/architecture.md); batches hold only put/del (no
 * DeleteRange); there is no CompactRange, DeleteFilesInRange or RepairDB.
 * Open failures are LEVEL_DATABASE_NOT_OPEN with the RocksDB status in
 * `cause` (rocks/binding.ts rocksCause); a LOCK held by another process or
 * another open in this one is `cause.code` LEVEL_LOCKED.
 */
declare module '@nxtedition/rocksdb' {
  import type { EventEmitter } from 'node:events';

  type Encoding = 'buffer' | 'utf8' | 'view' | 'json';

  export interface RocksOpenOptions {
    createIfMissing?: boolean;
    errorIfExists?: boolean;
    keyEncoding?: Encoding;
    valueEncoding?: Encoding;
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
    [option: string]: unknown;
  }

  export interface RangeOptions<K> {
    gt?: K;
    gte?: K;
    lt?: K;
    lte?: K;
    reverse?: boolean;
    limit?: number;
  }

  export interface IteratorOptions<K> extends RangeOptions<K> {
    keys?: boolean;
    values?: boolean;
    keyEncoding?: Encoding;
    valueEncoding?: Encoding;
    highWaterMarkBytes?: number;
    fillCache?: boolean;
  }

  export interface WriteOptions {
    /** fdatasync the WAL before resolving: the only durable write. */
    sync?: boolean;
  }

  export type BatchOperation<K, V> = { type: 'put'; key: K; value: V } | { type: 'del'; key: K };

  /** write() closes it, which frees the native WriteBatch at once. */
  export interface ChainedBatch<K, V> {
    readonly length: number;
    put(key: K, value: V): this;
    del(key: K): this;
    clear(): this;
    write(options?: WriteOptions): Promise<void>;
    close(): Promise<void>;
  }

  export interface RocksIterator<K, V> extends AsyncIterable<[K, V]> {
    next(): Promise<[K, V] | undefined>;
    nextv(size: number): Promise<Array<[K, V]>>;
    all(): Promise<Array<[K, V]>>;
    seek(target: K): void;
    close(): Promise<void>;
  }

  export interface RocksKeyIterator<K> extends AsyncIterable<K> {
    next(): Promise<K | undefined>;
    nextv(size: number): Promise<K[]>;
    all(): Promise<K[]>;
    close(): Promise<void>;
  }

  export class RocksLevel<K = string, V = string> extends EventEmitter {
    constructor(location: string, options?: RocksOpenOptions);
    readonly status: 'opening' | 'open' | 'closing' | 'closed';
    readonly location: string;
    open(options?: RocksOpenOptions): Promise<void>;
    close(): Promise<void>;
    get(key: K): Promise<V>;
    getMany(keys: K[]): Promise<Array<V | undefined>>;
    put(key: K, value: V): Promise<void>;
    del(key: K): Promise<void>;
    /**
     * Avoid on hot paths: the binding never closes the batch it builds for
     * this form, so each one's native memory waits for a garbage collection
     * V8 has no reason to run, and RSS grows with every byte written. Use
     * the chained form.
     */
    batch(operations: Array<BatchOperation<K, V>>, options?: WriteOptions): Promise<void>;
    batch(): ChainedBatch<K, V>;
    iterator(options?: IteratorOptions<K>): RocksIterator<K, V>;
    keys(options?: IteratorOptions<K>): RocksKeyIterator<K>;
    values(options?: IteratorOptions<K>): RocksKeyIterator<V>;
    clear(options?: RangeOptions<K>): Promise<void>;
    getProperty(property: string): string;
  }
}
