/**
 * Sinks: the upstream's writers to other time-series engines (Prometheus remote_write and
 * OpenTSDB `/api/put`), their naming rules and wire formats. Stateless: the forwarding log and
 * its cursor live in the store; a runner calls `send(points)` and acts on the classified result.
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
export {
  encodeRemoteWrite,
  encodeWriteRequest,
  decodeRemoteWrite,
  buildTimeSeries,
  type EncodedRequest,
} from './remote-write-encode.js';
export type { WireTimeSeries } from './remote-write-proto.js';
export {
  encodeOpenTsdb,
  DEFAULT_OPENTSDB_MAX_TAGS,
  type OpenTsdbDropReason,
  type OpenTsdbNaming,
  type OpenTsdbPut,
  type EncodedPut,
} from './opentsdb-encode.js';
export type { HttpSinkOptions } from './http-post.js';
export type { SendResult } from './send-result.js';
export { RemoteWriteClient, type RemoteWriteOptions } from './remote-write-client.js';
export { OpenTsdbClient, type OpenTsdbOptions } from './opentsdb-client.js';
