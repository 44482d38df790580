/** owl-agent: the host agent. Imports only protocol/wire (no Ajv, no RocksDB: it runs on every host). */
export { Agent, hostConfigRequest, type AgentOptions, type AgentStatus } from './agent.js';
export {
  BatchLog,
  type BatchLogOptions,
  type BatchLogStats,
  type BufferedBatch,
} from './buffer/batch-log.js';
export { encodeRecord, scanRecords, RECORD_HEADER_BYTES } from './buffer/record.js';
export { Batcher } from './batcher.js';
export { CollectorRunner } from './collect.js';
export {
  builtinCollectors,
  discoverAssets,
  discoverPorts,
  type Collector,
  type Reading,
} from './collectors/index.js';
export { check as checkRule, ConfigError, type Rule } from './config-check.js';
export {
  AGENT_CONFIG_RULE,
  checkAgentConfig,
  defaultAgentConfig,
  relayAddresses,
  resolveAgentConfig,
  type AgentConfig,
  type AgentConfigInput,
} from './config.js';
export { loadHostCache, parseHost, saveHostCache } from './host-cache.js';
export { loadIdentity } from './identity.js';
export { nullLogger, type AgentLogger } from './log.js';
export { parseHostPort, type RelayAddress } from './link/address.js';
export { RelayConnection } from './link/connection.js';
export { Sender, type SenderOptions, type SenderStatus } from './link/sender.js';
export { seriesDataFrames, v3MetricName } from './link/v3-frames.js';
export { fetchAgentStatus } from './status-socket.js';
export { parseClientConf, readV3Dir } from './v3-migration.js';
export { AGENT_NAME, AGENT_VERSION } from './version.js';
export { RateTracker, ratesFromReadings, seriesKey, wrappedDelta, type RawReading } from './rates.js';
export { crc32 } from './buffer/record.js';
export { jsonLogger } from './json-log.js';
export { AgentErrorCode } from './errors.js';
