/**
 * A sink's encoder: a read of the store's forwarding log, as columns of series ids, timestamps
 * and values, becomes one request body. It runs where the log is read (the store's worker
 * thread), so only the finished body crosses to the thread that sends it, and it keeps each
 * series' names encoded across requests (store ids are never reused, so an entry never goes
 * stale): a series is named once, not once per request.
 */
import type { StorePoint } from '../store/index.js';

/** A store series as the dictionary gives it. */
export interface SeriesName {
  metric: string;
  tags: Readonly<Record<string, string>>;
}

/** Point i is series `ids[i]` at `ts[i]` (ms) with value `vals[i]`; `nameOf` resolves an id. */
export interface ForwardColumns {
  ids: readonly number[];
  ts: readonly number[];
  vals: readonly number[];
  nameOf(id: number): SeriesName | undefined;
}

/** One request body and the samples in it. */
export interface EncodedPart {
  body: Uint8Array;
  samples: number;
}

/**
 * A read encoded as up to `shards` requests that may be sent at once: a series is in one of
 * them only, so each series' samples still reach the sink in time order.
 */
export interface EncodedRequests {
  /** Never an empty one; none when no sample was left to send. */
  parts: EncodedPart[];
  /** Samples in all parts. */
  samples: number;
  /** Points left out, by reason (names or labels the sink cannot carry). */
  dropped: Record<string, number>;
}

export interface SinkEncoder {
  encode(columns: ForwardColumns, shards?: number): EncodedRequests;
}

/** A one-shard encoding as one body (empty when nothing is left to send). */
export interface EncodedBody {
  body: Uint8Array;
  samples: number;
  dropped: Record<string, number>;
}

export function singleBody(e: EncodedRequests): EncodedBody {
  return { body: e.parts[0]?.body ?? new Uint8Array(0), samples: e.samples, dropped: e.dropped };
}

/** Series encodings kept per encoder; past this many the cache starts again (bounded memory). */
export const MAX_CACHED_SERIES = 100_000;

/**
 * Columns for points given as objects (a client's `send(points)`, tests): one id per distinct
 * series, metric and tags in their given order.
 */
export function columnsOf(points: readonly StorePoint[]): ForwardColumns {
  const idOf = new Map<string, number>();
  const names: SeriesName[] = [];
  const ids: number[] = [];
  const ts: number[] = [];
  const vals: number[] = [];
  for (const p of points) {
    let key = p.metric;
    for (const k in p.tags) key += '\0' + k + '\0' + p.tags[k];
    let id = idOf.get(key);
    if (id === undefined) {
      id = names.length;
      idOf.set(key, id);
      names.push({ metric: p.metric, tags: p.tags });
    }
    ids.push(id);
    ts.push(p.timestampMs);
    vals.push(p.value);
  }
  return { ids, ts, vals, nameOf: (id) => names[id] };
}

/** Count `n` points dropped for `reason`. */
export function countDrop(dropped: Record<string, number>, reason: string, n = 1): void {
  dropped[reason] = (dropped[reason] ?? 0) + n;
}

/** A body that crossed from the worker as a plain Uint8Array, as a Buffer (no copy). */
export function bodyBuffer(body: Uint8Array): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}
