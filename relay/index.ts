/** The relay: one per network zone. Public surface of relay/. */
export { AccessPolicy, unmapIPv4 } from './access.js';
export {
  AgentConnection,
  PROTOCOL_VERSION,
  RELAY_FEATURES,
  type AgentSink,
  type AgentConnectionOptions,
  type SpoolRequest,
} from './agent-connection.js';
export { AgentServer, type AgentServerOptions, type ListenAddress } from './agent-server.js';
export { Backoff, DEFAULT_BACKOFF, TEST_BACKOFF, type BackoffOptions } from './backoff.js';
export { BatchDedupe, type BatchDedupeOptions, type DedupeResult } from './dedupe.js';
export { DropCount } from './drop-count.js';
export { SpoolRefusals, type SpoolRefusalsOptions, type RefusalLogger } from './refusals.js';
export { ConfigCache, type ConfigCacheOptions } from './config-cache.js';
export { RelayError, RelayErrorCode } from './errors.js';
export {
  defaultRelayConfig,
  resolveRelayConfig,
  loadRelayConfig,
  statePaths,
  DEFAULT_STATE_DIR,
  type RelayConfig,
  type RelayConfigInput,
} from './config.js';
export { RelayMetrics, type RelayStatus } from './metrics.js';
export { Relay, RELAY_VERSION, type RelayStartOptions } from './relay.js';
export {
  UplinkClient,
  TLS_FAILURES_BEFORE_SLOW,
  type UplinkClientOptions,
  type UplinkState,
} from './uplink-client.js';
export * from './spool/index.js';
export { controlSocketPath, fetchStatus } from './control.js';
export { IngestGate } from './ingest-gate.js';
export { Packer, type PackerOptions } from './packer.js';
export { parseHostPort } from './host-port.js';
