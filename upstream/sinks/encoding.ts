/**
 * A sink's encoding as plain data: what the store's worker thread needs to build the sink's
 * request bodies itself (sink-encoder.ts), sent to it with the store's options.
 */
import { OpenTsdbEncoder, type OpenTsdbNaming } from './opentsdb-encode.js';
import type { PromNaming } from './prom-series.js';
import { RemoteWriteEncoder } from './remote-write-encode.js';
import type { SinkEncoder } from './sink-encoder.js';

export type SinkEncoding =
  { type: 'remote_write'; naming: PromNaming } | { type: 'opentsdb'; naming: OpenTsdbNaming };

export function createSinkEncoder(e: SinkEncoding): SinkEncoder {
  return e.type === 'remote_write' ? new RemoteWriteEncoder(e.naming) : new OpenTsdbEncoder(e.naming);
}
