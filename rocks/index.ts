/** RocksDB helpers shared by the relay (spool, config cache) and the upstream (sample store). */
export type { RocksOpenOptions } from '@nxtedition/rocksdb';
export { createRocksDb, rocksCause, type RocksBatchOp, type RocksDb } from './binding.js';
export { RocksError, RocksErrorCode } from './errors.js';
export { lockStateDir, type StateLock } from './state-lock.js';
export { cutDamagedWalTails, scanWal, type CutTail, type WalScan } from './wal-tail.js';
