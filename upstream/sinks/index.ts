/**
 * Sinks: the upstream's writers to other time-series engines (Prometheus remote_write and
 * OpenTSDB `/api/put`), their naming rules and wire formats. The forwarding log and
 * its cursor live in the store, which encodes each sink's requests with the sink's encoder
 * (sink-encoder.ts) where it reads the log; a runner sends them and acts on the classified result.
 */
export { SinkError, SinkErrorCode } from './errors.js';
export {
  encodeName,
  decodeName,
  promMetricName,
  promLabelName,
  opentsdbName,
  PROM_METRIC_NAME,
  PROM_LABEL_NAME,
} from './names.js';
export {
  promSeries,
  DEFAULT_MAX_LABELS_PER_SERIES,
  type PromDropReason,
  type PromLabel,
  type PromNaming,
  type PromSeries,
} from './prom-series.js';
export { encodeRemoteWrite, decodeRemoteWrite, RemoteWriteEncoder } from './remote-write-encode.js';
export {
  columnsOf,
  MAX_CACHED_SERIES,
  singleBody,
  type EncodedBody,
  type EncodedPart,
  type EncodedRequests,
  type ForwardColumns,
  type SeriesName,
  type SinkEncoder,
} from './sink-encoder.js';
export { createSinkEncoder, type SinkEncoding } from './encoding.js';
export type { WireTimeSeries } from './remote-write-proto.js';
export {
  encodeOpenTsdb,
  OpenTsdbEncoder,
  DEFAULT_OPENTSDB_MAX_TAGS,
  type OpenTsdbDropReason,
  type OpenTsdbNaming,
  type EncodedPut,
} from './opentsdb-encode.js';
export type { HttpSinkOptions } from './http-post.js';
export type { SendResult } from './send-result.js';
export { RemoteWriteClient, remoteWriteNaming, type RemoteWriteOptions } from './remote-write-client.js';
export { OpenTsdbClient, openTsdbNaming, type OpenTsdbOptions } from './opentsdb-client.js';
