/** The upstream's sample store: the SampleStore contract and its embedded RocksDB implementation. */
export {
  type StorePoint,
  type MetaOp,
  type WriteExtra,
  type SeriesQuery,
  type SeriesResult,
  type ListSeriesOptions,
  type SeriesInfo,
  type StoreStats,
  type RetentionResult,
  type SampleStore,
  type ForwardRecord,
  type EncodedForwardBatch,
  type ForwardBatch,
  type ForwardStats,
  type SinkForwardStats,
  putMeta,
  delMeta,
  DEFAULT_MAX_WRITE_POINTS,
} from './types.js';
export { StoreError, StoreErrorCode } from './errors.js';
export { RocksSampleStore } from './rocks-store.js';
export { WorkerSampleStore } from './worker-store.js';
export type {
  RocksSampleStoreOptions,
  WorkerSampleStoreOptions,
  StoreCounters,
  StoreTimers,
  WalTailCut,
  ForwardOptions,
} from './options.js';
export { seriesKey, parseSeriesKey, DEFAULT_SERIES_LIMITS, type SeriesKeyLimits } from './series-key.js';
