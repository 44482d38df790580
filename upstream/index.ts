/** The upstream (central server). Public surface of upstream/. */
export * from './store/index.js';
export { Upstream, type UpstreamStartOptions } from './server.js';
export { DIRECT_ZONE } from './zones.js';
export {
  defaultUpstreamConfig,
  resolveUpstreamConfig,
  loadUpstreamConfig,
  assertUpstreamFiles,
  upstreamPaths,
  type UpstreamConfig,
  type UpstreamConfigInput,
  UpstreamConfigError,
} from './config.js';
export { HttpError, UpstreamErrorCode } from './errors.js';
export { CreditPolicy, CreditLedger, fairShare, DEFAULT_MAX_INFLIGHT_BATCHES } from './credit-policy.js';
export { Registry, type HostRecord, type HostStatus, type RegistryOptions } from './registry.js';
export { RelayDirectory, type RelayRecord, type RelayAuth } from './relays.js';
export { RelayEndpoint, type RelayState } from './relay-endpoint.js';
export { ingest, type IngestRecord, type IngestResult, type RegistryEvent } from './ingest.js';
export { UpstreamMetrics, type UpstreamGaugeSources } from './metrics.js';
export type { Readiness } from '../relay/index.js';
export {
  SinkRunner,
  type SinkClient,
  type SinkRunnerOptions,
  type SinkRunnerStatus,
  type SinkState,
} from './sink-runner.js';
export { SinkSet, publicUrl, type SinkView } from './sink-set.js';
export type { SinkConfig } from './config.js';
