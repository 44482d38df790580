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
export { ConfigCache, type ConfigCacheOptions } from './config-cache.js';
export { RelayError, RelayErrorCode } from './errors.js';
