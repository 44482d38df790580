/** Upstream configuration: defaults for everything; every path and port overridable. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface UpstreamConfig {
  stateDir: string;
  /** Relay uplink (WebSocket) listener. */
  uplink: { host: string; port: number };
  /** Plain TCP (or TLS) listener for v3 agents and v3 proxies that reach the upstream directly. */
  agents: { host: string; port: number }[];
  /** Operator HTTP JSON API. */
  api: { host: string; port: number };
  /** PEM files: TLS for the uplink and API listeners and the agent listener. */
  tls?: { cert: string; key: string; ca?: string; requestCert?: boolean };
  /** API bearer token; when absent one is made at first start and kept in `<stateDir>/api-token` (mode 0600). */
  apiToken?: string;
  autoRegister: boolean;
  heartbeatMs: number;
  missedHeartbeats: number;
  /** Window of unacknowledged batches granted to each relay. */
  relayWindow: number;
  uplinkHeartbeatMs: number;
  /** CIDRs from which HELLO-less (v3) agents may connect directly. */
  v3Allow: string[];
  /** v3 proxies (td-proxy): source address → zone they serve. */
  v3Proxies: Record<string, string>;
  retentionDays: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

export function defaultUpstreamConfig(): UpstreamConfig {
  return {
    stateDir: '/var/lib/owl-upstream',
    uplink: { host: '0.0.0.0', port: 7080 },
    agents: [{ host: '0.0.0.0', port: 7071 }],
    api: { host: '127.0.0.1', port: 7090 },
    autoRegister: true,
    heartbeatMs: 30_000,
    missedHeartbeats: 3,
    relayWindow: 8,
    uplinkHeartbeatMs: 15_000,
    v3Allow: ['127.0.0.0/8', '::1/128'],
    v3Proxies: {},
    retentionDays: 90,
    logLevel: 'info',
  };
}

export type UpstreamConfigInput = Partial<UpstreamConfig>;

export function resolveUpstreamConfig(input: UpstreamConfigInput): UpstreamConfig {
  return { ...defaultUpstreamConfig(), ...input };
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
