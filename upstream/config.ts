/**
 * Upstream configuration: a JSON file checked against a schema (unknown keys and wrong types
 * refused, naming the file and the key), defaults for everything, CLI flags on top; every path
 * and port overridable.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  compileConfigSchema,
  OwlError,
  parseConfigJson,
  UPLINK_DEFAULT_HEARTBEAT_MS,
  UPLINK_DEFAULT_WINDOW,
  type ConfigSchema,
} from '../protocol/index.js';
import { DEFAULT_MAX_BUNDLE_BYTES } from '../firmware/index.js';
import { unreadableFile } from '../relay/index.js';
import { DEFAULT_MAX_INFLIGHT_BATCHES } from './credit-policy.js';
import { UpstreamErrorCode } from './errors.js';
import { PROM_LABEL_NAME, PROM_METRIC_NAME } from './sinks/index.js';

/**
 * A config the upstream cannot run with (OWL_ERR_CONFIG_INVALID, as the relay's). `source`: the
 * file, or what else gave it; null when the message names the key alone.
 */
export class UpstreamConfigError extends OwlError {
  constructor(message: string, source: string | null = 'upstream config') {
    super(UpstreamErrorCode.CONFIG_INVALID, source === null ? message : `${source}: ${message}`);
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
  /** Engines every stored sample is forwarded to (docs/operations.md, "Sinks"). */
  sinks: SinkConfig[];
  /** The forwarding log held for the sinks: its byte cap and what happens past it. */
  forward: { maxBytes: number; policy: 'drop-oldest' | 'reject-new' };
  /** `none`: keep no samples, only what forwarding needs; needs at least one sink. */
  store: 'embedded' | 'none';
  /**
   * Firmware bundles published here (docs/firmware-delivery.md): the largest accepted, and
   * optional pinned public keys (PEM file paths or PEM texts): when given, a bundle is published
   * only if its signature verifies with one of them.
   */
  firmware: { maxBundleBytes: number; keys: string[] };
}

/** One sink: a Prometheus remote_write or an OpenTSDB `/api/put` endpoint. Credentials are never logged. */
export interface SinkConfig {
  /** Unique, [A-Za-z0-9_-]: the store's cursor and the metrics' `sink` label. */
  name: string;
  type: 'remote_write' | 'opentsdb';
  url: string;
  basicAuth?: { username: string; password: string };
  bearerToken?: string;
  /** PEM file of the CA that signs the sink's certificate (https). */
  ca?: string;
  /** Labels (OpenTSDB: tags) added to every series that lacks them. */
  extraLabels?: Record<string, string>;
  timeoutMs?: number;
  /** Longest wait between retries while the sink is down (default 30 s): a sink is back within it. */
  retryMaxMs?: number;
  /** remote_write only: metric name prefix, default `owl_`, '' for none. */
  prefix?: string;
  /** Requests sent at once, each series in one of them so its samples stay in time order (default 2). */
  shards?: number;
}

export const DEFAULT_FORWARD_MAX_BYTES = 1024 ** 3;

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
    sinks: [],
    forward: { maxBytes: DEFAULT_FORWARD_MAX_BYTES, policy: 'drop-oldest' },
    store: 'embedded',
    firmware: { maxBundleBytes: DEFAULT_MAX_BUNDLE_BYTES, keys: [] },
  };
}

const listener: ConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    host: { type: 'string', minLength: 1 },
    port: { type: 'integer', minimum: 0, maximum: 65535 },
  },
};
const window: ConfigSchema = { type: 'integer', minimum: 1, maximum: 65_535 };
const positive: ConfigSchema = { type: 'integer', minimum: 1 };
const nonEmpty: ConfigSchema = { type: 'string', minLength: 1 };
const sink: ConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'type', 'url'],
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
    type: { enum: ['remote_write', 'opentsdb'] },
    url: nonEmpty,
    basicAuth: {
      type: 'object',
      additionalProperties: false,
      required: ['username', 'password'],
      properties: { username: nonEmpty, password: { type: 'string' } },
    },
    bearerToken: nonEmpty,
    ca: nonEmpty,
    extraLabels: { type: 'object', additionalProperties: { type: 'string' } },
    timeoutMs: { type: 'integer', minimum: 1, maximum: 3_600_000 },
    retryMaxMs: { type: 'integer', minimum: 100, maximum: 3_600_000 },
    prefix: { type: 'string' },
    shards: { type: 'integer', minimum: 1, maximum: 64 },
  },
};
const schema: ConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    stateDir: nonEmpty,
    uplink: listener,
    agents: { type: 'array', items: { ...listener, required: ['host', 'port'] } },
    api: listener,
    metrics: {
      type: 'object',
      additionalProperties: false,
      properties: { ...listener.properties, enabled: { type: 'boolean' } },
    },
    tls: {
      type: 'object',
      additionalProperties: false,
      required: ['cert', 'key'],
      properties: { cert: nonEmpty, key: nonEmpty, ca: nonEmpty, requestCert: { type: 'boolean' } },
    },
    apiToken: nonEmpty,
    autoRegister: { type: 'boolean' },
    heartbeatMs: positive,
    missedHeartbeats: positive,
    relayWindow: window,
    maxInflightBatches: window,
    // As WELCOME's heartbeatMs (protocol/uplink/schemas.ts).
    uplinkHeartbeatMs: { type: 'integer', minimum: 1, maximum: 3_600_000 },
    v3Allow: { type: 'array', items: { type: 'string' } },
    v3Proxies: { type: 'object', additionalProperties: { type: 'string', minLength: 1 } },
    retentionDays: { type: 'number', minimum: 0.001 },
    storeWorker: { type: 'boolean' },
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    sinks: { type: 'array', items: sink },
    forward: {
      type: 'object',
      additionalProperties: false,
      properties: { maxBytes: positive, policy: { enum: ['drop-oldest', 'reject-new'] } },
    },
    store: { enum: ['embedded', 'none'] },
    firmware: {
      type: 'object',
      additionalProperties: false,
      properties: { maxBundleBytes: positive, keys: { type: 'array', items: nonEmpty } },
    },
  },
};
const checkSchema = compileConfigSchema(schema);

/** A config as given: every key optional, the listeners' host or port alone too. */
export type UpstreamConfigInput = Partial<
  Omit<UpstreamConfig, 'uplink' | 'api' | 'metrics' | 'forward' | 'firmware'>
> & {
  forward?: Partial<UpstreamConfig['forward']>;
  firmware?: Partial<UpstreamConfig['firmware']>;
  uplink?: Partial<UpstreamConfig['uplink']>;
  api?: Partial<UpstreamConfig['api']>;
  metrics?: Partial<UpstreamConfig['metrics']>;
};

/**
 * Merge `input` over the defaults; throws OWL_ERR_CONFIG_INVALID naming every key the schema
 * refuses, after `source`, and for TLS settings that cannot work.
 */
export function resolveUpstreamConfig(
  input: UpstreamConfigInput,
  source = 'upstream config',
): UpstreamConfig {
  const problem = checkSchema(input);
  if (problem !== undefined) throw new UpstreamConfigError(problem, source);
  const base = defaultUpstreamConfig();
  const config: UpstreamConfig = {
    ...base,
    ...input,
    uplink: { ...base.uplink, ...input.uplink },
    api: { ...base.api, ...input.api },
    metrics: { ...base.metrics, ...input.metrics },
    forward: { ...base.forward, ...input.forward },
    firmware: { ...base.firmware, ...input.firmware },
  } as UpstreamConfig;
  if (config.tls?.requestCert === true && config.tls.ca === undefined) {
    throw new UpstreamConfigError(
      'tls.requestCert needs tls.ca, the CA that signs relay certificates',
      source,
    );
  }
  const sinks = sinkProblem(config);
  if (sinks !== undefined) throw new UpstreamConfigError(sinks, source);
  return config;
}

/** What the schema cannot say about sinks: unique names, label names, auth, `store: "none"`. */
function sinkProblem(config: UpstreamConfig): string | undefined {
  const seen = new Set<string>();
  for (const [i, s] of config.sinks.entries()) {
    const at = `sinks[${i}]`;
    if (seen.has(s.name)) return `${at}.name: "${s.name}" is used by another sink`;
    seen.add(s.name);
    if (!URL.canParse(s.url) || !/^https?:$/.test(new URL(s.url).protocol))
      return `${at}.url: must be an http:// or https:// URL`;
    if (s.basicAuth !== undefined && s.bearerToken !== undefined)
      return `${at}: basicAuth and bearerToken: give one of them`;
    for (const label of Object.keys(s.extraLabels ?? {}))
      if (!PROM_LABEL_NAME.test(label) || label.startsWith('__'))
        return `${at}.extraLabels: "${label}" is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, no leading __)`;
    if (s.prefix !== undefined && s.type !== 'remote_write')
      return `${at}.prefix: only remote_write sinks take a prefix`;
    if (s.prefix !== undefined && s.prefix !== '' && !PROM_METRIC_NAME.test(s.prefix))
      return `${at}.prefix: must start a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)`;
  }
  if (config.store === 'none' && config.sinks.length === 0)
    return 'store: "none" needs at least one sink (the samples must go somewhere)';
  return undefined;
}

/**
 * Read a JSON config file (if given) and apply `overrides` (CLI flags) on top. A problem in the
 * file is reported naming the file (a syntax error with its line and column), one in the flags
 * naming the command line.
 */
export function loadUpstreamConfig(
  file: string | undefined,
  overrides: UpstreamConfigInput = {},
): UpstreamConfig {
  const fromFile = file === undefined ? {} : readConfigFile(file);
  // The file is checked alone first, so that its problems name it.
  if (file !== undefined) resolveUpstreamConfig(fromFile, file);
  return resolveUpstreamConfig(
    {
      ...fromFile,
      ...overrides,
      ...(fromFile.uplink || overrides.uplink ? { uplink: { ...fromFile.uplink, ...overrides.uplink } } : {}),
      ...(fromFile.api || overrides.api ? { api: { ...fromFile.api, ...overrides.api } } : {}),
      ...(fromFile.metrics || overrides.metrics
        ? { metrics: { ...fromFile.metrics, ...overrides.metrics } }
        : {}),
      ...(fromFile.forward || overrides.forward
        ? { forward: { ...fromFile.forward, ...overrides.forward } }
        : {}),
      ...(fromFile.firmware || overrides.firmware
        ? { firmware: { ...fromFile.firmware, ...overrides.firmware } }
        : {}),
    },
    'command line',
  );
}

function readConfigFile(file: string): UpstreamConfigInput {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new UpstreamConfigError(`cannot read: ${why}`, file);
  }
  const parsed = parseConfigJson(text);
  if ('problem' in parsed) throw new UpstreamConfigError(parsed.problem, file);
  return parsed.value as UpstreamConfigInput;
}

/**
 * The files a start reads can be read: else OWL_ERR_CONFIG_INVALID naming the key
 * (`tls.cert: cannot read /x/y.pem: ENOENT`), before anything is opened.
 */
export function assertUpstreamFiles(config: UpstreamConfig): void {
  const files: Record<string, string | undefined> = {
    'tls.cert': config.tls?.cert,
    'tls.key': config.tls?.key,
    'tls.ca': config.tls?.ca,
    ...Object.fromEntries(config.sinks.map((s, i) => [`sinks[${i}].ca`, s.ca])),
    // A key is a PEM file's path or the PEM text itself (loadPublicKeys).
    ...Object.fromEntries(
      config.firmware.keys.map((k, i) => [`firmware.keys[${i}]`, k.startsWith('-----BEGIN') ? undefined : k]),
    ),
  };
  const unreadable = unreadableFile(files);
  if (unreadable !== undefined) throw new UpstreamConfigError(unreadable, null);
}

export function upstreamPaths(config: UpstreamConfig): { store: string; apiToken: string } {
  return { store: join(config.stateDir, 'store'), apiToken: join(config.stateDir, 'api-token') };
}
