/** Coded errors of the upstream sample store, in the protocol's `OWL_ERR_*` form. */
import { OwlError, type OwlErrorOptions } from '../../protocol/index.js';

/** Stable store error codes. */
export const StoreErrorCode = {
  /** A point with a bad metric, tag, timestamp or value; the whole write is rejected. */
  BAD_POINT: 'OWL_ERR_STORE_BAD_POINT',
  /** A meta operation with a bad key or value; the whole write is rejected. */
  BAD_META: 'OWL_ERR_STORE_BAD_META',
  /** A query or listing with bad arguments. */
  BAD_QUERY: 'OWL_ERR_STORE_BAD_QUERY',
  /** A store option out of range (e.g. bucketMs). */
  BAD_OPTION: 'OWL_ERR_STORE_BAD_OPTION',
  /** More points in one write than `maxWritePoints`. */
  WRITE_TOO_LARGE: 'OWL_ERR_STORE_WRITE_TOO_LARGE',
  /** The store is closing or closed. */
  CLOSED: 'OWL_ERR_STORE_CLOSED',
  /** RocksDB refused a read or write (disk full, I/O error). Retriable: nothing was half-written. */
  IO: 'OWL_ERR_STORE_IO',
  /** The log held for forwarding sinks is at its byte cap (policy reject-new). Retriable: nothing was written. */
  FORWARD_FULL: 'OWL_ERR_STORE_FORWARD_FULL',
  /** A stored record does not decode: the database was damaged or written by something else. */
  CORRUPT: 'OWL_ERR_STORE_CORRUPT',
} as const;
export type StoreErrorCode = (typeof StoreErrorCode)[keyof typeof StoreErrorCode];

/** Raised by the sample store. */
export class StoreError extends OwlError {
  constructor(code: StoreErrorCode, message: string, options?: OwlErrorOptions) {
    super(code, message, options);
  }
}

/** A RocksDB failure as the store reports it: retriable, since a failed batch wrote nothing. */
export function ioError(err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  return new StoreError(StoreErrorCode.IO, `RocksDB: ${(err as Error)?.message ?? String(err)}`, {
    retriable: true,
    cause: err,
  });
}

export function closedError(): StoreError {
  return new StoreError(StoreErrorCode.CLOSED, 'sample store is closed');
}

export function badQuery(message: string): StoreError {
  return new StoreError(StoreErrorCode.BAD_QUERY, message);
}
