/** The options of RocksSampleStore (and WorkerSampleStore), their defaults, and what they resolve to. */
import type { RocksOpenOptions } from '@nxtedition/rocksdb';
import type { CutTail } from '../../rocks/index.js';
import type { SinkEncoding } from '../sinks/index.js';
import type { SeriesKeyLimits } from './series-key.js';
import { DEFAULT_MAX_WRITE_POINTS, type StoreStats } from './types.js';

/** Timer functions, injectable so tests drive the age-based checkpoint without sleeping. */
export interface StoreTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface RocksSampleStoreOptions {
  /** Directory of the RocksDB database (created when missing). */
  location: string;
  /** Time span of one block, fixed when the database is created. Default 1 h. */
  bucketMs?: number;
  /** Fold pending points into blocks once this many are pending. Default 500,000 (~8 MB). */
  maxPendingPoints?: number;
  /** ... or once the oldest pending point was acknowledged this long ago. Default 5 min. */
  maxPendingAgeMs?: number;
  /** Largest accepted write(). Default 100,000 points. */
  maxWritePoints?: number;
  /** Largest group commit (several writes, each whole). Default 64,000 points. */
  maxGroupPoints?: number;
  /** Blocks per checkpoint batch; writes may proceed between batches. Default 2,048. */
  checkpointChunkBlocks?: number;
  /** Series-key -> id cache entries. Default 100,000. */
  seriesCacheSize?: number;
  limits?: Partial<SeriesKeyLimits>;
  now?: () => number;
  timers?: StoreTimers;
  /** Background (timer- or threshold-started) checkpoint failures. Default: ignored, retried next time. */
  onError?: (err: unknown) => void;
  /**
   * Told when open cut a damaged tail off a WAL before RocksDB replayed it (rocks/wal-tail.ts:
   * RocksDB 9.7 can loop forever on some); the cut bytes are kept under `savedTo`.
   */
  onWalTailCut?: (cut: WalTailCut) => void;
  /** Extra RocksDB open options (cacheSize, compression, ...). */
  rocks?: RocksOpenOptions;
  /** Keep the log for these sinks until each accepted it (rocks-store.ts, "Forwarding"). Absent: no forwarding, no cost. */
  forward?: ForwardOptions;
  /**
   * False: fold nothing into blocks (queries return nothing); keep the dictionary, meta and the
   * log for the sinks only. Needs `forward` with at least one sink. Default true.
   */
  keepSamples?: boolean;
}

/** Forwarding to external sinks: their names, and the cap on log held for them with its policy. */
export interface ForwardOptions {
  /** Sink names (unique, non-empty); a sink new to the store starts at the last committed record. */
  sinks: readonly string[];
  /** Most bytes of log records held for sinks. */
  maxBytes: number;
  /** Past maxBytes: advance slow sinks past the oldest records (counted), or refuse writes (retriable). */
  policy: 'drop-oldest' | 'reject-new';
  /** By sink name: how readForwardEncoded builds that sink's request bodies (plain data: it crosses to the worker). */
  encodings?: Readonly<Record<string, SinkEncoding>>;
}

/** RocksSampleStoreOptions without the clock and timers, which stay in the worker with their defaults. */
export type WorkerSampleStoreOptions = Omit<RocksSampleStoreOptions, 'now' | 'timers'>;

/** Counters readable without I/O (no `samples`: paired with `points` only in stats(), after a flush). */
export interface StoreCounters extends Omit<StoreStats, 'samples'> {
  /** Acknowledged points not yet folded into blocks (may rewrite stored timestamps). */
  pendingPoints: number;
}

/** A WAL tail cut at open: the file, the bytes cut and kept, and the folder they went to. */
export type WalTailCut = CutTail;

export const DEFAULT_BUCKET_MS = 3_600_000;

/** The size limits, with their defaults filled in. */
export type StoreLimits = Required<
  Pick<
    RocksSampleStoreOptions,
    'maxPendingPoints' | 'maxPendingAgeMs' | 'maxWritePoints' | 'maxGroupPoints' | 'checkpointChunkBlocks'
  >
>;

export function resolveLimits(options: RocksSampleStoreOptions): StoreLimits {
  return {
    maxPendingPoints: options.maxPendingPoints ?? 500_000,
    maxPendingAgeMs: options.maxPendingAgeMs ?? 300_000,
    maxWritePoints: options.maxWritePoints ?? DEFAULT_MAX_WRITE_POINTS,
    maxGroupPoints: options.maxGroupPoints ?? 64_000,
    checkpointChunkBlocks: options.checkpointChunkBlocks ?? 2048,
  };
}

/** Node's timers, unref'd: a pending age-based checkpoint does not keep the process alive. */
export const defaultTimers: StoreTimers = {
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};
