/** The relay: one per network zone. Public surface of relay/. */
export { AccessPolicy, unmapIPv4 } from './access.js';
export { AgentConnection } from './agent-connection.js';
export type { AgentSink, AgentFirmwareSink, AgentConnectionOptions, SpoolRequest } from './agent-sink.js';
// The upstream serves its direct agents' firmware with the relay's own service.
export {
  AgentFirmwareService,
  Offers as FirmwareOffers,
  type AgentServiceOptions,
  type BundleSource,
} from './firmware/index.js';
export {
  AgentServer,
  DEFAULT_EVICT_IDLE_MS,
  type AgentServerOptions,
  type ListenAddress,
} from './agent-server.js';
export { Backoff, DEFAULT_BACKOFF, TEST_BACKOFF, type BackoffOptions } from './backoff.js';
export { BatchDedupe, type BatchDedupeOptions, type DedupeResult } from './dedupe.js';
export { DropCount } from './drop-count.js';
export { SpoolRefusals, type SpoolRefusalsOptions, type RefusalLogger } from './refusals.js';
export {
  OutageLog,
  DEFAULT_SUMMARY_MS,
  uplinkFailure,
  type AttemptEnd,
  type OutageLogOptions,
  type UplinkFailure,
  type SpooledFigures,
} from './outage-log.js';
export { DrainProgress, DEFAULT_DRAIN_PROGRESS_MS, type DrainProgressOptions } from './drain-progress.js';
export { AgentLog, type AgentLogOptions } from './agent-log.js';
export { ConfigCache, type ConfigCacheOptions } from './config-cache.js';
export { RelayError, RelayErrorCode } from './errors.js';
export {
  defaultRelayConfig,
  resolveRelayConfig,
  loadRelayConfig,
  assertRunnable,
  unreadableFile,
  statePaths,
  type RelayConfig,
  type RelayConfigInput,
} from './config.js';
export { RelayMetrics, type RelayStatus } from './metrics.js';
export {
  collectProcessMetrics,
  listenHealthAndMetrics,
  probe,
  readiness,
  type Readiness,
} from './health-http.js';
export { Relay, type RelayStartOptions } from './relay.js';
export { applyRelayProcessSettings, relayProcessSettings, type ProcessSettings } from './process-settings.js';
export {
  UplinkClient,
  TLS_FAILURES_BEFORE_SLOW,
  type UplinkClientOptions,
  type UplinkState,
} from './uplink-client.js';
export * from './spool/index.js';
export { fetchStatus } from './control.js';
export { IngestGate } from './ingest-gate.js';
export { Packer, type PackerOptions } from './packer.js';
export { PacketDrops, type PacketDropsOptions } from './packet-drops.js';
export { parseHostPort } from './host-port.js';
