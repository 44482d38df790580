/** Upstream configuration: defaults for everything; every path and port overridable. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OwlError, UPLINK_DEFAULT_HEARTBEAT_MS, UPLINK_DEFAULT_WINDOW } from '../protocol/index.js';
import { DEFAULT_MAX_INFLIGHT_BATCHES } from './credit-policy.js';
import { UpstreamErrorCode } from './errors.js';

/** A config the upstream cannot run with (OWL_ERR_CONFIG_INVALID, as the relay's). */
export class UpstreamConfigError extends OwlError {
  constructor(message: string) {
    super(UpstreamErrorCode.CONFIG_INVALID, `upstream config: ${message}`);
  }
}

export interface UpstreamConfig {
  stateDir: string;
  /** Relay uplink (WebSocket) listener. */
  uplink: { host: string; port: number };
  /** Plain TCP (or TLS) listener for v3 agents and v3 proxies that reach the upstream directly. */
  agents: { host: string; port: number }[];
  /** Operator HTTP JSON API (and the dashboard). */
  api: { host: string; port: number };
  /** Prometheus /metrics, /healthz and /readyz: on by default, on loopback (port 0: any free port, logged). */
  metrics: { enabled: boolean; host: string; port: number };
  /**
   * PEM files: TLS for the uplink and API listeners and the agent listener.
   * `requestCert: true` with `ca` turns on mTLS for the uplink listener only:
   * relays must present a certificate signed by `ca` whose CN or a SAN DNS
   * name is their relay id (the token is still required). The API and agent
   * listeners never ask for client certificates.
   */
  tls?: { cert: string; key: string; ca?: string; requestCert?: boolean };
  /** API bearer token; when absent one is made at first start and kept in `<stateDir>/api-token` (mode 0600). */
  apiToken?: string;
  autoRegister: boolean;
  heartbeatMs: number;
  missedHeartbeats: number;
  /** Most unacknowledged batches one relay may have in flight (its window while few relays share the budget). */
  relayWindow: number;
  /** Unacknowledged batches across all relays, shared evenly: each gets max(1, min(relayWindow, floor(this / relays))). */
  maxInflightBatches: number;
  /** Uplink PING period of both ends (WELCOME heartbeatMs); a link silent for 3 periods is dropped. */
  uplinkHeartbeatMs: number;
  /** CIDRs from which HELLO-less (v3) agents may connect directly. */
  v3Allow: string[];
  /** v3 proxies (td-proxy): source address → zone they serve. */
  v3Proxies: Record<string, string>;
  retentionDays: number;
  /** Run the sample store's RocksDB in a worker thread, so its synced writes do not stall this one. */
  storeWorker: boolean;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

export function defaultUpstreamConfig(): UpstreamConfig {
  return {
    stateDir: '/var/lib/owl-upstream',
    uplink: { host: '0.0.0.0', port: 7080 },
    agents: [{ host: '0.0.0.0', port: 7071 }],
    api: { host: '127.0.0.1', port: 7090 },
    metrics: { enabled: true, host: '127.0.0.1', port: 9465 },
    autoRegister: true,
    heartbeatMs: 30_000,
    missedHeartbeats: 3,
    relayWindow: UPLINK_DEFAULT_WINDOW,
    maxInflightBatches: DEFAULT_MAX_INFLIGHT_BATCHES,
    uplinkHeartbeatMs: UPLINK_DEFAULT_HEARTBEAT_MS,
    v3Allow: ['127.0.0.0/8', '::1/128'],
    v3Proxies: {},
    retentionDays: 90,
    storeWorker: true,
    logLevel: 'info',
  };
}

export type UpstreamConfigInput = Partial<UpstreamConfig>;

/** Merge `input` over the defaults; throws OWL_ERR_CONFIG_INVALID for credit or TLS settings that cannot work. */
export function resolveUpstreamConfig(input: UpstreamConfigInput): UpstreamConfig {
  const config = { ...defaultUpstreamConfig(), ...input };
  for (const key of ['relayWindow', 'maxInflightBatches'] as const) {
    const value = config[key];
    if (!Number.isInteger(value) || value < 1 || value > 65_535) {
      throw new UpstreamConfigError(`${key} must be an integer 1-65535, not ${String(value)}`);
    }
  }
  if (config.tls?.requestCert === true && config.tls.ca === undefined) {
    throw new UpstreamConfigError('tls.requestCert needs tls.ca, the CA that signs relay certificates');
  }
  return config;
}

export function loadUpstreamConfig(
  file: string | undefined,
  overrides: UpstreamConfigInput = {},
): UpstreamConfig {
  const fromFile = file === undefined ? {} : (JSON.parse(readFileSync(file, 'utf8')) as UpstreamConfigInput);
  return resolveUpstreamConfig({ ...fromFile, ...overrides });
}

export function upstreamPaths(config: UpstreamConfig): { store: string; apiToken: string } {
  return { store: join(config.stateDir, 'store'), apiToken: join(config.stateDir, 'api-token') };
}
