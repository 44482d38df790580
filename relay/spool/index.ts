/** The relay's durable spool: interface, RocksDB implementation (also run in a worker thread), in-memory implementation, errors. */
export type {
  Spool,
  SpoolRecord,
  SpoolEntry,
  SeqRange,
  SpoolPolicy,
  ReadLimits,
  SpoolStats,
  SpoolLogger,
  Released,
} from './spool.js';
export { DEFAULT_READ_MAX_RECORDS, DEFAULT_READ_MAX_BYTES } from './spool.js';
export { SpoolError, SpoolErrorCode } from './errors.js';
export { RocksSpool, openRocksSpool, type RocksSpoolOptions } from './rocks-spool.js';
export { WorkerSpool, type WorkerSpoolOptions } from './worker-spool.js';
export { MemorySpool, type MemorySpoolOptions } from './memory-spool.js';
export { recordBytes } from './format.js';
