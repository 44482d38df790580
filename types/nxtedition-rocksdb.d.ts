/**
 * Types for `@nxtedition/rocksdb` (it ships none): the abstract-level API
 * subset OWL uses. Only synced batches are durable (see docs/architecture.md).
 */
declare module '@nxtedition/rocksdb' {
  import type { EventEmitter } from 'node:events';

  type Encoding = 'buffer' | 'utf8' | 'view' | 'json';

  export interface RocksOpenOptions {
    createIfMissing?: boolean;
    errorIfExists?: boolean;
    keyEncoding?: Encoding;
    valueEncoding?: Encoding;
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
    batch(operations: Array<BatchOperation<K, V>>, options?: WriteOptions): Promise<void>;
    batch(): ChainedBatch<K, V>;
    iterator(options?: IteratorOptions<K>): RocksIterator<K, V>;
    keys(options?: IteratorOptions<K>): RocksKeyIterator<K>;
    values(options?: IteratorOptions<K>): RocksKeyIterator<V>;
    clear(options?: RangeOptions<K>): Promise<void>;
    getProperty(property: string): string;
  }
}
